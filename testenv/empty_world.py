"""The empty world: every dependency a profile names, reachable and holding nothing.

No check may pass against it (issue 9: "no green without evidence"), so the self-test
selftests/runs/test_empty_world.py points each system profile at it and runs every
cadence. It has, on 127.0.0.1:

    a Kubernetes cluster   its own etcd, kube-apiserver, controller-manager, scheduler,
                           kwok-controller and metrics-server (a cluster.KwokTarget like the
                           demo cluster), with no node, workload or CRD; only what a new
                           API server makes itself (the default namespaces, their
                           ServiceAccounts). The suite reads it as the admin identity, so
                           not even the reader's namespace is there.
    Prometheus             no scrape target, no rule: no series at all
    OpenBao                a dev server: unsealed, no audit device, no secret, no policy
    Redis                  the test environment's users, no key, no lookup yet
    an HTTP server         answers every request with 200 and `{}` (the health endpoints,
                           the Pushgateway)
    PostgreSQL             database `empty_world` on the test environment's server: no table,
                           no extension
    OpenSearch             the test environment's, asked for index patterns that match nothing
    files                  a directory holding only the credentials the profile reads: no
                           backup, report, log, certificate, attestation or release artefact

`profile_for(source, dest)` writes a copy of a profile pointed at it. Started on demand
(`python -m testenv up --system empty-world`, or the self-test's fixture); about 300 MB and
25 s to start.
"""

from __future__ import annotations

import secrets
import shutil
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import redis as redis_client
import requests
import yaml

from testenv import cluster, procs, prometheus, rediscache, vault
from testenv.cluster import KwokTarget
from testenv.paths import HOST, PORTS, local_url, state_dir, under

CONTEXT = "empty"
DATABASE = "empty_world"
INDEX_PATTERN = "opscheck-empty-world-*"
PROMETHEUS = "prometheus-empty"
VAULT = "vault-empty"
REDIS = "redis-empty"
HTTP = "http-empty"
# What profiles write for the test environment's state directory.
HOME_PREFIX = "${OPSCHECK_TESTENV_HOME:-~/.local/state/opscheck/testenv}/"
# Paths under it that are tools, not data: they stay.
TOOLS = ("bin/",)
# Credentials the profiles read, copied so the empty servers accept the same login.
CREDENTIALS = (
    "postgres/pgpass",
    "redis/opscheck-password",
    # the DR drill's: it finds no backup to restore in the empty world before it uses them
    "vault/dr-drill-token",
    "vault/unseal-key-1",
    "vault/unseal-key-2",
)
VAULT_TOKEN = "vault/opscheck-token"


home = under(state_dir, "empty-world")
files_dir = under(home, "files")
prometheus_url = local_url("prometheus-empty")
vault_url = local_url("vault-empty")
http_url = local_url("http-empty")


_targets: dict[Path, KwokTarget] = {}


def target() -> KwokTarget:
    """The empty cluster (one KwokTarget per state directory, so its KubeApi keeps its connections)."""
    key = home()
    if key not in _targets:
        _targets[key] = KwokTarget(
            name="empty",
            context=CONTEXT,
            apiserver_port="kube-apiserver-empty",
            home=home() / "cluster",
            component_ports=cluster.component_ports("empty"),
            component_args=(
                ("kube-controller-manager", "leader-elect", "false"),
                ("kube-scheduler", "leader-elect", "false"),
            ),
        )
    return _targets[key]


def kubeconfig() -> Path:
    """The admin kubeconfig of the empty cluster (context "empty")."""
    return target().kubeconfig()


# ------------------------------------------------------------------------ the profile


def profile_for(source: Path, dest_dir: Path) -> Path:
    """A copy of profile `source`, every dependency pointed at the empty world, in `dest_dir`."""
    data = yaml.safe_load(source.read_text())
    data = _rewrite(data)
    for c in data.get("clusters") or []:
        c.update(kubeconfig=str(kubeconfig()), context=CONTEXT)
    if isinstance(data.get("postgres"), dict):
        data["postgres"]["dbname"] = DATABASE
    if isinstance(data.get("redis"), dict):
        data["redis"]["port"] = PORTS["redis-empty"]
    if isinstance(data.get("log_indices"), dict):
        data["log_indices"]["patterns"] = [INDEX_PATTERN]
    manifests = (data.get("dr_drill") or {}).get("manifests")
    if isinstance(manifests, dict):  # the drill's dry-run identity: the empty cluster's
        manifests.update(kubeconfig=str(kubeconfig()), context=CONTEXT)
    data["description"] = f"{data.get('description', '')} -- pointed at the empty world (testenv/empty_world.py)"
    dest_dir.mkdir(parents=True, exist_ok=True)
    out = dest_dir / f"{source.stem}-empty-world.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def _rewrite(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _rewrite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v) for v in value]
    if not isinstance(value, str):
        return value
    if value.startswith(HOME_PREFIX):
        rest = value[len(HOME_PREFIX) :]
        return value if rest.startswith(TOOLS) else str(files_dir() / rest)
    servers = {
        f"http://{HOST}:{PORTS['prometheus']}": prometheus_url(),
        f"http://{HOST}:{PORTS['vault']}": vault_url(),
        f"http://{HOST}:{PORTS['opensearch']}": f"http://{HOST}:{PORTS['opensearch']}",
    }
    for real, empty in servers.items():
        if value.startswith(real):
            return empty + value[len(real) :]
    if value.startswith(f"http://{HOST}:"):  # the services, the Pushgateway: all answer {}
        path = value.split("/", 3)[3] if value.count("/") >= 3 else ""
        return f"{http_url()}/{path}".rstrip("/")
    return value


# -------------------------------------------------------------------------- servers


class _NothingHandler(BaseHTTPRequestHandler):
    """200 and an empty JSON object, whatever is asked."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _answer

    def log_message(self, format: str, *args: Any) -> None:  # quiet: no access log
        pass


def serve_http() -> None:
    ThreadingHTTPServer((HOST, PORTS["http-empty"]), _NothingHandler).serve_forever(poll_interval=0.5)


def _write_files() -> None:
    files = files_dir()
    if files.exists():
        shutil.rmtree(files)  # whatever a run left: the world starts empty again
    for rel in CREDENTIALS:
        real = state_dir() / rel
        if real.exists():
            (files / rel).parent.mkdir(parents=True, exist_ok=True)
            procs.write_private(files / rel, real.read_text())
    token = home() / "vault-token"
    if not token.exists():
        procs.write_private(token, "empty-world-" + secrets.token_hex(12))
    (files / VAULT_TOKEN).parent.mkdir(parents=True, exist_ok=True)
    procs.write_private(files / VAULT_TOKEN, token.read_text())
    (files / "node-exporter-textfile").mkdir(parents=True)  # an output of the run, not evidence


def _start_prometheus() -> None:
    conf = home() / "prometheus.yml"
    conf.write_text(yaml.safe_dump({"global": {"scrape_interval": "15s"}, "scrape_configs": []}))
    (home() / "prometheus-data").mkdir(parents=True, exist_ok=True)
    procs.start(
        PROMETHEUS,
        [
            prometheus.PROMETHEUS_BIN,
            f"--config.file={conf}",
            f"--storage.tsdb.path={home() / 'prometheus-data'}",
            f"--web.listen-address={HOST}:{PORTS['prometheus-empty']}",
        ],
        cwd=home(),
    )
    procs.wait_started(PROMETHEUS, lambda: procs.http_ok(prometheus_url() + "/-/ready", 3), 60, "empty Prometheus")


def _start_vault() -> None:
    token = (home() / "vault-token").read_text().strip()
    procs.start(
        VAULT,
        [
            vault.bao_binary(),
            "server",
            "-dev",
            f"-dev-listen-address={HOST}:{PORTS['vault-empty']}",
            f"-dev-root-token-id={token}",
        ],
        cwd=home(),
    )
    procs.wait_started(VAULT, lambda: procs.http_ok(vault_url() + "/v1/sys/health", 3), 60, "empty OpenBao")


def _start_redis() -> None:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (testenv/install-system-packages.sh installs it)")
    data = home() / "redis-data"
    data.mkdir(parents=True, exist_ok=True)
    conf = home() / "redis.conf"
    procs.write_private(conf, rediscache._config(port=PORTS["redis-empty"], data_dir=data))
    procs.start(REDIS, [binary, str(conf)])
    procs.wait_started(REDIS, _redis_answers, 20, "empty Redis")


def _redis_answers() -> bool:
    client = redis_client.Redis(
        host=HOST,
        port=PORTS["redis-empty"],
        username="default",
        password=rediscache._password("default"),
        socket_timeout=2,
    )
    try:
        return bool(client.ping())
    except redis_client.RedisError:
        return False


def _start_http() -> None:
    procs.start(HTTP, [sys.executable, "-m", "testenv.empty_world", "serve-http"], cwd=Path(__file__).parents[1])
    procs.wait_started(HTTP, lambda: procs.http_ok(http_url() + "/", 3), 20, "empty HTTP server")


def _ensure_database() -> None:
    from testenv import postgres

    with postgres.admin_connection("postgres") as conn:
        conn.autocommit = True
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')


def up() -> dict[str, Any]:
    (home() / "cluster").mkdir(parents=True, exist_ok=True)
    _write_files()
    t = target()
    with cluster.locked(t):
        cluster.start_cluster(t, cluster.check_binaries())
    _start_prometheus()
    _start_vault()
    _start_redis()
    _start_http()
    _ensure_database()
    return status()


def down() -> None:
    for name in (HTTP, REDIS, VAULT, PROMETHEUS):
        procs.stop(name)
    t = target()
    if t.cluster_dir().exists():
        with cluster.locked(t):
            cluster.delete_cluster(t)
    if home().exists():
        shutil.rmtree(home())


def status() -> dict[str, Any]:
    t = target()
    running = {name: procs.is_running(name) for name in (PROMETHEUS, VAULT, REDIS, HTTP)}
    running["cluster"] = cluster.components_up(t)
    return {"running": all(running.values()), "components": running, "kubeconfig": str(kubeconfig())}


def ready() -> bool:
    try:
        return status()["running"] and requests.get(vault_url() + "/v1/sys/health", timeout=3).ok
    except requests.RequestException:
        return False


if __name__ == "__main__":
    if sys.argv[1:] == ["serve-http"]:
        serve_http()
    else:
        procs.up_down_status_cli(up, down, status)
