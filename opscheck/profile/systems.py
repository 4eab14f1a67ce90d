"""Supporting systems: Redis, the cluster DNS, the log pipeline, node disks, log indices."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, field_validator

from opscheck.profile.common import SecretRef, Strict, expand_path


class RedisConfig(Strict):
    """A Redis the checks PING and read INFO from (002: redis-cluster-0). Give opscheck an ACL
    user limited to `+ping +info`, like its other read-only identities."""

    host: str
    port: int = 6379
    username: str | None = None
    password: SecretRef | None = None
    tls: bool = False
    timeout_seconds: Annotated[float, Field(gt=0)] = 5
    # INFO memory: used_memory against maxmemory (a cache without maxmemory is unbounded).
    max_memory_percent: Annotated[float, Field(gt=0, le=100)] = 80
    # INFO stats: keyspace_hits / (hits + misses), judged once there were min_lookups lookups.
    min_hit_rate: Annotated[float, Field(ge=0, le=1)] = 0.8
    min_lookups: Annotated[int, Field(ge=1)] = 100


class ClusterDns(Strict):
    """The cluster DNS (003: Service endpoints and DNS resolution). `resolver` (host:port) is
    a DNS server answering for the cluster domain from where opscheck runs (in a pod: the
    kube-dns ClusterIP; outside: a NodePort or LoadBalancer in front of CoreDNS); without
    it only the DNS Service and its endpoints are checked."""

    namespace: str = "kube-system"
    service: str = "kube-dns"
    cluster_domain: str = "cluster.local"
    resolver: Annotated[str, Field(pattern=r"^[^\s:]+:[0-9]+$")] | None = None
    timeout_seconds: Annotated[float, Field(gt=0)] = 2


class LogPipeline(Strict):
    """The log shipper DaemonSet and the log store (003: Promtail and Loki)."""

    namespace: str = "monitoring"
    daemonset: str = "promtail"
    # Loki's base URL: GET /ready must answer 200 "ready"; none: only the DaemonSet is checked.
    loki_url: str | None = None
    timeout_seconds: Annotated[float, Field(gt=0)] = 5


class NodeDisk(Strict):
    """Node filesystems, read with `df` on the hosts with `host_role` (004 df -h: the node's
    and the image filesystem; 002 df -h | grep 80%+); the limit is thresholds.disk_percent."""

    host_role: str = "node"
    # The filesystems holding these paths; a path a node does not have is skipped (noted).
    paths: Annotated[list[str], Field(min_length=1)] = ["/", "/var/lib/containerd", "/var/lib/kubelet"]

    @property
    def expanded_paths(self) -> list[str]:
        """The paths with `${VAR}` and ~ expanded (where opscheck runs)."""
        return [str(expand_path(p)) for p in self.paths]

    def paths_on(self, host: str) -> list[str]:
        """The paths on `host`: `{host}` in them is the host's name (see EtcdBackups.path_on)."""
        return [p.replace("{host}", host) for p in self.expanded_paths]


class LogIndices(Strict):
    """Log indices in Elasticsearch/OpenSearch (002 weekly: delete indices older than 30 days),
    read with GET _cat/indices only. An index's age is taken from the date in its name when
    `name_date_format` finds one (the day its logs are from, what the runbook's delete keys
    on; a restore or reindex resets the creation date), else from its creation date."""

    url: str
    username: str | None = None
    password: SecretRef | None = None
    ca_file: str | None = None  # a CA bundle for https; default: the system's
    # fnmatch patterns of the log indices (002: logstash output and the weekly delete).
    patterns: Annotated[list[str], Field(min_length=1)] = ["logstash-*"]
    name_date_format: str | None = "%Y.%m.%d"  # strftime of the date in the names; null: creation date only
    retention_days: Annotated[float, Field(gt=0)] = 30
    timeout_seconds: Annotated[float, Field(gt=0)] = 10

    @field_validator("url")
    @classmethod
    def _no_credentials_in_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/@]+(/.*)?$", value):
            raise ValueError("must be http(s)://host:port with no user:password@ (use username and password)")
        return value.rstrip("/")
