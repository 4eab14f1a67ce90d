"""Cilium Cluster Mesh status as the agents export it (`cilium clustermesh status` asks the
same agents): per agent and remote cluster, a readiness gauge (1 ready) and the time of
the last failure (0 never), read from the Prometheus that scrapes them."""

from __future__ import annotations

import json
from dataclasses import dataclass

from opscheck.sources.prometheus import PrometheusReader, Sample

READINESS = "cilium_clustermesh_remote_cluster_readiness_status"
LAST_FAILURE = "cilium_clustermesh_remote_cluster_last_failure_ts"


@dataclass(frozen=True)
class MeshStatus:
    readiness: list[Sample]
    last_failure: list[Sample]
    query: str  # the readiness query, for the record


def selector(cluster_label: str | None, cluster: str) -> str:
    """`{cluster="app1"}`: the series of one cluster's agents; empty without a cluster label."""
    # json.dumps quotes and escapes as PromQL's double-quoted strings expect
    return f"{{{cluster_label}={json.dumps(cluster)}}}" if cluster_label else ""


def mesh_status(prometheus: PrometheusReader, cluster_label: str | None, cluster: str) -> MeshStatus:
    """The readiness and last-failure series of `cluster`'s agents."""
    where = selector(cluster_label, cluster)
    query = READINESS + where
    return MeshStatus(prometheus.query(query), prometheus.query(LAST_FAILURE + where), query)
