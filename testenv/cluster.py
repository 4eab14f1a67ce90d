"""The test environment's Kubernetes clusters: real control planes with kwok nodes.

`kwokctl create cluster --runtime binary` runs etcd (from the venv), kube-apiserver,
kube-controller-manager, kube-scheduler, kwok-controller and metrics-server as local
processes on 127.0.0.1, from binaries built by testenv/build-binaries.sh (nothing is
downloaded). kwok plays the kubelet of the fake nodes: the Stages in
manifests/kwok-stages.yaml move pods through their lifecycle, ClusterResourceUsage feeds
metrics-server, ClusterLogs answers `pods/<pod>/log`. Everything else is the real thing:
the scheduler places pods, the controllers run Deployments, StatefulSets, Jobs, CronJobs,
Endpoints and PV binding, RBAC and the audit log are kube-apiserver's own.

This module is the clusters' lifecycle. A cluster is a KwokTarget, always passed
explicitly; DEMO is the demo cluster (context "opscheck-demo"), and testenv/multicluster.py
makes three more (mgmt, app1, app2) and runs them through the same functions.
Around it, by role:
    testenv/kubeapi.py    KubeApi, the REST client (KwokTarget.api: admin identity)
    testenv/readiness.py  what "ready", "rolled out", "finished" mean
    testenv/demo.py       the demo objects up() applies (QSIGN, kube-system)
    testenv/faults.py     fault injection, as context managers that repair on exit

Public API (the demo cluster):
    up() -> dict                 create/start the cluster and the QSIGN system (idempotent;
                                 converges from any state, e.g. namespace qsign deleted)
    down() -> None               stop and delete the cluster; no process is left
    status() -> dict             what runs, where the kubeconfigs and the audit log are
    kubeconfig() -> Path         admin kubeconfig (context "opscheck-demo")
    reader_kubeconfig() -> Path  read-only kubeconfig the suite runs with (same context)
    audit_log() -> Path          kube-apiserver audit log (JSON lines, Metadata level)
    audit_events(), canary()
    get/list_/patch/apply/create_if_missing/delete/request/clear_events/...
                                 DEMO.api's methods: the demo cluster, admin identity
    start_cluster(t, bins), ensure_nodes(t, nodes), ensure_reader(t), ...: the same
                                 lifecycle steps for any KwokTarget

Manifests (testenv/manifests/): kwok-stages.yaml, kwok-usage.yaml, kwok-logs.yaml (kwok
configuration, given to kwokctl), audit-policy.yaml, nodes.yaml, qsign.yaml,
qsign-volumes.yaml, kube-system.yaml (applied through the API). The reader identity is the
production one, deploy/rbac/reader.yaml and deploy/rbac/secret-reader.yaml (one source of
truth: what the suite is tested with is what a cluster is given).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from testenv import demo
from testenv.demo import (  # noqa: F401 (public names)
    CRONJOBS,
    DEPLOYMENTS,
    LOG_CONTAINERS,
    NAMESPACE,
    NODES,
    STATEFULSETS,
    WORKLOAD_NAMESPACES,
    canary,
)
from testenv.kubeapi import DEFAULT_TIMEOUT, FIELD_MANAGER, ApiError, KubeApi, api_path  # noqa: F401
from testenv.paths import HOST, PORTS, cache_dir, state_dir, under
from testenv.procs import log_file, pid_alive, up_down_status_cli, wait_for
from testenv.readiness import FAULT_LABEL, NODE_FAULT_LABEL, node_ready, node_unhealthy_taints, pod_ready  # noqa: F401

CLUSTER = "opscheck"
CONTEXT = "opscheck-demo"
READER_NAMESPACE = "opscheck-system"
READER_SA = "opscheck"
READER_USER = f"system:serviceaccount:{READER_NAMESPACE}:{READER_SA}"
READER_TOKEN_SECONDS = 365 * 24 * 3600
# The production RBAC (deploy/rbac/): the ClusterRole, and the Role for Secrets applied in
# each namespace where a check reads them.
RBAC_DIR = Path(__file__).resolve().parent.parent / "deploy" / "rbac"
READER_RBAC = RBAC_DIR / "reader.yaml"
SECRET_READER_RBAC = RBAC_DIR / "secret-reader.yaml"
# Where the profiles run on the demo cluster read Secrets (deploy/rbac/secret-reader.yaml
# says which check reads which): TLS certificates in the profiles' namespaces (demo, qsign:
# qsign; smartsensor: hankook-smartsensor, hankook-security, monitoring; titanium:
# titanium-prod, istio-system, monitoring, argocd), Helm releases in demo's helm_namespaces
# (qsign, kube-system, velero) and the others' system namespace, the ExternalSecret's target
# in qsign.
DEMO_SECRET_NAMESPACES = (
    "qsign",
    "kube-system",
    "velero",
    "hankook-smartsensor",
    "hankook-security",
    "monitoring",
    "titanium-prod",
    "istio-system",
    "argocd",
)

MANIFESTS = demo.MANIFESTS
K8S_VERSION = os.environ.get("OPSCHECK_K8S_VERSION", "v1.33.13")
KWOK_VERSION = os.environ.get("OPSCHECK_KWOK_VERSION", "v0.7.0")
METRICS_SERVER_VERSION = os.environ.get("OPSCHECK_METRICS_SERVER_VERSION", "v0.9.0")
COMPONENTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok-controller",
    "metrics-server",
)


# ---------------------------------------------------------------------- the clusters


# kwokctl's option for each component's port -> the PORTS key prefix of that component
_COMPONENT_PORT_OPTIONS = {
    "etcdPort": "etcd",
    "etcdPeerPort": "etcd-peer",
    "kubeControllerManagerPort": "kube-controller-manager",
    "kubeSchedulerPort": "kube-scheduler",
    "kwokControllerPort": "kwok-controller",
    "metricsServerPort": "metrics-server",
}


def component_ports(suffix: str) -> dict[str, str]:
    """KwokTarget.component_ports for a cluster whose PORTS keys end in `-suffix`."""
    return {option: f"{component}-{suffix}" for option, component in _COMPONENT_PORT_OPTIONS.items()}


@dataclass(frozen=True)
class KwokTarget:
    """A kwokctl cluster of the test environment: where its files are, how kwokctl is
    told to run it, and `api`, the KubeApi to it with the admin identity."""

    name: str  # kwokctl cluster name (its directory under kwok/clusters)
    context: str  # the context (and cluster entry) of its kubeconfigs
    apiserver_port: str  # PORTS key of its kube-apiserver
    home: Path | None = None  # where its kubeconfigs go (None: state_dir())
    # kwokctl option (etcdPort, kwokControllerPort, ...) -> PORTS key; unset options get
    # a free port from kwokctl (the demo cluster's way)
    component_ports: dict[str, str] = field(default_factory=dict)
    metrics_server: bool = True
    # extra flags (component, flag, value), e.g. ("kube-controller-manager", "controllers", ...)
    component_args: tuple[tuple[str, str, str], ...] = ()
    # namespaces where the reader gets deploy/rbac/secret-reader.yaml's Role
    secret_namespaces: tuple[str, ...] = ()
    api: KubeApi = field(init=False, compare=False, repr=False)
    reader_api: KubeApi = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        # the kubeconfig paths are resolved per request: state_dir() may be set later
        object.__setattr__(self, "api", KubeApi(self.kubeconfig, self.context))
        object.__setattr__(self, "reader_api", KubeApi(self.reader_kubeconfig, self.context))

    def cluster_dir(self) -> Path:
        return kwok_workdir() / "clusters" / self.name

    def kubeconfig(self) -> Path:
        return (self.home or state_dir()) / "kubeconfig"

    def reader_kubeconfig(self) -> Path:
        return (self.home or state_dir()) / "kubeconfig-reader"

    def audit_log(self) -> Path:
        """kube-apiserver's audit log: one JSON event per line (audit.k8s.io/v1 Event)."""
        return self.cluster_dir() / "logs" / "audit.log"

    def server_url(self) -> str:
        return f"https://{HOST}:{PORTS[self.apiserver_port]}"

    def config_path(self) -> Path:
        return state_dir() / f"kwok-{self.name}.yaml"

    def config_stamp(self) -> Path:
        return self.cluster_dir() / "opscheck-config.sha256"


DEMO = KwokTarget(CLUSTER, CONTEXT, "kube-apiserver", secret_namespaces=DEMO_SECRET_NAMESPACES)

# The demo cluster's paths and API, as module functions (the suite's fixtures and the
# other testenv modules act on the demo cluster only).
kubeconfig = DEMO.kubeconfig
reader_kubeconfig = DEMO.reader_kubeconfig
audit_log = DEMO.audit_log
cluster_dir = DEMO.cluster_dir
server_url = DEMO.server_url
request = DEMO.api.request
get_path = DEMO.api.get_path
get = DEMO.api.get
list_ = DEMO.api.list_
patch = DEMO.api.patch
apply = DEMO.api.apply
create_if_missing = DEMO.api.create_if_missing
delete = DEMO.api.delete
delete_events = DEMO.api.delete_events
delete_events_of = DEMO.api.delete_events_of
clear_events = DEMO.api.clear_events
metrics_nodes = DEMO.api.metrics_nodes
metrics_pods = DEMO.api.metrics_pods


# ---------------------------------------------------------------------------- paths


def bin_dir() -> Path:
    """Where build-binaries.sh puts kube-*, kwok, kwokctl and metrics-server."""
    if os.environ.get("OPSCHECK_BIN_DIR"):
        return Path(os.environ["OPSCHECK_BIN_DIR"])
    return cache_dir() / "bin" / f"k8s-{K8S_VERSION}-kwok-{KWOK_VERSION}-ms-{METRICS_SERVER_VERSION}"


def venv_bin() -> Path:
    return Path(sys.executable).parent


# KWOK_WORKDIR for kwokctl: its clusters/ and cache/ live here.
kwok_workdir = under(state_dir, "kwok")
# The sample applications' log files, which kwok's ClusterLogs serve as pod logs.
app_logs_dir = under(state_dir, "apps", "logs")


# ------------------------------------------------------------------ small utilities


def _log(msg: str) -> None:
    print(f"testenv.cluster: {msg}", file=sys.stderr, flush=True)


def ensure_app_logs() -> None:
    d = app_logs_dir()
    d.mkdir(parents=True, exist_ok=True)
    for name in (*LOG_CONTAINERS, "qsign-other", "kube-system"):
        (d / f"{name}.log").touch(exist_ok=True)


_lock_depth: dict[str, int] = {}


@contextlib.contextmanager
def locked(t: KwokTarget) -> Iterator[None]:
    """Serialize up()/down() of a cluster across processes (e.g. pytest-xdist workers);
    re-entrant within a process."""
    name = "cluster.lock" if t == DEMO else f"cluster-{t.name}.lock"
    if _lock_depth.get(name):
        _lock_depth[name] += 1
        try:
            yield
        finally:
            _lock_depth[name] -= 1
        return
    state_dir().mkdir(parents=True, exist_ok=True)
    with open(state_dir() / name, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        _lock_depth[name] = 1
        try:
            yield
        finally:
            _lock_depth[name] = 0
            fcntl.flock(f, fcntl.LOCK_UN)


# ------------------------------------------------------------------ kwokctl driving


def _required_binaries() -> dict[str, Path]:
    b, v = bin_dir(), venv_bin()
    return {
        "kube-apiserver": b / "kube-apiserver",
        "kube-controller-manager": b / "kube-controller-manager",
        "kube-scheduler": b / "kube-scheduler",
        "kwok": b / "kwok",
        "kwokctl": b / "kwokctl",
        "metrics-server": b / "metrics-server",
        "etcd": v / "etcd",
        "etcdctl": v / "etcdctl",
    }


def check_binaries() -> dict[str, Path]:
    bins = _required_binaries()
    missing = [str(p) for p in bins.values() if not os.access(p, os.X_OK)]
    if missing:
        raise RuntimeError("missing binaries (run testenv/build-binaries.sh first): " + ", ".join(missing))
    return bins


_KUBECTL_SHIM = '''#!{python}
"""kubectl stand-in for kwokctl (written by testenv/cluster.py; there is no kubectl here).

kwokctl only runs `kubectl --kubeconfig F get --raw PATH` to see whether the apiserver
serves; this answers that one request with the Python client and refuses anything else.
"""
import sys

args = sys.argv[1:]
kubeconfig = None
if len(args) >= 2 and args[0] == "--kubeconfig":
    kubeconfig, args = args[1], args[2:]
if len(args) != 3 or args[:2] != ["get", "--raw"]:
    sys.stderr.write("kubectl is not available in the opscheck test environment "
                     "(this shim only does 'get --raw PATH')\\n")
    sys.exit(1)
from kubernetes import config
from kubernetes.client.exceptions import ApiException
try:
    client = config.new_client_from_config(config_file=kubeconfig)
    resp = client.call_api(args[2], "GET", auth_settings=["BearerToken"],
                           _preload_content=False, _return_http_data_only=True,
                           _request_timeout=5)
    sys.stdout.write(resp.data.decode())
except ApiException as exc:
    sys.stderr.write(f"{{exc.status}} {{exc.reason}}\\n")
    sys.exit(1)
except Exception as exc:
    sys.stderr.write(f"{{exc}}\\n")
    sys.exit(1)
'''


def _shim_dir() -> Path:
    d = state_dir() / "bin"
    d.mkdir(parents=True, exist_ok=True)
    shim = d / "kubectl"
    text = _KUBECTL_SHIM.format(python=sys.executable)
    if not shim.exists() or shim.read_text() != text:
        shim.write_text(text)
        shim.chmod(0o755)
    return d


def _kwokctl_env() -> dict[str, str]:
    env = dict(os.environ)
    env["KWOK_WORKDIR"] = str(kwok_workdir())
    env["PATH"] = f"{_shim_dir()}{os.pathsep}{env.get('PATH', '')}"
    # kwokctl reads KWOK_* variables as settings: keep only ours
    for key in list(env):
        if key.startswith("KWOK_") and key != "KWOK_WORKDIR":
            del env[key]
    return env


def kwokctl(*args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [str(_required_binaries()["kwokctl"]), *args]
    with open(log_file("kwokctl"), "ab") as log:
        log.write(f"\n$ {' '.join(cmd)}\n".encode())
        log.flush()
        proc = subprocess.run(
            cmd, env=_kwokctl_env(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=timeout
        )
    if check and proc.returncode != 0:
        raise RuntimeError(f"kwokctl {' '.join(args)} failed (exit {proc.returncode}); see {log_file('kwokctl')}")
    return proc


def _render_kwok_config(t: KwokTarget, bins: dict[str, Path]) -> str:
    """The one --config file given to kwokctl: its own settings plus kwok's Stages,
    ClusterResourceUsage and ClusterLogs (kwokctl hands those to kwok-controller)."""
    audit_policy = state_dir() / "audit-policy.yaml"
    policy_text = (MANIFESTS / "audit-policy.yaml").read_text()
    if not audit_policy.exists() or audit_policy.read_text() != policy_text:
        audit_policy.write_text(policy_text)
    kwokctl_conf = {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokctlConfiguration",
        "options": {
            "runtime": "binary",
            "kubeVersion": K8S_VERSION,
            "bindAddress": HOST,
            "kubeApiserverPort": PORTS[t.apiserver_port],
            **{option: PORTS[key] for option, key in t.component_ports.items()},
            "kubeApiserverCertSANs": [HOST, "localhost"],
            "securePort": True,
            "kubeAuthorization": True,
            "kubeAdmission": True,
            "kubeAuditPolicy": str(audit_policy),
            "enable": ["metrics-server"] if t.metrics_server else [],
            # 1 = upstream kubelet/controller-manager timings (kwokctl's default is 5x
            # slower), so a node fault is noticed by the node lifecycle controller in ~5 s
            "heartbeatFactor": 1,
            "quietPull": True,
            "cacheDir": str(kwok_workdir() / "cache"),
            "kubeApiserverBinary": str(bins["kube-apiserver"]),
            "kubeControllerManagerBinary": str(bins["kube-controller-manager"]),
            "kubeSchedulerBinary": str(bins["kube-scheduler"]),
            "kwokControllerBinary": str(bins["kwok"]),
            "metricsServerBinary": str(bins["metrics-server"]),
            "etcdBinary": str(bins["etcd"]),
            "etcdctlBinary": str(bins["etcdctl"]),
            "kubectlBinary": str(_shim_dir() / "kubectl"),
        },
        "componentsPatches": [
            # kwok's nodes then report InternalIP 127.0.0.1 (kwokctl passes an empty
            # --node-ip), so pods get a hostIP and metrics-server / the apiserver reach
            # kwok's kubelet endpoint on loopback
            {"name": "kwok-controller", "extraArgs": [{"key": "node-ip", "value": HOST, "override": True}]},
            # scrape every 10 s instead of 15 s (the resolution must exceed the kubelet
            # request timeout), so usage changes reach the metrics API sooner
            {
                "name": "metrics-server",
                "extraArgs": [
                    {"key": "metric-resolution", "value": "10s", "override": True},
                    {"key": "kubelet-request-timeout", "value": "5s"},
                ],
            },
        ]
        + [
            {
                "name": component,
                # appended: kwokctl's "override" only replaces a flag it already passes
                "extraArgs": [{"key": k, "value": v} for c, k, v in t.component_args if c == component],
            }
            for component in dict.fromkeys(c for c, _, _ in t.component_args)
        ],
    }
    kwok_conf = {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokConfiguration",
        # pod IPs from 10.244/16, apart from the apiserver's service range (10.0.0.0/24)
        "options": {"cidr": "10.244.0.1/16"},
    }
    docs: list[dict] = [kwokctl_conf, kwok_conf]
    docs += demo.load_manifest("kwok-stages.yaml")
    docs += demo.load_manifest("kwok-usage.yaml")
    docs += demo.load_manifest("kwok-logs.yaml", APP_LOGS=str(app_logs_dir()))
    return yaml.safe_dump_all(docs, sort_keys=False)


def _recorded_pids(t: KwokTarget) -> dict[str, int]:
    """Pids in kwokctl's pid files, running or not."""
    d = t.cluster_dir() / "pids"
    out = {}
    for f in sorted(d.glob("*.pid")) if d.is_dir() else []:
        try:
            out[f.stem] = int(f.read_text().strip())
        except (OSError, ValueError):
            continue
    return out


def component_pids(t: KwokTarget) -> dict[str, int]:
    """The cluster's running components: name -> pid."""
    return {name: pid for name, pid in _recorded_pids(t).items() if pid_alive(pid)}


def stray_pids(t: KwokTarget) -> list[int]:
    """Processes still running from this cluster's directory (binaries, args or cwd)."""
    marker = str(t.cluster_dir())
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline and pid_alive(int(proc.name)):
            found.append(int(proc.name))
    return found


def components_up(t: KwokTarget) -> bool:
    wanted = set(COMPONENTS) - (set() if t.metrics_server else {"metrics-server"})
    return wanted <= set(component_pids(t))


def _serving(t: KwokTarget) -> bool:
    try:
        return components_up(t) and t.api.ready()
    except Exception:
        return False


# ----------------------------------------------------------------------- kubeconfigs


def _write_kubeconfig(t: KwokTarget, path: Path, user: str, user_entry: dict) -> None:
    ca = (t.cluster_dir() / "pki" / "ca.crt").read_bytes()
    conf = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": t.context,
                "cluster": {"server": t.server_url(), "certificate-authority-data": base64.b64encode(ca).decode()},
            }
        ],
        "users": [{"name": user, "user": user_entry}],
        "contexts": [{"name": t.context, "context": {"cluster": t.context, "user": user}}],
        "current-context": t.context,
        "preferences": {},
    }
    text = yaml.safe_dump(conf, sort_keys=False)
    if path.exists() and path.read_text() == text:
        return
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _write_admin_kubeconfig(t: KwokTarget) -> None:
    pki = t.cluster_dir() / "pki"
    _write_kubeconfig(
        t,
        t.kubeconfig(),
        "opscheck-admin",
        {
            "client-certificate-data": base64.b64encode((pki / "admin.crt").read_bytes()).decode(),
            "client-key-data": base64.b64encode((pki / "admin.key").read_bytes()).decode(),
        },
    )


# ------------------------------------------------------------------------ lifecycle


def _stop_processes(t: KwokTarget, grace: float = 20) -> None:
    """Stop the cluster's processes (kwokctl stop, then SIGTERM/SIGKILL by pid for any
    that linger) and wait until none is left."""
    seen = set(_recorded_pids(t).values())
    if (t.cluster_dir() / "kwok.yaml").exists():
        try:
            kwokctl("stop", "cluster", "--name", t.name, timeout=120, check=False)
        except subprocess.TimeoutExpired:
            _log("kwokctl stop cluster timed out")
    pending = set(component_pids(t).values()) | set(stray_pids(t))
    seen |= pending
    for sig, wait in ((None, grace), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        if sig is not None:
            for pid in pending:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and any(pid_alive(p) for p in pending):
            time.sleep(0.2)
        pending = {p for p in pending if pid_alive(p)} | set(stray_pids(t))
        seen |= pending
        if not pending:
            # exited processes linger as zombies until init reaps them: wait for that too
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in seen):
                time.sleep(0.2)
            return
    raise RuntimeError(f"processes of the cluster would not stop: {sorted(pending)}")


def start_cluster(t: KwokTarget, bins: dict[str, Path]) -> None:
    """Start the cluster's processes (creating the cluster first if needed; recreating it
    when its configuration changed) and wait until kube-apiserver is ready."""
    cfg_text = _render_kwok_config(t, bins)
    cfg = t.config_path()
    cfg.write_text(cfg_text)
    digest = hashlib.sha256(cfg_text.encode()).hexdigest()
    stamp = t.config_stamp()
    if (t.cluster_dir() / "kwok.yaml").exists():
        if not stamp.exists() or stamp.read_text().strip() != digest:
            _log("cluster configuration changed (or an earlier create did not finish): recreating")
            _down(t)
    elif t.cluster_dir().exists():
        _down(t)  # debris of an interrupted create
    for attempt in range(3):
        if (t.cluster_dir() / "pki" / "admin.crt").exists():
            _write_admin_kubeconfig(t)
        if _serving(t):
            break
        fresh = not (t.cluster_dir() / "kwok.yaml").exists()
        if not fresh and (component_pids(t) or stray_pids(t)):
            # some processes run, some not: restart all of them, from a clean slate
            _log("some cluster processes are missing: restarting the cluster")
            _stop_processes(t)
        _log("creating cluster" if fresh else "starting cluster")
        kwokctl("create", "cluster", "--name", t.name, "--config", str(cfg), "--kubeconfig", "", "--timeout", "5m")
        if fresh:
            stamp.write_text(digest + "\n")
        _write_admin_kubeconfig(t)
        try:
            wait_for(lambda: _serving(t), 90, "cluster processes running and kube-apiserver /readyz")
            break
        except TimeoutError:
            if attempt == 2:
                raise
            _log("cluster did not come up: trying again")


def ensure_nodes(t: KwokTarget, nodes: list[dict] | None = None) -> None:
    """Create the kwok nodes (default: manifests/nodes.yaml) and wait until all are Ready
    and untainted (a node fault a killed test left is taken away: nodes.yaml has none)."""
    from testenv import faults  # faults builds on this module

    api = t.api
    nodes = nodes if nodes is not None else demo.load_manifest("nodes.yaml")
    names = [n["metadata"]["name"] for n in nodes]
    for node in nodes:
        if api.get("Node", None, node["metadata"]["name"]) is None:
            api.create_if_missing(node)
        else:
            api.apply({k: v for k, v in node.items() if k != "status"})
    for name in names:
        n = api.get("Node", None, name)
        if n and NODE_FAULT_LABEL in (n["metadata"].get("labels") or {}):
            faults.set_node_ready(name, True, api=api)
    wait_for(lambda: all(node_ready(api.get("Node", None, n)) for n in names), 90, f"{len(names)} Ready kwok nodes")
    # the lifecycle controller removes the not-ready taint kwok nodes start with
    wait_for(lambda: not any(node_unhealthy_taints(api.get("Node", None, n)) for n in names), 90, "node taints cleared")


def reader_rbac(namespaces: Iterable[str]) -> list[dict]:
    """The production RBAC objects (deploy/rbac/): reader.yaml, then secret-reader.yaml's
    Role and RoleBinding in each of `namespaces`."""
    objs = [d for d in yaml.safe_load_all(READER_RBAC.read_text()) if d]
    for ns in namespaces:
        for d in yaml.safe_load_all(SECRET_READER_RBAC.read_text()):
            if d:
                d["metadata"]["namespace"] = ns
                objs.append(d)
    return objs


def ensure_reader_rbac(t: KwokTarget) -> None:
    """Apply the production RBAC to cluster `t` (its secret namespaces are created if they
    are not there yet, so the Roles can be)."""
    for ns in t.secret_namespaces:
        t.api.create_if_missing({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    for obj in reader_rbac(t.secret_namespaces):
        t.api.apply(obj)


def ensure_reader(t: KwokTarget) -> None:
    """The read-only ServiceAccount opscheck (the production RBAC of deploy/rbac/) and a
    kubeconfig with a year-long token for it."""
    ensure_reader_rbac(t)
    wait_for(
        lambda: t.api.get("ServiceAccount", READER_NAMESPACE, READER_SA) is not None, 30, "ServiceAccount opscheck"
    )
    if _reader_token_valid(t):
        return
    tr = t.api.request(
        "POST",
        api_path("ServiceAccount", READER_NAMESPACE, READER_SA, "token"),
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": READER_TOKEN_SECONDS},
        },
    )
    _write_kubeconfig(t, t.reader_kubeconfig(), "opscheck-reader", {"token": tr["status"]["token"]})


def _reader_token_valid(t: KwokTarget) -> bool:
    """Checked offline (no request as the reader, so the audit log shows only the
    suite's own requests): same cluster CA, same ServiceAccount uid, > 1 day left."""
    try:
        conf = yaml.safe_load(t.reader_kubeconfig().read_text())
        ca = base64.b64decode(conf["clusters"][0]["cluster"]["certificate-authority-data"])
        if ca != (t.cluster_dir() / "pki" / "ca.crt").read_bytes():
            return False
        token = conf["users"][0]["user"]["token"]
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        sa = t.api.get("ServiceAccount", READER_NAMESPACE, READER_SA)
        return (
            claims["kubernetes.io"]["serviceaccount"]["uid"] == sa["metadata"]["uid"]
            and claims["exp"] > time.time() + 86400
        )
    except Exception:
        return False


def up() -> dict:
    """Create (or start, or just confirm) the demo cluster and everything in it, and wait
    until it is healthy. Idempotent, and it converges from any state: a deleted namespace
    qsign (its volumes are made bindable again), objects changed or removed, the leftovers
    of a fault test that was killed before its repair ran (fault labels, injected
    PVCs/Events/Jobs). Fault tests repair what they break themselves (testenv/faults.py),
    so this does not clear Warning events. Returns status() plus timings."""
    with locked(DEMO):
        return _up(DEMO)


def _up(t: KwokTarget) -> dict:
    t0 = time.monotonic()
    timings: dict[str, float] = {}
    api = t.api

    def step(name: str, fn, *args) -> None:
        started = time.monotonic()
        fn(*args)
        timings[name] = round(time.monotonic() - started, 1)

    state_dir().mkdir(parents=True, exist_ok=True)
    bins = check_binaries()
    canary()
    ensure_app_logs()
    step("control_plane", start_cluster, t, bins)
    step("nodes", ensure_nodes, t)
    step("reader", ensure_reader, t)
    step("qsign_apply", demo.apply_qsign, api)
    demo.apply_kube_system(api)
    demo.remove_template_faults(api)
    demo.remove_injected(api)
    step("qsign_healthy", demo.wait_healthy, api)
    step("backup_jobs", demo.ensure_backup_jobs, api)
    step("metrics", demo.wait_metrics, api)
    info = status()
    info["timings"] = timings
    info["up_seconds"] = round(time.monotonic() - t0, 1)
    return info


def down() -> None:
    """Stop every process of the demo cluster and delete it (etcd data, pki, audit log);
    remove the kubeconfigs that pointed at it. No process is left behind."""
    with locked(DEMO):
        _down(DEMO)


def delete_cluster(t: KwokTarget) -> None:
    """down() for any cluster."""
    with locked(t):
        _down(t)


def _down(t: KwokTarget) -> None:
    _stop_processes(t)
    if t.cluster_dir().exists():
        try:
            kwokctl("delete", "cluster", "--name", t.name, timeout=180, check=False)
        except subprocess.TimeoutExpired:
            _log("kwokctl delete cluster timed out")
    _stop_processes(t)
    if t.cluster_dir().exists():
        shutil.rmtree(t.cluster_dir(), ignore_errors=True)
    for p in (t.kubeconfig(), t.reader_kubeconfig()):
        p.unlink(missing_ok=True)
    t.api.forget_client()
    t.reader_api.forget_client()


def status() -> dict:
    """What runs and where: components with pids, API server, nodes, qsign summary."""
    t, api = DEMO, DEMO.api
    info: dict[str, Any] = {
        "cluster": CLUSTER,
        "context": CONTEXT,
        "server": t.server_url(),
        "kubeconfig": str(t.kubeconfig()),
        "reader_kubeconfig": str(t.reader_kubeconfig()),
        "reader_user": READER_USER,
        "audit_log": str(t.audit_log()),
        "workdir": str(t.cluster_dir()),
        "components": component_pids(t),
        "running": False,
    }
    if not t.kubeconfig().exists():
        return info
    try:
        info["running"] = api.ready()
    except Exception as exc:
        info["error"] = str(exc)
        return info
    try:
        info["nodes"] = {n["metadata"]["name"]: node_ready(n) for n in api.list_("Node")}
        pods = api.list_("Pod", NAMESPACE)
        info["qsign_pods"] = {
            p["metadata"]["name"]: p.get("status", {}).get("phase") + ("/Ready" if pod_ready(p) else "") for p in pods
        }
        info["metrics_api"] = bool(api.metrics_nodes())
    except Exception as exc:
        info["error"] = str(exc)
    return info


def pod_log(
    namespace: str, pod: str, container: str, since_seconds: int | None = None, client: KubeApi | None = None
) -> str:
    return (client or DEMO.api).pod_log(namespace, pod, container, since_seconds)


def audit_events(path: Path | None = None) -> Iterable[dict]:
    """Parsed audit log lines (default: the demo cluster's)."""
    with open(path or audit_log()) as f:
        for line in f:
            line = line.strip()
            if line:
                yield json.loads(line)


if __name__ == "__main__":  # python -m testenv.cluster up|down|status
    up_down_status_cli(up, down, status)
