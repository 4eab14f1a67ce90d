"""The Cilium agents' Cluster Mesh metrics, written by testenv.

The agents here are kwok pods, so no agent exports
cilium_clustermesh_remote_cluster_readiness_status and its siblings; testenv writes what
each agent's /metrics would show into node-exporter's textfile directory, one file per
system (testenv/prometheus.py scrapes node-exporter every 5 s), with the labels a
multi-cluster Prometheus adds: `cluster` (whose agent) and `node` (which agent). The
metric names, help and types are Cilium's (pkg/clustermesh/common/metrics.go, subsystem
clustermesh).

    publish(system, mesh, agents)     every agent of the local clusters ready for every
                                      other member (also undoes a fault's leftover)
    set_ready(system, cluster, remote, ready)
                                      one remote seen (not) ready by all of cluster's
                                      agents; waits until Prometheus has it
    remove(system)                    the system's file gone (its clusters are down)
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from testenv import prometheus
from testenv.paths import state_dir, under
from testenv.procs import wait_for

READINESS = "cilium_clustermesh_remote_cluster_readiness_status"
METRICS = {
    "cilium_clustermesh_remote_clusters": "The total number of remote clusters meshed with the local cluster",
    READINESS: "The readiness status of the remote cluster",
    "cilium_clustermesh_remote_cluster_last_failure_ts": "The timestamp of the last failure of the remote cluster",
    "cilium_clustermesh_remote_cluster_failures": "The total number of failures related to the remote cluster",
}
SCRAPED_TIMEOUT = 30.0

spec_dir = under(state_dir, "clustermesh")


def _metrics_file(system: str):
    return prometheus.textfile_dir() / f"cilium-clustermesh-{system}.prom"


def _render(spec: dict[str, Any]) -> str:
    series: dict[str, list[str]] = {name: [] for name in METRICS}
    failed = {(c, r): ts for c, r, ts in spec["not_ready"]}
    for cluster, nodes in spec["agents"].items():
        remotes = [r for r in spec["mesh"] if r != cluster]
        for node in nodes:
            agent = f'cluster="{cluster}",node="{node}"'
            series["cilium_clustermesh_remote_clusters"].append(f"{{{agent}}} {len(remotes)}")
            for remote in remotes:
                labels = f'{{{agent},target_cluster="{remote}"}}'
                down_since = failed.get((cluster, remote))
                series[READINESS].append(f"{labels} {0 if down_since else 1}")
                series["cilium_clustermesh_remote_cluster_last_failure_ts"].append(f"{labels} {down_since or 0}")
                series["cilium_clustermesh_remote_cluster_failures"].append(f"{labels} {1 if down_since else 0}")
    lines = []
    for name, help_text in METRICS.items():
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", *(name + s for s in series[name])]
    return "\n".join(lines) + "\n"


def _write(system: str, spec: dict[str, Any]) -> None:
    spec_dir().mkdir(parents=True, exist_ok=True)
    (spec_dir() / f"{system}.json").write_text(json.dumps(spec))
    target = _metrics_file(system)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".tmp")  # node-exporter reads only *.prom: never a half-written file
    partial.write_text(_render(spec))
    os.replace(partial, target)


def publish(system: str, mesh: list[str], agents: dict[str, list[str]]) -> None:
    """The healthy mesh: `agents` maps each local member cluster to its agents' nodes."""
    _write(system, {"mesh": mesh, "agents": agents, "not_ready": []})


def set_ready(system: str, cluster: str, remote: str, ready: bool) -> None:
    spec = json.loads((spec_dir() / f"{system}.json").read_text())
    spec["not_ready"] = [entry for entry in spec["not_ready"] if entry[:2] != [cluster, remote]]
    if not ready:
        spec["not_ready"].append([cluster, remote, int(time.time())])
    _write(system, spec)
    query = f'min({READINESS}{{cluster="{cluster}",target_cluster="{remote}"}})'
    want = "1" if ready else "0"
    wait_for(
        lambda: [r["value"][1] for r in prometheus.query(query)] == [want],
        SCRAPED_TIMEOUT,
        f"Prometheus to see {remote} {'ready' if ready else 'not ready'} in {cluster}",
        interval=0.5,
    )


def remove(system: str) -> None:
    _metrics_file(system).unlink(missing_ok=True)
