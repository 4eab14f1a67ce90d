"""Lived faults on a kind cluster with real kubelets (issue 15): `make test-kind`.

Not part of `make test`: selftests/conftest.py ignores this folder unless OPSCHECK_KIND=1.
The cluster (OPSCHECK_KIND_CLUSTER, default "opscheck-kind": one control-plane node, one
worker) is created once, or reused when it exists, and left running for the next run;
testenv/kind/delete-cluster.sh NAME removes it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from selftests.harness import CheckRunner, broken
from selftests.kind.cluster import KindCluster, script

REPO = Path(__file__).resolve().parents[2]
KIND_PROFILE = REPO / "environments" / "kind.yaml"
# environments/kind.yaml's monitored namespace
NAMESPACE = "opscheck-faults"
LISTEN_PORT = 8080


@dataclass
class KindWorld:
    """The cluster, the fault image loaded into it, and the steady Deployment (one pod on the
    control plane, answering on LISTEN_PORT behind the Service "steady") its namespace keeps."""

    cluster: KindCluster
    image: str
    worker: str
    steady_service_ip: str

    def pod(self, name: str, *args: str, node: str | None = None, **spec: Any) -> dict[str, Any]:
        """A Pod running the fault image with `args` (testenv/kind/fault.c), on `node`
        (default: the worker); `spec` adds to the pod's spec (restartPolicy, ...), a
        `container` key to its one container (resources, probes)."""
        container = {"name": "app", "image": self.image, "imagePullPolicy": "Never", "args": list(args)}
        container.update(spec.pop("container", {}))
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": name}},
            "spec": {
                "nodeSelector": {"kubernetes.io/hostname": node or self.worker},
                "terminationGracePeriodSeconds": 0,
                "containers": [container],
                **spec,
            },
        }


@pytest.fixture(scope="session")
def kind_world() -> KindWorld:
    cluster = KindCluster(os.environ.get("OPSCHECK_KIND_CLUSTER", "opscheck-kind"))
    cluster.wait("condition=Ready", "nodes", "--all", timeout=300)
    archive, image = script("build-fault-image.sh").split()
    cluster.load_image_archive(archive)
    control_plane = next(n for n in cluster.kubectl("get", "nodes", "-o", "name").split() if "control-plane" in n)
    world = KindWorld(cluster, image, cluster.worker_nodes()[0], "")
    # a Deployment, so the workload checks (daily.replicas) have one to judge too
    steady_pod = world.pod(
        "steady",
        "listen",
        str(LISTEN_PORT),
        node=control_plane.removeprefix("node/"),
        tolerations=[{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}],
        container={"readinessProbe": {"tcpSocket": {"port": LISTEN_PORT}, "periodSeconds": 2}},
    )
    steady = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "steady", "namespace": NAMESPACE},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "steady"}},
            "template": {"metadata": {"labels": {"app": "steady"}}, "spec": steady_pod["spec"]},
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "steady", "namespace": NAMESPACE},
        "spec": {"selector": {"app": "steady"}, "ports": [{"port": LISTEN_PORT, "targetPort": LISTEN_PORT}]},
    }
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    cluster.apply(steady, service)
    cluster.kubectl("rollout", "status", "deployment/steady", "-n", NAMESPACE, "--timeout=180s", timeout=210)
    world.steady_service_ip = cluster.kubectl(
        "get", "service", "steady", "-n", NAMESPACE, "-o", "jsonpath={.spec.clusterIP}"
    )
    return world


@pytest.fixture(scope="session")
def kind_checks(kind_world: KindWorld, tmp_path_factory: pytest.TempPathFactory) -> CheckRunner:
    """Real checks run against the kind cluster: environments/kind.yaml, its kubeconfig."""
    return CheckRunner(tmp_path_factory.mktemp("kindruns"), profile=KIND_PROFILE)


@pytest.fixture
def check_env(kind_world: KindWorld) -> dict[str, str]:
    return {"OPSCHECK_KIND_KUBECONFIG": str(kind_world.cluster.kubeconfig)}


@pytest.fixture
def pod_fault(kind_world: KindWorld) -> Iterator[Any]:
    """pod_fault(manifest): a context manager that creates the pod and always deletes it."""

    def fault(manifest: dict[str, Any]) -> Any:
        name = manifest["metadata"]["name"]
        return broken(
            lambda: kind_world.cluster.apply(manifest), lambda: kind_world.cluster.delete("pod", name, NAMESPACE)
        )

    yield fault
