"""The test environment's Kubernetes cluster: a real control plane with kwok nodes.

`kwokctl create cluster --runtime binary` runs etcd (from the venv), kube-apiserver,
kube-controller-manager, kube-scheduler, kwok-controller and metrics-server as local
processes on 127.0.0.1, from binaries built by testenv/build-binaries.sh (nothing is
downloaded). kwok plays the kubelet of three fake nodes: the Stages in
manifests/kwok-stages.yaml move pods through their lifecycle, ClusterResourceUsage feeds
metrics-server, ClusterLogs answers `pods/<pod>/log`. Everything else is the real thing:
the scheduler places pods, the controllers run Deployments, StatefulSets, Jobs, CronJobs,
Endpoints and PV binding, RBAC and the audit log are kube-apiserver's own.

Public API:
    up() -> dict                 create/start the cluster and the QSIGN system (idempotent)
    down() -> None               stop and delete the cluster; no process is left
    status() -> dict             what runs, where the kubeconfigs and the audit log are
    kubeconfig() -> Path         admin kubeconfig (context "opscheck-demo")
    reader_kubeconfig() -> Path  read-only kubeconfig the suite runs with (same context)
    audit_log() -> Path          kube-apiserver audit log (JSON lines, Metadata level)
    api() / reader_api()         kubernetes.client.ApiClient for either identity
    request/get/list_/patch/apply  small REST helpers (admin identity unless client=...)
    pod_log(), metrics_nodes(), metrics_pods(), audit_events(), canary()
    fault helpers (each waits until its effect shows through the API; each has a repair):
        scale, set_template_fault, set_pod_usage, run_backup_job, put_tls_secret,
        set_load_balancer_address, create_pvc, delete, create_event, delete_event,
        clear_events, set_node_ready (alias set_node_condition)
    KwokTarget, targeting(t)     every function above acts on the demo cluster, or on
                                 another kwokctl cluster inside `with targeting(t):`
                                 (testenv/multicluster.py: mgmt, app1, app2)

Manifests (testenv/manifests/): kwok-stages.yaml, kwok-usage.yaml, kwok-logs.yaml (kwok
configuration, given to kwokctl), audit-policy.yaml, nodes.yaml, rbac-reader.yaml,
qsign.yaml, qsign-volumes.yaml, kube-system.yaml (applied through the API).
"""
from __future__ import annotations

import base64
import contextlib
import contextvars
import datetime as dt
import fcntl
import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from testenv import certs
from testenv.paths import HOST, PORTS, cache_dir, state_dir
from testenv.procs import log_file, pid_alive, wait_for

CLUSTER = "opscheck"
CONTEXT = "opscheck-demo"
NAMESPACE = "qsign"
READER_NAMESPACE = "opscheck-system"
READER_SA = "opscheck"
READER_USER = f"system:serviceaccount:{READER_NAMESPACE}:{READER_SA}"
FIELD_MANAGER = "opscheck-testenv"
FAULT_LABEL = "opscheck.testenv/fault"
NODE_FAULT_LABEL = "opscheck.testenv/node-fault"
RESYNC_ANNOTATION = "opscheck.testenv/resync"
NODES = ("kwok-node-0", "kwok-node-1", "kwok-node-2")
DEPLOYMENTS = ("api-server", "signature-service", "hsm-adapter")
STATEFULSETS = ("postgresql", "vault")
CRONJOBS = ("postgresql-backup", "vault-backup")
WORKLOAD_NAMESPACES = (NAMESPACE, "kube-system")
TLS_SECRETS = {"api-server-tls": ("api-server", ["qsign.local"]),
               "signature-service-tls": ("signature-service", [])}
LOG_CONTAINERS = ("api-server", "signature-service", "hsm-adapter")
READER_TOKEN_SECONDS = 365 * 24 * 3600

MANIFESTS = Path(__file__).resolve().parent / "manifests"
K8S_VERSION = os.environ.get("OPSCHECK_K8S_VERSION", "v1.33.13")
KWOK_VERSION = os.environ.get("OPSCHECK_KWOK_VERSION", "v0.7.0")
METRICS_SERVER_VERSION = os.environ.get("OPSCHECK_METRICS_SERVER_VERSION", "v0.9.0")
DEFAULT_TIMEOUT = 120.0


# ------------------------------------------------------------- which kwok cluster

@dataclass(frozen=True)
class KwokTarget:
    """A kwokctl cluster of the test environment. Every function of this module acts on
    the demo cluster (DEMO) unless it runs inside `targeting(other)`, which is how
    testenv/multicluster.py runs its clusters (mgmt, app1, app2) through the same code."""

    name: str                       # kwokctl cluster name (its directory under kwok/clusters)
    context: str                    # the context (and cluster entry) of its kubeconfigs
    apiserver_port: str             # PORTS key of its kube-apiserver
    home: Path | None = None        # where its kubeconfigs go (None: state_dir())
    # kwokctl option (etcdPort, kwokControllerPort, ...) -> PORTS key; unset options get
    # a free port from kwokctl (the demo cluster's way)
    component_ports: dict[str, str] = field(default_factory=dict)
    metrics_server: bool = True
    # extra flags (component, flag, value), e.g. ("kube-controller-manager", "controllers", ...)
    component_args: tuple[tuple[str, str, str], ...] = ()


DEMO = KwokTarget(CLUSTER, CONTEXT, "kube-apiserver")
_target: contextvars.ContextVar[KwokTarget] = contextvars.ContextVar("testenv_kwok_target", default=DEMO)


def target() -> KwokTarget:
    """The cluster this module's functions act on now."""
    return _target.get()


@contextlib.contextmanager
def targeting(t: KwokTarget):
    """Run this module's functions (paths, API helpers, lifecycle, fault helpers) on `t`."""
    token = _target.set(t)
    try:
        yield t
    finally:
        _target.reset(token)


# ---------------------------------------------------------------------------- paths

def bin_dir() -> Path:
    """Where build-binaries.sh puts kube-*, kwok, kwokctl and metrics-server."""
    if os.environ.get("OPSCHECK_BIN_DIR"):
        return Path(os.environ["OPSCHECK_BIN_DIR"])
    return cache_dir() / "bin" / f"k8s-{K8S_VERSION}-kwok-{KWOK_VERSION}-ms-{METRICS_SERVER_VERSION}"


def venv_bin() -> Path:
    return Path(sys.executable).parent


def kwok_workdir() -> Path:
    """KWOK_WORKDIR for kwokctl: its clusters/ and cache/ live here."""
    return state_dir() / "kwok"


def cluster_dir() -> Path:
    return kwok_workdir() / "clusters" / target().name


def kubeconfig() -> Path:
    return (target().home or state_dir()) / "kubeconfig"


def reader_kubeconfig() -> Path:
    return (target().home or state_dir()) / "kubeconfig-reader"


def audit_log() -> Path:
    """kube-apiserver's audit log: one JSON event per line (audit.k8s.io/v1 Event)."""
    return cluster_dir() / "logs" / "audit.log"


def app_logs_dir() -> Path:
    return state_dir() / "apps" / "logs"


def canary_file() -> Path:
    return state_dir() / "canary"


def server_url() -> str:
    return f"https://{HOST}:{PORTS[target().apiserver_port]}"


# ------------------------------------------------------------------ small utilities

def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _rfc3339(t: dt.datetime | None = None) -> str:
    return (t or _now()).strftime("%Y-%m-%dT%H:%M:%SZ")


def _log(msg: str) -> None:
    print(f"testenv.cluster: {msg}", file=sys.stderr, flush=True)


def canary() -> str:
    """The canary password (state_dir()/canary), generated once: CANARY-<hex>."""
    f = canary_file()
    f.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as out:
            out.write(f"CANARY-{secrets.token_hex(16)}\n")
    value = f.read_text().strip()
    if not value:
        raise RuntimeError(f"{f} is empty")
    return value


def _ensure_app_logs() -> None:
    d = app_logs_dir()
    d.mkdir(parents=True, exist_ok=True)
    for name in (*LOG_CONTAINERS, "qsign-other", "kube-system"):
        (d / f"{name}.log").touch(exist_ok=True)


def _load_yaml(name: str, **subst: str) -> list[dict]:
    text = (MANIFESTS / name).read_text()
    for key, value in subst.items():
        text = text.replace("${" + key + "}", value)
    return [d for d in yaml.safe_load_all(text) if d]


_lock_depth: dict[str, int] = {}


@contextlib.contextmanager
def _locked():
    """Serialize up()/down() of the target cluster across processes (e.g. pytest-xdist
    workers); re-entrant within a process."""
    name = "cluster.lock" if target() == DEMO else f"cluster-{target().name}.lock"
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


def _check_binaries() -> dict[str, Path]:
    bins = _required_binaries()
    missing = [str(p) for p in bins.values() if not os.access(p, os.X_OK)]
    if missing:
        raise RuntimeError(
            "missing binaries (run testenv/build-binaries.sh first): " + ", ".join(missing))
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


def _kwokctl(*args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [str(_required_binaries()["kwokctl"]), *args]
    with open(log_file("kwokctl"), "ab") as log:
        log.write(f"\n$ {' '.join(cmd)}\n".encode())
        log.flush()
        proc = subprocess.run(cmd, env=_kwokctl_env(), stdout=log, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"kwokctl {' '.join(args)} failed (exit {proc.returncode}); "
                           f"see {log_file('kwokctl')}")
    return proc


def _render_kwok_config(bins: dict[str, Path]) -> str:
    """The one --config file given to kwokctl: its own settings plus kwok's Stages,
    ClusterResourceUsage and ClusterLogs (kwokctl hands those to kwok-controller)."""
    audit_policy = state_dir() / "audit-policy.yaml"
    policy_text = (MANIFESTS / "audit-policy.yaml").read_text()
    if not audit_policy.exists() or audit_policy.read_text() != policy_text:
        audit_policy.write_text(policy_text)
    t = target()
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
            {"name": "kwok-controller",
             "extraArgs": [{"key": "node-ip", "value": HOST, "override": True}]},
            # scrape every 10 s instead of 15 s (the resolution must exceed the kubelet
            # request timeout), so usage changes reach the metrics API sooner
            {"name": "metrics-server",
             "extraArgs": [{"key": "metric-resolution", "value": "10s", "override": True},
                           {"key": "kubelet-request-timeout", "value": "5s"}]},
        ] + [{"name": component,
              # appended: kwokctl's "override" only replaces a flag it already passes
              "extraArgs": [{"key": k, "value": v} for c, k, v in t.component_args if c == component]}
             for component in dict.fromkeys(c for c, _, _ in t.component_args)],
    }
    kwok_conf = {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokConfiguration",
        # pod IPs from 10.244/16, apart from the apiserver's service range (10.0.0.0/24)
        "options": {"cidr": "10.244.0.1/16"},
    }
    docs: list[dict] = [kwokctl_conf, kwok_conf]
    docs += _load_yaml("kwok-stages.yaml")
    docs += _load_yaml("kwok-usage.yaml")
    docs += _load_yaml("kwok-logs.yaml", APP_LOGS=str(app_logs_dir()))
    return yaml.safe_dump_all(docs, sort_keys=False)


def _config_path() -> Path:
    return state_dir() / f"kwok-{target().name}.yaml"


def _config_stamp() -> Path:
    return cluster_dir() / "opscheck-config.sha256"


def _pid_files() -> list[Path]:
    d = cluster_dir() / "pids"
    return sorted(d.glob("*.pid")) if d.is_dir() else []


def _recorded_pids() -> dict[str, int]:
    """Pids in kwokctl's pid files, running or not."""
    out = {}
    for f in _pid_files():
        try:
            out[f.stem] = int(f.read_text().strip())
        except (OSError, ValueError):
            continue
    return out


def _component_pids() -> dict[str, int]:
    return {name: pid for name, pid in _recorded_pids().items() if pid_alive(pid)}


def _stray_pids() -> list[int]:
    """Processes still running from this cluster's directory (binaries, args or cwd)."""
    marker = str(cluster_dir())
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


# ----------------------------------------------------------------------- kubeconfigs

def _write_kubeconfig(path: Path, user: str, user_entry: dict) -> None:
    ca = (cluster_dir() / "pki" / "ca.crt").read_bytes()
    conf = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": target().context, "cluster": {
            "server": server_url(),
            "certificate-authority-data": base64.b64encode(ca).decode()}}],
        "users": [{"name": user, "user": user_entry}],
        "contexts": [{"name": target().context, "context": {"cluster": target().context, "user": user}}],
        "current-context": target().context,
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


def _write_admin_kubeconfig() -> None:
    pki = cluster_dir() / "pki"
    _write_kubeconfig(kubeconfig(), "opscheck-admin", {
        "client-certificate-data": base64.b64encode((pki / "admin.crt").read_bytes()).decode(),
        "client-key-data": base64.b64encode((pki / "admin.key").read_bytes()).decode(),
    })


# ------------------------------------------------------------------------ API access

_clients: dict[str, Any] = {}


def api():
    """kubernetes.client.ApiClient with the admin identity (system:masters)."""
    from kubernetes import config
    key = f"admin:{kubeconfig()}:{kubeconfig().stat().st_mtime_ns}"
    if key not in _clients:
        _clients[key] = config.new_client_from_config(config_file=str(kubeconfig()), context=target().context)
    return _clients[key]


def reader_api():
    """kubernetes.client.ApiClient with the read-only opscheck ServiceAccount."""
    from kubernetes import config
    path = reader_kubeconfig()
    key = f"reader:{path}:{path.stat().st_mtime_ns}"
    if key not in _clients:
        _clients[key] = config.new_client_from_config(config_file=str(path), context=target().context)
    return _clients[key]


class ApiError(RuntimeError):
    def __init__(self, status: int, reason: str, body: str):
        super().__init__(f"HTTP {status} {reason}: {body[:500]}")
        self.status = status
        self.reason = reason
        self.body = body


# kind -> (apiVersion, plural, namespaced)
KINDS: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("v1", "namespaces", False),
    "Node": ("v1", "nodes", False),
    "PersistentVolume": ("v1", "persistentvolumes", False),
    "ServiceAccount": ("v1", "serviceaccounts", True),
    "ConfigMap": ("v1", "configmaps", True),
    "Secret": ("v1", "secrets", True),
    "Service": ("v1", "services", True),
    "Endpoints": ("v1", "endpoints", True),
    "PersistentVolumeClaim": ("v1", "persistentvolumeclaims", True),
    "Pod": ("v1", "pods", True),
    "Event": ("v1", "events", True),
    "Deployment": ("apps/v1", "deployments", True),
    "StatefulSet": ("apps/v1", "statefulsets", True),
    "ReplicaSet": ("apps/v1", "replicasets", True),
    "ControllerRevision": ("apps/v1", "controllerrevisions", True),
    "DaemonSet": ("apps/v1", "daemonsets", True),
    "Job": ("batch/v1", "jobs", True),
    "CronJob": ("batch/v1", "cronjobs", True),
    "Ingress": ("networking.k8s.io/v1", "ingresses", True),
    "IngressClass": ("networking.k8s.io/v1", "ingressclasses", False),
    "StorageClass": ("storage.k8s.io/v1", "storageclasses", False),
    "PodDisruptionBudget": ("policy/v1", "poddisruptionbudgets", True),
    "ClusterRole": ("rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": ("rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "Role": ("rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": ("rbac.authorization.k8s.io/v1", "rolebindings", True),
    "NetworkPolicy": ("networking.k8s.io/v1", "networkpolicies", True),
    "CustomResourceDefinition": ("apiextensions.k8s.io/v1", "customresourcedefinitions", False),
    "Certificate": ("cert-manager.io/v1", "certificates", True),
    "VulnerabilityReport": ("aquasecurity.github.io/v1alpha1", "vulnerabilityreports", True),
    "PeerAuthentication": ("security.istio.io/v1beta1", "peerauthentications", True),
    "HorizontalPodAutoscaler": ("autoscaling/v2", "horizontalpodautoscalers", True),
    "Backup": ("velero.io/v1", "backups", True),
    "Schedule": ("velero.io/v1", "schedules", True),
    "ExternalSecret": ("external-secrets.io/v1", "externalsecrets", True),
    "Application": ("argoproj.io/v1alpha1", "applications", True),
}
_KIND_ALIASES = {k.lower(): k for k in KINDS}
_KIND_ALIASES.update({v[1]: k for k, v in KINDS.items()})
_KIND_ALIASES.update({"deploy": "Deployment", "sts": "StatefulSet", "pvc": "PersistentVolumeClaim",
                      "pv": "PersistentVolume", "svc": "Service", "cm": "ConfigMap", "ns": "Namespace",
                      "pdb": "PodDisruptionBudget", "ing": "Ingress", "cj": "CronJob", "rs": "ReplicaSet",
                      "ev": "Event", "ep": "Endpoints", "sa": "ServiceAccount", "sc": "StorageClass"})


def _kind(kind: str) -> str:
    try:
        return _KIND_ALIASES[kind.lower()]
    except KeyError:
        raise ValueError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}") from None


def _path(kind: str, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
    kind = _kind(kind)
    api_version, plural, namespaced = KINDS[kind]
    base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    if namespaced and namespace:
        base += f"/namespaces/{namespace}"
    base += f"/{plural}"
    if name:
        base += f"/{name}"
    if sub:
        base += f"/{sub}"
    return base


def request(method: str, path: str, body: Any = None, *, query: dict | None = None,
            content_type: str = "application/json", client=None, raw: bool = False,
            timeout: float = 30) -> Any:
    """One call to the API server; returns decoded JSON (or text with raw=True)."""
    from kubernetes.client.exceptions import ApiException
    c = client or api()
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        headers["Content-Type"] = content_type
        # the client serializes the body itself (JSON, which apply-patch+yaml accepts too)
        data = body
    try:
        resp = c.call_api(path, method, query_params=list((query or {}).items()),
                          header_params=headers, body=data, auth_settings=["BearerToken"],
                          _preload_content=False, _return_http_data_only=True,
                          _request_timeout=timeout)
    except ApiException as exc:
        raise ApiError(exc.status, exc.reason, exc.body.decode(errors="replace")
                       if isinstance(exc.body, bytes) else str(exc.body)) from None
    text = resp.data.decode()
    if raw:
        return text
    return json.loads(text) if text else None


def get(kind: str, namespace: str | None, name: str, sub: str | None = None) -> dict | None:
    try:
        return request("GET", _path(kind, namespace, name, sub))
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise


def list_(kind: str, namespace: str | None = None, selector: str | None = None,
          field_selector: str | None = None) -> list[dict]:
    q = {}
    if selector:
        q["labelSelector"] = selector
    if field_selector:
        q["fieldSelector"] = field_selector
    return request("GET", _path(kind, namespace), query=q)["items"]


def patch(kind: str, namespace: str | None, name: str, body: Any, *, sub: str | None = None,
          kind_of_patch: str = "merge") -> dict:
    ctype = {"merge": "application/merge-patch+json", "json": "application/json-patch+json",
             "strategic": "application/strategic-merge-patch+json"}[kind_of_patch]
    return request("PATCH", _path(kind, namespace, name, sub), body, content_type=ctype,
                   query={"fieldManager": FIELD_MANAGER + "-fault"})


def apply(obj: dict, *, force: bool = True) -> dict:
    """Server-side apply of one object (field manager opscheck-testenv)."""
    md = obj["metadata"]
    path = _path(obj["kind"], md.get("namespace"), md["name"])
    q = {"fieldManager": FIELD_MANAGER}
    if force:
        q["force"] = "true"
    return request("PATCH", path, obj, content_type="application/apply-patch+yaml", query=q)


def create_if_missing(obj: dict) -> dict:
    md = obj["metadata"]
    existing = get(obj["kind"], md.get("namespace"), md["name"])
    if existing is not None:
        return existing
    try:
        return request("POST", _path(obj["kind"], md.get("namespace")), obj,
                       query={"fieldManager": FIELD_MANAGER})
    except ApiError as exc:
        if exc.status == 409:
            return get(obj["kind"], md.get("namespace"), md["name"])
        raise


# ---------------------------------------------------------------- state predicates

def _cond(obj: dict | None, ctype: str) -> dict | None:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return c
    return None


def _is_true(obj: dict | None, ctype: str) -> bool:
    c = _cond(obj, ctype)
    return bool(c and c.get("status") == "True")


def pod_ready(p: dict) -> bool:
    return p.get("status", {}).get("phase") == "Running" and _is_true(p, "Ready")


def node_ready(n: dict | None) -> bool:
    return _is_true(n, "Ready")


def deployment_done(d: dict | None) -> bool:
    if not d:
        return False
    s, want = d.get("status") or {}, d["spec"].get("replicas", 1)
    return (s.get("observedGeneration", 0) >= d["metadata"]["generation"]
            and s.get("replicas", 0) == want and s.get("updatedReplicas", 0) == want
            and s.get("readyReplicas", 0) == want and s.get("availableReplicas", 0) == want
            and not s.get("unavailableReplicas"))


def statefulset_done(s: dict | None) -> bool:
    if not s:
        return False
    st, want = s.get("status") or {}, s["spec"].get("replicas", 1)
    return (st.get("observedGeneration", 0) >= s["metadata"]["generation"]
            and st.get("replicas", 0) == want and st.get("readyReplicas", 0) == want
            and st.get("availableReplicas", want) == want
            and st.get("currentRevision") == st.get("updateRevision"))


def job_finished(j: dict | None) -> str | None:
    """'Complete', 'Failed' or None."""
    for t in ("Complete", "Failed"):
        if _is_true(j, t):
            return t
    return None


def _pods_of(namespace: str, selector: dict[str, str]) -> list[dict]:
    sel = ",".join(f"{k}={v}" for k, v in selector.items())
    return [p for p in list_("Pod", namespace, sel) if not p["metadata"].get("deletionTimestamp")]


def _all_pods_settled(namespace: str) -> bool:
    for p in list_("Pod", namespace):
        if p["metadata"].get("deletionTimestamp"):
            return False
        phase = p.get("status", {}).get("phase")
        if phase == "Succeeded":
            continue
        if not pod_ready(p):
            return False
    return True


def _endpoints_ready(namespace: str, service: str) -> bool:
    ep = get("Endpoints", namespace, service)
    subsets = (ep or {}).get("subsets") or []
    ready = sum(len(s.get("addresses") or []) for s in subsets)
    not_ready = sum(len(s.get("notReadyAddresses") or []) for s in subsets)
    return ready > 0 and not_ready == 0


def metrics_nodes() -> list[dict]:
    return request("GET", "/apis/metrics.k8s.io/v1beta1/nodes")["items"]


def metrics_pods(namespace: str) -> list[dict]:
    return request("GET", f"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods")["items"]


# ------------------------------------------------------------------------ lifecycle

def _api_ready() -> bool:
    return request("GET", "/readyz", raw=True, timeout=5).strip() == "ok"


COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
              "kwok-controller", "metrics-server")


def _components_up() -> bool:
    wanted = set(COMPONENTS) - (set() if target().metrics_server else {"metrics-server"})
    return wanted <= set(_component_pids())


def _serving() -> bool:
    try:
        return _components_up() and _api_ready()
    except Exception:
        return False


def _stop_processes(grace: float = 20) -> None:
    """Stop the cluster's processes (kwokctl stop, then SIGTERM/SIGKILL by pid for any
    that linger) and wait until none is left."""
    seen = set(_recorded_pids().values())
    if (cluster_dir() / "kwok.yaml").exists():
        try:
            _kwokctl("stop", "cluster", "--name", target().name, timeout=120, check=False)
        except subprocess.TimeoutExpired:
            _log("kwokctl stop cluster timed out")
    pending = set(_component_pids().values()) | set(_stray_pids())
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
        pending = {p for p in pending if pid_alive(p)} | set(_stray_pids())
        seen |= pending
        if not pending:
            # exited processes linger as zombies until init reaps them: wait for that too
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in seen):
                time.sleep(0.2)
            return
    raise RuntimeError(f"processes of the cluster would not stop: {sorted(pending)}")


def _start_cluster(bins: dict[str, Path]) -> None:
    cfg_text = _render_kwok_config(bins)
    cfg = _config_path()
    cfg.write_text(cfg_text)
    digest = hashlib.sha256(cfg_text.encode()).hexdigest()
    stamp = _config_stamp()
    if (cluster_dir() / "kwok.yaml").exists():
        if not stamp.exists() or stamp.read_text().strip() != digest:
            _log("cluster configuration changed (or an earlier create did not finish): recreating")
            down()
    elif cluster_dir().exists():
        down()  # debris of an interrupted create
    for attempt in range(3):
        if (cluster_dir() / "pki" / "admin.crt").exists():
            _write_admin_kubeconfig()
            _clients.clear()
        if _serving():
            break
        fresh = not (cluster_dir() / "kwok.yaml").exists()
        if not fresh and (_component_pids() or _stray_pids()):
            # some processes run, some not: restart all of them, from a clean slate
            _log("some cluster processes are missing: restarting the cluster")
            _stop_processes()
        _log("creating cluster" if fresh else "starting cluster")
        _kwokctl("create", "cluster", "--name", target().name, "--config", str(cfg),
                 "--kubeconfig", "", "--timeout", "5m")
        if fresh:
            stamp.write_text(digest + "\n")
        _write_admin_kubeconfig()
        _clients.clear()
        try:
            wait_for(_serving, 90, "cluster processes running and kube-apiserver /readyz")
            break
        except TimeoutError:
            if attempt == 2:
                raise
            _log("cluster did not come up: trying again")


def _ensure_nodes(nodes: list[dict] | None = None) -> None:
    """Create the kwok nodes (default: manifests/nodes.yaml) and wait until all are Ready."""
    nodes = nodes if nodes is not None else _load_yaml("nodes.yaml")
    names = [n["metadata"]["name"] for n in nodes]
    for node in nodes:
        existing = get("Node", None, node["metadata"]["name"])
        if existing is None:
            create_if_missing(node)
        else:
            apply({k: v for k, v in node.items() if k != "status"})
    # clear an injected node fault left behind
    for name in names:
        n = get("Node", None, name)
        if n and NODE_FAULT_LABEL in (n["metadata"].get("labels") or {}):
            set_node_ready(name, True)
    wait_for(lambda: all(node_ready(get("Node", None, n)) for n in names), 90, f"{len(names)} Ready kwok nodes")
    # the lifecycle controller removes the not-ready taint kwok nodes start with
    wait_for(lambda: not any(_node_unhealthy_taints(get("Node", None, n)) for n in names), 90,
             "node taints cleared")


def _node_unhealthy_taints(n: dict | None) -> list[str]:
    return [t["key"] for t in ((n or {}).get("spec") or {}).get("taints") or []
            if t["key"] in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")]


def _ensure_reader() -> None:
    for obj in _load_yaml("rbac-reader.yaml"):
        apply(obj)
    wait_for(lambda: get("ServiceAccount", READER_NAMESPACE, READER_SA) is not None, 30,
             "ServiceAccount opscheck")
    if _reader_token_valid():
        return
    tr = request("POST", _path("ServiceAccount", READER_NAMESPACE, READER_SA, "token"),
                 {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                  "spec": {"expirationSeconds": READER_TOKEN_SECONDS}})
    _write_kubeconfig(reader_kubeconfig(), "opscheck-reader", {"token": tr["status"]["token"]})
    _clients.clear()


def _reader_token_valid() -> bool:
    """Checked offline (no request as the reader, so the audit log shows only the
    suite's own requests): same cluster CA, same ServiceAccount uid, > 1 day left."""
    try:
        conf = yaml.safe_load(reader_kubeconfig().read_text())
        ca = base64.b64decode(conf["clusters"][0]["cluster"]["certificate-authority-data"])
        if ca != (cluster_dir() / "pki" / "ca.crt").read_bytes():
            return False
        token = conf["users"][0]["user"]["token"]
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        sa = get("ServiceAccount", READER_NAMESPACE, READER_SA)
        return (claims["kubernetes.io"]["serviceaccount"]["uid"] == sa["metadata"]["uid"]
                and claims["exp"] > time.time() + 86400)
    except Exception:
        return False


def _tls_secret(name: str, days_valid: int = 365) -> dict:
    service, extra = TLS_SECRETS.get(name, (name.removesuffix("-tls"), []))
    pair = certs.service_cert(service, NAMESPACE, days_valid=days_valid, extra_sans=extra)
    data = certs.tls_secret_data(pair)
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": name, "namespace": NAMESPACE,
                         "labels": {"app": service, "app.kubernetes.io/part-of": "qsign"}},
            "data": {k: base64.b64encode(v).decode() for k, v in data.items()}}


def _secret_cert_days_left(secret: dict | None) -> float | None:
    from cryptography import x509
    try:
        pem = base64.b64decode(secret["data"]["tls.crt"])
        cert = x509.load_pem_x509_certificate(pem)
    except Exception:
        return None
    return (cert.not_valid_after_utc - _now()).total_seconds() / 86400


def _ensure_secrets() -> None:
    for name in TLS_SECRETS:
        left = _secret_cert_days_left(get("Secret", NAMESPACE, name))
        if left is None or left < 300:  # missing, or replaced by put_tls_secret
            apply(_tls_secret(name))
    apply({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
           "metadata": {"name": "qsign-db-credentials", "namespace": NAMESPACE,
                        "labels": {"app.kubernetes.io/part-of": "qsign"}},
           "data": {k: base64.b64encode(v.encode()).decode() for k, v in
                    {"username": "qsign", "password": canary(), "database": "qsign"}.items()}})


def _ensure_volumes() -> None:
    vols = state_dir() / "volumes"
    vols.mkdir(parents=True, exist_ok=True)
    for pv in _load_yaml("qsign-volumes.yaml", VOLUMES=str(vols)):
        Path(pv["spec"]["hostPath"]["path"]).mkdir(parents=True, exist_ok=True)
        create_if_missing(pv)


def _apply_qsign() -> list[dict]:
    docs = _load_yaml("qsign.yaml")
    ns = [d for d in docs if d["kind"] == "Namespace"]
    for d in ns:
        apply(d)
    # ServiceAccount admission needs the namespace's default SA before any pod is made
    wait_for(lambda: get("ServiceAccount", NAMESPACE, "default") is not None, 60,
             "ServiceAccount qsign/default")
    cluster_scoped = [d for d in docs if d["kind"] in ("StorageClass", "IngressClass")]
    for d in cluster_scoped:
        apply(d)
    for d in docs:
        if d["kind"] == "ConfigMap":
            apply(d)
    _ensure_secrets()
    _ensure_volumes()
    for d in docs:
        if d["kind"] == "PersistentVolumeClaim":
            create_if_missing(d)
    wait_for(lambda: all((get("PersistentVolumeClaim", NAMESPACE, f"data-postgresql-{i}") or {})
                         .get("status", {}).get("phase") == "Bound" for i in range(2)),
             90, "PVCs data-postgresql-0/1 Bound")
    for d in docs:
        if d["kind"] not in ("Namespace", "StorageClass", "IngressClass", "ConfigMap",
                             "PersistentVolumeClaim"):
            apply(d)
    _publish_load_balancers()
    return docs


def _apply_kube_system() -> None:
    for d in _load_yaml("kube-system.yaml"):
        apply(d)


def _publish_load_balancers(namespace: str = NAMESPACE) -> None:
    # Nothing in this cluster implements Services of type LoadBalancer or Ingresses (no
    # cloud controller, no ingress controller), so their status would stay empty. The test
    # environment plays both here: it writes status.loadBalancer itself, through the
    # status subresource, as a cloud LB controller / ingress-nginx would.
    lb = {"status": {"loadBalancer": {"ingress": [{"ip": HOST, "ipMode": "VIP"}]}}}
    for svc in list_("Service", namespace):
        if svc["spec"].get("type") == "LoadBalancer" and \
                not (svc.get("status", {}).get("loadBalancer") or {}).get("ingress"):
            patch("Service", namespace, svc["metadata"]["name"], lb, sub="status")
    for ing in list_("Ingress", namespace):
        if not (ing.get("status", {}).get("loadBalancer") or {}).get("ingress"):
            patch("Ingress", namespace, ing["metadata"]["name"],
                  {"status": {"loadBalancer": {"ingress": [{"ip": HOST}]}}}, sub="status")


def _clear_template_faults(namespaces: Iterable[str] = WORKLOAD_NAMESPACES) -> None:
    for ns in namespaces:
        for kind in ("Deployment", "StatefulSet"):
            for obj in list_(kind, ns):
                labels = obj["spec"]["template"]["metadata"].get("labels") or {}
                if FAULT_LABEL in labels:
                    name = obj["metadata"]["name"]
                    _log(f"removing leftover fault label from {kind} {ns}/{name}")
                    patch(kind, ns, name, [{"op": "remove", "path": "/spec/template/metadata/labels/"
                                            + FAULT_LABEL.replace("/", "~1")}], kind_of_patch="json")


def _previous_fire(schedule: str, now: dt.datetime | None = None) -> dt.datetime:
    from croniter import croniter
    return croniter(schedule, now or _now()).get_prev(dt.datetime)


def _ensure_backup_jobs() -> None:
    """Each CronJob's newest finished Job is a successful one, and the CronJob has a
    lastScheduleTime. On a fresh cluster no schedule has fired yet, so this backfills the
    run a long-lived cluster would have: a Job named and annotated as the controller
    names the run of the schedule's previous fire time, and lastScheduleTime set to that
    time (the test environment writes that CronJob status field itself; the controller
    takes over from the next fire on)."""
    for name in CRONJOBS:
        cj = get("CronJob", NAMESPACE, name)
        if _cronjob_broken(cj):
            patch("CronJob", NAMESPACE, name, [{"op": "remove", "path": _JOB_TEMPLATE_FAULT_PATH}],
                  kind_of_patch="json")
            cj = get("CronJob", NAMESPACE, name)
        if not (cj.get("status") or {}).get("lastScheduleTime"):
            prev = _previous_fire(cj["spec"]["schedule"])
            if get("Job", NAMESPACE, f"{name}-{int(prev.timestamp()) // 60}") is None:
                _run_job_from(cj, succeed=True, scheduled=prev)
            patch("CronJob", NAMESPACE, name, {"status": {"lastScheduleTime": _rfc3339(prev)}}, sub="status")
        jobs = sorted(_jobs_of(NAMESPACE, name), key=lambda j: j["metadata"]["creationTimestamp"])
        finished = [j for j in jobs if job_finished(j)]
        if not finished or job_finished(finished[-1]) != "Complete":
            _run_job_from(cj, succeed=True)


def _remove_injected() -> None:
    """Objects the fault helpers made (label opscheck.testenv/injected=true) go."""
    for kind in ("PersistentVolumeClaim", "Event", "Job"):
        for obj in list_(kind, NAMESPACE, "opscheck.testenv/injected=true"):
            delete(kind, NAMESPACE, obj["metadata"]["name"])


def _jobs_of(namespace: str, cronjob: str) -> list[dict]:
    return [j for j in list_("Job", namespace)
            if any(o.get("kind") == "CronJob" and o.get("name") == cronjob
                   for o in j["metadata"].get("ownerReferences") or [])]


def _wait_qsign_healthy(timeout: float = 180) -> None:
    wait_for(lambda: all(deployment_done(d) for ns in WORKLOAD_NAMESPACES for d in list_("Deployment", ns)),
             timeout, "Deployments in qsign and kube-system available")
    wait_for(lambda: all(statefulset_done(s) for s in list_("StatefulSet", NAMESPACE)),
             timeout, "qsign StatefulSets ready")
    wait_for(lambda: _all_pods_settled(NAMESPACE) and _all_pods_settled("kube-system"), timeout,
             "pods in qsign and kube-system Running/Ready (or Succeeded)")
    services = [s["metadata"]["name"] for s in list_("Service", NAMESPACE)]
    wait_for(lambda: all(_endpoints_ready(NAMESPACE, s) for s in services), timeout,
             "qsign Endpoints ready")


def _wait_metrics(timeout: float = 120) -> None:
    def ok() -> bool:
        nodes = {m["metadata"]["name"] for m in metrics_nodes()}
        if not set(NODES) <= nodes:
            return False
        running = {p["metadata"]["name"] for p in list_("Pod", NAMESPACE)
                   if p.get("status", {}).get("phase") == "Running"}
        have = {m["metadata"]["name"] for m in metrics_pods(NAMESPACE)}
        return running <= have
    wait_for(ok, timeout, "metrics API serving node and qsign pod usage", interval=1)


def up() -> dict:
    """Create (or start, or just confirm) the cluster and everything in it, and wait
    until it is healthy. Idempotent: a second call converges the same objects again and
    undoes what the fault helpers left (fault labels, replicas, usage, short-lived TLS
    certificates, injected PVCs/Events/failed Jobs, Warning events in qsign), so do not
    run it while a test has a fault injected. Returns status() plus timings."""
    with _locked():
        return _up()


def _up() -> dict:
    t0 = time.monotonic()
    timings: dict[str, float] = {}

    def step(name: str, fn, *args) -> None:
        t = time.monotonic()
        fn(*args)
        timings[name] = round(time.monotonic() - t, 1)

    state_dir().mkdir(parents=True, exist_ok=True)
    bins = _check_binaries()
    canary()
    _ensure_app_logs()
    step("control_plane", _start_cluster, bins)
    step("nodes", _ensure_nodes)
    step("reader", _ensure_reader)
    step("qsign_apply", _apply_qsign)
    _apply_kube_system()
    _clear_template_faults()
    _remove_injected()
    clear_events(NAMESPACE, "Warning")  # leftovers of earlier faults
    step("qsign_healthy", _wait_qsign_healthy)
    step("backup_jobs", _ensure_backup_jobs)
    step("metrics", _wait_metrics)
    info = status()
    info["timings"] = timings
    info["up_seconds"] = round(time.monotonic() - t0, 1)
    return info


def down() -> None:
    """Stop every process of the cluster and delete it (etcd data, pki, audit log);
    remove the kubeconfigs that pointed at it. No process is left behind."""
    with _locked():
        _down()


def _down() -> None:
    _stop_processes()
    if cluster_dir().exists():
        try:
            _kwokctl("delete", "cluster", "--name", target().name, timeout=180, check=False)
        except subprocess.TimeoutExpired:
            _log("kwokctl delete cluster timed out")
    _stop_processes()
    if cluster_dir().exists():
        import shutil
        shutil.rmtree(cluster_dir(), ignore_errors=True)
    for p in (kubeconfig(), reader_kubeconfig()):
        p.unlink(missing_ok=True)
    _clients.clear()


def status() -> dict:
    """What runs and where: components with pids, API server, nodes, qsign summary."""
    info: dict[str, Any] = {
        "cluster": CLUSTER,
        "context": CONTEXT,
        "server": server_url(),
        "kubeconfig": str(kubeconfig()),
        "reader_kubeconfig": str(reader_kubeconfig()),
        "reader_user": READER_USER,
        "audit_log": str(audit_log()),
        "workdir": str(cluster_dir()),
        "components": _component_pids(),
        "running": False,
    }
    if not kubeconfig().exists():
        return info
    try:
        info["running"] = _api_ready()
    except Exception as exc:
        info["error"] = str(exc)
        return info
    try:
        info["nodes"] = {n["metadata"]["name"]: node_ready(n) for n in list_("Node")}
        pods = list_("Pod", NAMESPACE)
        info["qsign_pods"] = {p["metadata"]["name"]: p.get("status", {}).get("phase")
                              + ("/Ready" if pod_ready(p) else "") for p in pods}
        info["metrics_api"] = bool(metrics_nodes())
    except Exception as exc:
        info["error"] = str(exc)
    return info


# --------------------------------------------------------------------- fault helpers

def scale(kind: str, namespace: str, name: str, replicas: int, timeout: float = DEFAULT_TIMEOUT) -> dict:
    """Scale a Deployment or StatefulSet through its scale subresource; wait until the
    controller has exactly `replicas` ready pods (0: until its pods are gone)."""
    kind = _kind(kind)
    if kind not in ("Deployment", "StatefulSet", "ReplicaSet"):
        raise ValueError(f"cannot scale a {kind}")
    patch(kind, namespace, name, {"spec": {"replicas": replicas}}, sub="scale")

    def done() -> bool:
        obj = get(kind, namespace, name)
        st = obj.get("status") or {}
        if st.get("observedGeneration", 0) < obj["metadata"]["generation"]:
            return False
        sel = obj["spec"]["selector"]["matchLabels"]
        pods = _pods_of(namespace, sel)
        if any(p["metadata"].get("deletionTimestamp") for p in list_("Pod", namespace,
               ",".join(f"{k}={v}" for k, v in sel.items()))):
            return False
        return (st.get("replicas", 0) == replicas and (st.get("readyReplicas") or 0) == replicas
                and len(pods) == replicas)
    wait_for(done, timeout, f"{kind} {namespace}/{name} at {replicas} ready replicas")
    return get(kind, namespace, name)


def _fault_state_ok(pod: dict, fault: str) -> bool:
    st = pod.get("status") or {}
    cs = (st.get("containerStatuses") or [{}])[0]
    if fault == "crashloop":
        return (st.get("phase") == "Running" and not cs.get("ready")
                and (cs.get("state") or {}).get("waiting", {}).get("reason") == "CrashLoopBackOff"
                and cs.get("restartCount", 0) >= 5
                and (cs.get("lastState") or {}).get("terminated", {}).get("reason") == "Error")
    if fault == "oomkilled":
        return (pod_ready(pod) and cs.get("restartCount") == 1
                and (cs.get("lastState") or {}).get("terminated", {}).get("reason") == "OOMKilled")
    if fault == "fail":
        return st.get("phase") == "Failed"
    raise ValueError(fault)


def set_load_balancer_address(kind: str, namespace: str, name: str, address: str | None,
                              timeout: float = 30) -> dict:
    """Set (address, e.g. "127.0.0.1") or clear (None) status.loadBalancer.ingress of a
    Service of type LoadBalancer or an Ingress. Nothing in this cluster fills that status
    (no cloud LB controller, no ingress controller): the test environment plays that
    controller and writes it through the status subresource. up() puts 127.0.0.1 back."""
    kind = _kind(kind)
    if kind not in ("Service", "Ingress"):
        raise ValueError("kind must be Service or Ingress")
    if address is None:
        lb: dict = {"ingress": None}
    else:
        entry = {"ip": address} if address.replace(".", "").isdigit() or ":" in address else {"hostname": address}
        if kind == "Service" and "ip" in entry:
            entry["ipMode"] = "VIP"
        lb = {"ingress": [entry]}
    patch(kind, namespace, name, {"status": {"loadBalancer": lb}}, sub="status")

    def visible() -> bool:
        ing = ((get(kind, namespace, name) or {}).get("status", {}).get("loadBalancer") or {}).get("ingress")
        return not ing if address is None else bool(ing) and address in (ing[0].get("ip"), ing[0].get("hostname"))
    wait_for(visible, timeout, f"{kind} {namespace}/{name} load balancer address {address}")
    return get(kind, namespace, name)


def set_template_fault(namespace: str, deployment: str, fault: str | None,
                       timeout: float = DEFAULT_TIMEOUT) -> list[dict]:
    """Add (fault='crashloop'|'oomkilled') or remove (None) the opscheck.testenv/fault
    label on a Deployment's pod template; the Deployment controller rolls it out and kwok's
    fault stages act on the new pods. Waits until every pod of the Deployment shows the
    fault (crashloop: all replicas Running, not ready, CrashLoopBackOff, restartCount 5,
    Deployment unavailable; oomkilled: all ready with restartCount 1 and lastState
    OOMKilled) or, for None, until the rollout is back to all-ready pods without the
    label, and then deletes the Warning events about the Deployment's pods (BackOff).
    Returns the Deployment's pods. ('fail' is for Job pods: see run_backup_job.)"""
    if fault not in (None, "crashloop", "oomkilled"):
        raise ValueError("fault must be 'crashloop', 'oomkilled' or None "
                         "(a Deployment pod that fails is replaced at once, forever)")
    d = get("Deployment", namespace, deployment)
    if d is None:
        raise LookupError(f"Deployment {namespace}/{deployment} not found")
    labels = d["spec"]["template"]["metadata"].get("labels") or {}
    esc = "/spec/template/metadata/labels/" + FAULT_LABEL.replace("/", "~1")
    if fault is None:
        if FAULT_LABEL in labels:
            patch("Deployment", namespace, deployment, [{"op": "remove", "path": esc}], kind_of_patch="json")
    elif labels.get(FAULT_LABEL) != fault:
        patch("Deployment", namespace, deployment,
              {"spec": {"template": {"metadata": {"labels": {FAULT_LABEL: fault}}}}})
    sel = d["spec"]["selector"]["matchLabels"]
    want = d["spec"].get("replicas", 1)

    def done() -> bool:
        obj = get("Deployment", namespace, deployment)
        st = obj.get("status") or {}
        if st.get("observedGeneration", 0) < obj["metadata"]["generation"]:
            return False
        all_pods = list_("Pod", namespace, ",".join(f"{k}={v}" for k, v in sel.items()))
        if any(p["metadata"].get("deletionTimestamp") for p in all_pods) or len(all_pods) != want:
            return False
        if fault is None:
            return deployment_done(obj) and all(
                FAULT_LABEL not in p["metadata"].get("labels", {}) and pod_ready(p) for p in all_pods)
        return all(p["metadata"].get("labels", {}).get(FAULT_LABEL) == fault
                   and _fault_state_ok(p, fault) for p in all_pods)
    what = f"Deployment {namespace}/{deployment} pods " + (f"in fault {fault}" if fault else "healthy")
    wait_for(done, timeout, what, interval=0.5)
    if fault is None:
        # the repair also clears the Warning events the fault raised (BackOff of the
        # Deployment's former pods), so a later Warning-events check starts clean
        _delete_events(namespace, lambda o: o.get("kind") == "Pod"
                       and o.get("name", "").startswith(deployment + "-"))
    return _pods_of(namespace, sel)


def create_event(namespace: str, involved_kind: str, involved_name: str, type: str,
                 reason: str, message: str) -> str:
    """Create a core/v1 Event about an object (its uid filled in if it exists);
    returns the Event's name once the API serves it."""
    kind = _kind(involved_kind)
    api_version, _, namespaced = KINDS[kind]
    obj = get(kind, namespace if namespaced else None, involved_name)
    now = _now()
    name = f"{involved_name}.{secrets.token_hex(8)}"
    ref = {"kind": kind, "apiVersion": api_version, "name": involved_name}
    if namespaced:
        ref["namespace"] = namespace
    if obj:
        ref["uid"] = obj["metadata"]["uid"]
        ref["resourceVersion"] = obj["metadata"]["resourceVersion"]
    ev = {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {"opscheck.testenv/injected": "true"}},
        "involvedObject": ref, "type": type, "reason": reason, "message": message,
        "source": {"component": "opscheck-testenv"},
        "reportingComponent": "opscheck-testenv", "reportingInstance": "opscheck-testenv",
        "firstTimestamp": _rfc3339(now), "lastTimestamp": _rfc3339(now), "count": 1,
    }
    request("POST", _path("Event", namespace), ev)
    wait_for(lambda: get("Event", namespace, name) is not None, 10, f"Event {name}")
    return name


def delete_event(namespace: str, name: str) -> None:
    delete("Event", namespace, name)


def clear_events(namespace: str = NAMESPACE, type: str | None = "Warning") -> int:
    """Delete the Events of a namespace (only those of `type`, unless None), e.g. the
    BackOff warnings a crashloop fault left, so the next test starts clean. Returns how
    many were deleted."""
    events = [e for e in list_("Event", namespace) if type is None or e.get("type") == type]
    for e in events:
        try:
            request("DELETE", _path("Event", namespace, e["metadata"]["name"]))
        except ApiError as exc:
            if exc.status != 404:
                raise
    return len(events)


_JOB_TEMPLATE_FAULT_PATH = "/spec/jobTemplate/spec/template/metadata/labels/" + FAULT_LABEL.replace("/", "~1")


def _cronjob_broken(cj: dict) -> bool:
    tpl = cj["spec"]["jobTemplate"]["spec"]["template"]
    return (tpl.get("metadata") or {}).get("labels", {}).get(FAULT_LABEL) == "fail"


def _run_job_from(cj: dict, *, succeed: bool, scheduled: dt.datetime | None = None,
                  timeout: float = DEFAULT_TIMEOUT) -> dict:
    """Create a Job from the CronJob's jobTemplate, wait until it finishes as expected,
    then adopt it (ownerReference to the CronJob, controller=true). Adopting it only once
    it has finished lets the CronJob controller record it (lastSuccessfulTime) without the
    UnexpectedJob warning it raises for a running Job it did not create."""
    namespace, cronjob = cj["metadata"]["namespace"], cj["metadata"]["name"]
    tpl = json.loads(json.dumps(cj["spec"]["jobTemplate"]))
    md = tpl.get("metadata") or {}
    spec = tpl["spec"]
    labels = dict(md.get("labels") or {})
    annotations = dict(md.get("annotations") or {})
    if scheduled is not None:
        # named and annotated as the CronJob controller names a scheduled run
        name = f"{cronjob}-{int(scheduled.timestamp()) // 60}"
        annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"] = _rfc3339(scheduled)
    else:
        name = f"{cronjob}-manual-{secrets.token_hex(3)}"
        annotations["cronjob.kubernetes.io/instantiate"] = "manual"  # as kubectl --from does
    pod_labels = spec["template"].setdefault("metadata", {}).setdefault("labels", {})
    if succeed:
        pod_labels.pop(FAULT_LABEL, None)
    else:
        spec["backoffLimit"] = 0
        pod_labels[FAULT_LABEL] = "fail"
        labels["opscheck.testenv/injected"] = "true"  # up() removes it again
    job = {"apiVersion": "batch/v1", "kind": "Job",
           "metadata": {"name": name, "namespace": namespace, "labels": labels, "annotations": annotations},
           "spec": spec}
    request("POST", _path("Job", namespace), job, query={"fieldManager": FIELD_MANAGER})
    want = "Complete" if succeed else "Failed"
    wait_for(lambda: job_finished(get("Job", namespace, name)) is not None, timeout, f"Job {name} to finish")
    got = job_finished(get("Job", namespace, name))
    if got != want:
        raise RuntimeError(f"Job {namespace}/{name} ended {got}, expected {want}")
    owner = {"apiVersion": "batch/v1", "kind": "CronJob", "name": cronjob,
             "uid": cj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}
    patch("Job", namespace, name, {"metadata": {"ownerReferences": [owner]}})
    if succeed:
        def recorded() -> bool:
            last = (get("CronJob", namespace, cronjob).get("status") or {}).get("lastSuccessfulTime")
            done = get("Job", namespace, name)["status"].get("completionTime")
            return bool(last and done and last >= done)
        wait_for(recorded, 30, f"CronJob {cronjob} lastSuccessfulTime")
    return get("Job", namespace, name)


def run_backup_job(namespace: str, cronjob: str, succeed: bool = True,
                   timeout: float = DEFAULT_TIMEOUT) -> dict:
    """Run the backup now, as `kubectl create job --from=cronjob/<cronjob>` does, and wait
    for the Job to finish (~2-3 s). Returns the Job.

    succeed=False breaks the backup: the CronJob's pod template gets
    opscheck.testenv/fault=fail (so scheduled runs fail too while it is broken, as a real
    broken backup would), and the Job run now (backoffLimit 0) ends Failed
    (BackoffLimitExceeded). Failed Jobs made here carry opscheck.testenv/injected=true and
    the next up() deletes them.
    succeed=True repairs first: removes the fault label from the CronJob, deletes runs of
    the broken template still in flight and the Warning events about this CronJob's Jobs,
    then runs a Job that completes, so it is the newest finished run."""
    cj = get("CronJob", namespace, cronjob)
    if cj is None:
        raise LookupError(f"CronJob {namespace}/{cronjob} not found")
    if not succeed:
        if not _cronjob_broken(cj):
            patch("CronJob", namespace, cronjob, {"spec": {"jobTemplate": {"spec": {"template": {
                "metadata": {"labels": {FAULT_LABEL: "fail"}}}}}}})
            cj = get("CronJob", namespace, cronjob)
        return _run_job_from(cj, succeed=False, timeout=timeout)
    if _cronjob_broken(cj):
        patch("CronJob", namespace, cronjob, [{"op": "remove", "path": _JOB_TEMPLATE_FAULT_PATH}],
              kind_of_patch="json")
        cj = get("CronJob", namespace, cronjob)
    for j in _jobs_of(namespace, cronjob) + [j for j in list_("Job", namespace, "opscheck.testenv/injected=true")
                                             if j["metadata"]["name"].startswith(cronjob + "-")]:
        labels = (j["spec"]["template"].get("metadata") or {}).get("labels") or {}
        if not job_finished(j) and labels.get(FAULT_LABEL) == "fail":
            delete("Job", namespace, j["metadata"]["name"])
    _delete_events(namespace, lambda o: o.get("kind") in ("Job", "Pod")
                   and o.get("name", "").startswith(cronjob + "-"))
    return _run_job_from(cj, succeed=True, timeout=timeout)


def put_tls_secret(namespace: str, name: str, days_valid: int) -> dict:
    """Replace a TLS Secret with a new real certificate (same CN/SANs) valid for
    `days_valid` days from now (<= 0: already expired). Returns {'not_after', 'cn'}."""
    service, extra = TLS_SECRETS.get(name, (name.removesuffix("-tls"), []))
    pair = certs.service_cert(service, namespace, days_valid=days_valid, extra_sans=extra)
    body = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {"app": service, "app.kubernetes.io/part-of": "qsign"}},
            "data": {k: base64.b64encode(v).decode() for k, v in certs.tls_secret_data(pair).items()}}
    if get("Secret", namespace, name) is None:
        request("POST", _path("Secret", namespace), body)
    else:
        apply(body)
    got = get("Secret", namespace, name)
    if base64.b64decode(got["data"]["tls.crt"]) != pair.cert_pem:
        raise RuntimeError(f"Secret {namespace}/{name} was not replaced")
    cert = pair.cert
    return {"not_after": cert.not_valid_after_utc.isoformat(),
            "cn": cert.subject.rfc4514_string()}


def _parse_cpu(q: str) -> float:
    q = str(q)
    if q.endswith("n"):
        return float(q[:-1]) / 1e9
    if q.endswith("u"):
        return float(q[:-1]) / 1e6
    if q.endswith("m"):
        return float(q[:-1]) / 1e3
    return float(q)


def _parse_mem(q: str) -> float:
    q = str(q)
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
    for u in ("Ki", "Mi", "Gi", "Ti", "k", "M", "G", "T"):
        if q.endswith(u):
            return float(q[: -len(u)]) * units[u]
    return float(q)


def _baseline_usage(namespace: str, deployment: str) -> tuple[str, str]:
    """The usage annotations of a Deployment's template as the manifests have them."""
    for name in ("qsign.yaml", "kube-system.yaml"):
        for d in _load_yaml(name):
            if (d["kind"] == "Deployment" and d["metadata"]["name"] == deployment
                    and d["metadata"].get("namespace") == namespace):
                ann = d["spec"]["template"]["metadata"].get("annotations") or {}
                return ann.get("kwok.x-k8s.io/usage-cpu", "1m"), ann.get("kwok.x-k8s.io/usage-memory", "16Mi")
    return "1m", "16Mi"


def set_pod_usage(namespace: str, deployment: str, cpu: str | None = None, memory: str | None = None,
                  timeout: float = 180) -> list[dict]:
    """Set the simulated usage (kwok.x-k8s.io/usage-cpu/-memory on the pod template) of a
    Deployment; None restores that value from the manifests (both None: the baseline).
    The Deployment controller rolls the change out; waits until the metrics API reports
    the new usage for every pod (cpu within 10%, memory within 1%), which takes ~20-30 s
    (metrics-server needs two scrapes of a new pod). Returns the PodMetrics items."""
    base_cpu, base_mem = _baseline_usage(namespace, deployment)
    cpu = cpu if cpu is not None else base_cpu
    memory = memory if memory is not None else base_mem
    patch("Deployment", namespace, deployment, {"spec": {"template": {"metadata": {"annotations": {
        "kwok.x-k8s.io/usage-cpu": cpu, "kwok.x-k8s.io/usage-memory": memory}}}}})
    d = get("Deployment", namespace, deployment)
    sel = d["spec"]["selector"]["matchLabels"]
    want_cpu, want_mem = _parse_cpu(cpu), _parse_mem(memory)
    wait_for(lambda: deployment_done(get("Deployment", namespace, deployment))
             and len(list_("Pod", namespace, ",".join(f"{k}={v}" for k, v in sel.items())))
             == d["spec"].get("replicas", 1), timeout, f"rollout of {deployment}", interval=0.5)
    result: list[dict] = []

    def reflected() -> bool:
        pods = {p["metadata"]["name"] for p in _pods_of(namespace, sel)}
        ms = [m for m in metrics_pods(namespace) if m["metadata"]["name"] in pods]
        if {m["metadata"]["name"] for m in ms} != pods:
            return False
        for m in ms:
            c = sum(_parse_cpu(x["usage"]["cpu"]) for x in m["containers"])
            mem = sum(_parse_mem(x["usage"]["memory"]) for x in m["containers"])
            if abs(c - want_cpu) > max(0.1 * want_cpu, 0.002) or abs(mem - want_mem) > 0.01 * want_mem:
                return False
        result[:] = ms
        return True
    wait_for(reflected, timeout, f"metrics of {deployment} at cpu={cpu} memory={memory}", interval=1)
    return result


def create_pvc(namespace: str, name: str, size: str = "5Gi") -> dict:
    """A claim no volume can satisfy, so it stays Pending: storageClassName "" (static
    binding only, so no provisioner is tried and no Warning event is raised; the PV
    controller records a Normal FailedBinding event) and a selector no PV has. Waits
    until the PV controller has looked at it (a few seconds) and it is still Pending."""
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
           "metadata": {"name": name, "namespace": namespace,
                        "labels": {"opscheck.testenv/injected": "true"}},
           "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "",
                    "selector": {"matchLabels": {"opscheck.testenv/volume": name}},
                    "resources": {"requests": {"storage": size}}}}
    request("POST", _path("PersistentVolumeClaim", namespace), pvc)
    wait_for(lambda: (get("PersistentVolumeClaim", namespace, name) or {}).get("status", {})
             .get("phase") == "Pending", 20, f"PVC {name} Pending")
    time.sleep(2)
    got = get("PersistentVolumeClaim", namespace, name)
    if got["status"].get("phase") != "Pending":
        raise RuntimeError(f"PVC {namespace}/{name} is {got['status'].get('phase')}, not Pending")
    return got


def delete(kind: str, namespace: str | None, name: str, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Delete an object (background propagation) and wait until the API no longer has it.
    The Events about it go too (a real cluster keeps them for an hour; a self-test that
    repairs by deleting wants them gone, e.g. a Pending PVC's events)."""
    kind = _kind(kind)
    ns = namespace if KINDS[kind][2] else None
    try:
        request("DELETE", _path(kind, ns, name), {"propagationPolicy": "Background"})
    except ApiError as exc:
        if exc.status != 404:
            raise
    wait_for(lambda: get(kind, ns, name) is None, timeout, f"{kind} {name} deleted")
    if kind != "Event" and namespace:
        _delete_events(namespace, lambda o: o.get("kind") == kind and o.get("name") == name, warning_only=False)


def _delete_events(namespace: str, about, warning_only: bool = True) -> int:
    """Delete the Events in `namespace` whose involvedObject satisfies `about`."""
    n = 0
    for e in list_("Event", namespace):
        if warning_only and e.get("type") != "Warning":
            continue
        if not about(e.get("involvedObject") or {}):
            continue
        try:
            request("DELETE", _path("Event", namespace, e["metadata"]["name"]))
            n += 1
        except ApiError as exc:
            if exc.status != 404:
                raise
    return n


def set_node_ready(node: str, ready: bool, timeout: float = DEFAULT_TIMEOUT) -> dict:
    """ready=False: label the node opscheck.testenv/node-fault=not-ready; kwok's
    opscheck-node-not-ready stage has the "kubelet" report Ready=False (KubeletNotReady);
    waits until the node lifecycle controller has tainted it node.kubernetes.io/not-ready
    (NoSchedule and NoExecute). As with a real kubelet that reports NotReady (rather than
    going silent), the pods already there keep their last reported status; the controller
    marks a pod NotReady only when that pod changes, and evicts them after 300 s.
    ready=True: remove the label, wait for Ready=True and the taints to go, then have kwok
    re-report as Ready any of the node's pods the controller had marked NotReady (the
    kubelet's status resync; see opscheck-pod-resync) and wait for that."""
    if ready:
        n = get("Node", None, node)
        if NODE_FAULT_LABEL in (n["metadata"].get("labels") or {}):
            patch("Node", None, node, {"metadata": {"labels": {NODE_FAULT_LABEL: None}}})
        wait_for(lambda: node_ready(get("Node", None, node)), timeout, f"node {node} Ready")
        wait_for(lambda: not _node_unhealthy_taints(get("Node", None, node)), timeout,
                 f"node {node} not-ready taints removed")

        def stale() -> list[dict]:
            return [p for p in list_("Pod", None, field_selector=f"spec.nodeName={node}")
                    if p.get("status", {}).get("phase") == "Running" and not pod_ready(p)
                    and not p["metadata"].get("deletionTimestamp")
                    and p["metadata"].get("labels", {}).get(FAULT_LABEL) not in ("crashloop", "fail")]
        for p in stale():
            patch("Pod", p["metadata"]["namespace"], p["metadata"]["name"],
                  {"metadata": {"annotations": {RESYNC_ANNOTATION: _rfc3339()}}})
        wait_for(lambda: not stale(), timeout, f"pods on {node} Ready again")
    else:
        patch("Node", None, node, {"metadata": {"labels": {NODE_FAULT_LABEL: "not-ready"}}})
        wait_for(lambda: not node_ready(get("Node", None, node)), timeout, f"node {node} NotReady")
        # the node lifecycle controller's next pass (node-monitor-period 5 s) adds the
        # NoExecute taint; pods tolerate it for 300 s (DefaultTolerationSeconds), then the
        # taint manager evicts them and their controllers replace them on other nodes
        wait_for(lambda: any(t["key"] == "node.kubernetes.io/not-ready" and t["effect"] == "NoExecute"
                             for t in (get("Node", None, node)["spec"].get("taints") or [])),
                 timeout, f"node {node} tainted not-ready:NoExecute")
    return get("Node", None, node)


def set_node_condition(node: str, ready: bool, timeout: float = DEFAULT_TIMEOUT) -> dict:
    """Alias of set_node_ready (the only node condition the stages drive is Ready)."""
    return set_node_ready(node, ready, timeout)


def pod_log(namespace: str, pod: str, container: str, since_seconds: int | None = None,
            client=None) -> str:
    q: dict[str, Any] = {"container": container}
    if since_seconds is not None:
        q["sinceSeconds"] = since_seconds
    return request("GET", f"/api/v1/namespaces/{namespace}/pods/{pod}/log", query=q, raw=True,
                   client=client)


def audit_events(path: Path | None = None) -> Iterable[dict]:
    """Parsed audit log lines."""
    with open(path or audit_log()) as f:
        for line in f:
            line = line.strip()
            if line:
                yield json.loads(line)


if __name__ == "__main__":  # python -m testenv.cluster up|down|status
    cmd = sys.argv[1] if len(sys.argv) > 1 else "status"
    if cmd == "up":
        print(json.dumps(up(), indent=2))
    elif cmd == "down":
        down()
    else:
        print(json.dumps(status(), indent=2))
