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
BENCH_PORTS = {
    "kube-apiserver-bench": 16460,
    "etcd-bench": 16560,
    "etcd-peer-bench": 16561,
    "kube-controller-manager-bench": 16562,
    "kube-scheduler-bench": 16563,
    "kwok-controller-bench": 16564,
    "metrics-server-bench": 16565,
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


TARGET = KwokTarget(
    name=NAME,
    context=CONTEXT,
    apiserver_port="kube-apiserver-bench",
    component_ports=testenv_cluster.component_ports("bench"),
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
    ),
)


def up() -> None:
    """Start the bench cluster (fresh: any earlier one is deleted first, so every run
    starts from the same empty cluster) and its read-only identity."""
    use_bench_home()
    testenv_cluster.ensure_app_logs()
    down()
    with testenv_cluster.locked(TARGET):
        testenv_cluster.start_cluster(TARGET, testenv_cluster.check_binaries())
        testenv_cluster.ensure_reader(TARGET)


def down() -> None:
    """Stop and delete the bench cluster; no process is left."""
    use_bench_home()
    if TARGET.cluster_dir().exists() or testenv_cluster.stray_pids(TARGET):
        testenv_cluster.delete_cluster(TARGET)


def component_pids() -> dict[str, int]:
    return testenv_cluster.component_pids(TARGET)
