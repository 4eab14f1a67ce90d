"""Lived faults: a real kubelet on a kind node produces the fault, the real check sees it.

Each test makes the fault happen for real (a container that exits, one over its memory
limit, a probe that fails, a node container stopped), waits until the check run the way an
operator runs it (CheckRunner: a pytest subprocess with environments/kind.yaml) fails naming
the culprit, repairs, and waits for the check to pass again.
"""

from __future__ import annotations

from typing import Any

import pytest

from selftests.harness import CheckRunner, broken
from selftests.kind.conftest import NAMESPACE, KindWorld

pytestmark = pytest.mark.kind


def test_pod_on_worker_reaches_service_on_control_plane(kind_world: KindWorld) -> None:
    """The CNI (kube-router) routes pod traffic between nodes and kube-proxy serves the Service:
    a pod on the worker connects to the steady pod's Service, whose backend runs on the control
    plane."""
    cluster = kind_world.cluster
    client = kind_world.pod("client", "connect", kind_world.steady_service_ip, "8080", restartPolicy="Never")
    with broken(lambda: cluster.apply(client), lambda: cluster.delete("pod", "client", NAMESPACE)):
        cluster.wait("jsonpath={.status.phase}=Succeeded", "pod/client", "-n", NAMESPACE, timeout=120)


def test_crash_loop_fails_pods_running(
    kind_world: KindWorld, kind_checks: CheckRunner, check_env: dict[str, str], pod_fault: Any
) -> None:
    crasher = kind_world.pod("crasher", "crash")
    with kind_checks.fails_then_recovers(
        "daily.pods-running",
        pod_fault(crasher),
        message=lambda m: "crasher" in m and "CrashLoopBackOff" in m,
        env=check_env,
        timeout=120,
    ) as failed:
        assert f"{NAMESPACE}/crasher" in failed.message
        # the troubleshooting check reads the same kubelet-written state
        states = kind_checks.one("daily.pod-states", env=check_env)
        assert states.outcome == "failed" and f"{NAMESPACE}/crasher" in states.message, states.message


def test_oom_kill_fails_oomkilled(
    kind_world: KindWorld, kind_checks: CheckRunner, check_env: dict[str, str], pod_fault: Any
) -> None:
    hog = kind_world.pod("hog", "hog", restartPolicy="Never", container={"resources": {"limits": {"memory": "32Mi"}}})
    with kind_checks.fails_then_recovers(
        "daily.oomkilled", pod_fault(hog), message=lambda m: "hog" in m, env=check_env, timeout=120
    ) as failed:
        assert "app OOMKilled" in failed.message, failed.message


def test_failing_readiness_probe_fails_pods_running(
    kind_world: KindWorld, kind_checks: CheckRunner, check_env: dict[str, str], pod_fault: Any
) -> None:
    # `idle` listens nowhere, so the kubelet's TCP probe on 8080 really fails
    unready = kind_world.pod(
        "unready", "idle", container={"readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 2}}
    )
    with kind_checks.fails_then_recovers(
        "daily.pods-running",
        pod_fault(unready),
        message=lambda m: "unready" in m and "not ready" in m,
        env=check_env,
        timeout=120,
    ):
        # the kubelet ran the probe and recorded its failure: not merely "not ready yet"
        events = kind_world.cluster.kubectl(
            "get", "events", "-n", NAMESPACE, "--field-selector", "involvedObject.name=unready,reason=Unhealthy"
        )
        assert "Readiness probe failed" in events, events


def test_stopped_worker_fails_nodes_ready(
    kind_world: KindWorld, kind_checks: CheckRunner, check_env: dict[str, str]
) -> None:
    worker = kind_world.worker
    stopped = broken(
        lambda: kind_world.cluster.podman("stop", worker), lambda: kind_world.cluster.podman("start", worker)
    )
    with kind_checks.fails_then_recovers(
        "daily.nodes-ready", stopped, message=lambda m: worker in m, env=check_env, timeout=180, interval=5
    ) as failed:
        assert "NotReady" in failed.message, failed.message
