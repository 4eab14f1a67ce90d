"""The benchmark's own kwok cluster, "bench": never the demo or multicluster clusters.

It is a testenv KwokTarget run by testenv/cluster.py's lifecycle functions, with its own
ports (BENCH_PORTS, registered into testenv.paths.PORTS at import, refusing any clash) and
its own state directory: the bench process points OPSCHECK_TESTENV_HOME at
<the test environment's state dir>/bench before anything runs (use_bench_home()), so its
kwok workdir, kubeconfigs, audit policy, CA and locks live there, apart from the shared
test environment.

kube-controller-manager runs only the controllers the bench objects need: the pods are
created bound to their node (no scheduling) with an ownerReference to a ReplicaSet whose
status the bench writes, so no Deployment/ReplicaSet controller may fight them; the
garbage collector is off too (it would watch every object for nothing).
"""

from __future__ import annotations

import os
from pathlib import Path

from testenv import cluster as testenv_cluster
from testenv.cluster import KwokTarget
from testenv.paths import PORTS, state_dir

NAME = "bench"
CONTEXT = "bench"
# A block of ports testenv/paths.py does not use (checked below).
# "bench" alone for the single-cluster bench; "bench2" and "bench3" join it for the
# many-clusters measurement (python -m bench clusters).
NAMES = ("bench", "bench2", "bench3")
BENCH_PORTS = {
    key: port
    for i, name in enumerate(NAMES)
    for key, port in {
        f"kube-apiserver-{name}": 16460 + i,
        f"etcd-{name}": 16560 + 10 * i,
        f"etcd-peer-{name}": 16561 + 10 * i,
        f"kube-controller-manager-{name}": 16562 + 10 * i,
        f"kube-scheduler-{name}": 16563 + 10 * i,
        f"kwok-controller-{name}": 16564 + 10 * i,
        f"metrics-server-{name}": 16565 + 10 * i,
    }.items()
}
_clash = {k for k in BENCH_PORTS if k in PORTS and PORTS[k] != BENCH_PORTS[k]} | (
    set(BENCH_PORTS.values()) & {v for k, v in PORTS.items() if k not in BENCH_PORTS}
)
if _clash:
    raise RuntimeError(f"bench ports clash with testenv/paths.py PORTS: {sorted(map(str, _clash))}")
PORTS.update(BENCH_PORTS)

# Namespaces get their default ServiceAccount (pods need it), node health clears the kwok
# nodes' not-ready taints, Services get their EndpointSlices/Endpoints as in production.
CONTROLLERS = "serviceaccount,namespace,endpoint,endpointslice,nodelifecycle"
# Where the TLS Secret the certificate check reads lives (the reader's Secrets Role is there).
BASE_NAMESPACE = "bench-base"


def testenv_home() -> Path:
    """The shared test environment's state directory (as if OPSCHECK_TESTENV_HOME were unset
    by the bench)."""
    return Path(os.environ.get("OPSCHECK_BENCH_TESTENV_HOME") or state_dir())


def use_bench_home() -> Path:
    """Point testenv's state directory at <testenv state>/bench for this process and its
    children; returns it. Idempotent."""
    if "OPSCHECK_BENCH_TESTENV_HOME" not in os.environ:
        os.environ["OPSCHECK_BENCH_TESTENV_HOME"] = str(state_dir())
    home = testenv_home() / "bench"
    home.mkdir(parents=True, exist_ok=True)
    os.environ["OPSCHECK_TESTENV_HOME"] = str(home)
    return home


def _target(name: str, home: Path | None = None) -> KwokTarget:
    return KwokTarget(
        name=name,
        context=name,
        apiserver_port=f"kube-apiserver-{name}",
        home=home,
        component_ports=testenv_cluster.component_ports(name),
        metrics_server=True,
        secret_namespaces=(BASE_NAMESPACE,),
        component_args=(
            ("kube-controller-manager", "controllers", CONTROLLERS),
            ("kube-controller-manager", "leader-elect", "false"),
            ("kube-scheduler", "leader-elect", "false"),
            # 50k pods: the default client rate limits (QPS 50) would make the endpoint
            # controllers lag minutes behind the populate
            ("kube-controller-manager", "kube-api-qps", "500"),
            ("kube-controller-manager", "kube-api-burst", "1000"),
            # At 50k pods kwok-controller, sharing 2 cores with the API server, renewed some
            # of its 457 nodes' heartbeats late: with kwokctl's 40 s grace they flapped
            # NotReady (NodeNotReady events, pods marked not ready) during the measured runs
            ("kube-controller-manager", "node-monitor-grace-period", "10m"),
        ),
    )


# The single-cluster bench's cluster: its kubeconfigs in the bench home itself.
TARGET = _target(NAME)
_targets: dict[str, KwokTarget] = {NAME: TARGET}


def target(name: str) -> KwokTarget:
    """Bench cluster `name` (one of NAMES); the others than "bench" keep their kubeconfigs
    in <bench home>/<name> (a KwokTarget's kubeconfig files are per home)."""
    if name not in _targets:
        if name not in NAMES:
            raise ValueError(f"unknown bench cluster {name!r}: {', '.join(NAMES)}")
        home = use_bench_home() / name
        home.mkdir(exist_ok=True)
        _targets[name] = _target(name, home)
    return _targets[name]


def up(t: KwokTarget = TARGET) -> None:
    """Start a bench cluster (fresh: any earlier one is deleted first, so every run
    starts from the same empty cluster) and its read-only identity."""
    use_bench_home()
    testenv_cluster.ensure_app_logs()
    down(t)
    with testenv_cluster.locked(t):
        testenv_cluster.start_cluster(t, testenv_cluster.check_binaries())
        testenv_cluster.ensure_reader(t)


def up_or_reuse(t: KwokTarget = TARGET) -> bool:
    """Reuse the bench cluster when it is up (it grows from where it is: populate adds only
    what is missing), else start it fresh. True when reused."""
    use_bench_home()
    if testenv_cluster.components_up(t):
        with testenv_cluster.locked(t):
            testenv_cluster.ensure_reader(t)
        return True
    up(t)
    return False


def down(t: KwokTarget = TARGET) -> None:
    """Stop and delete a bench cluster; no process is left."""
    use_bench_home()
    if t.cluster_dir().exists() or testenv_cluster.stray_pids(t):
        testenv_cluster.delete_cluster(t)


def component_pids() -> dict[str, int]:
    return testenv_cluster.component_pids(TARGET)
