"""The profile's `platform:` section: what the Kubernetes platform checks expect.

Velero schedules and backup age, External Secrets and Argo CD, the CNI, the Kubernetes
and node software versions, Helm releases, autoscaling bounds, unused resources, cost and
single points of failure. Defaults come from the runbooks (seeds 000-004). Embedded
as `Profile.platform` (opscheck/profile/model.py).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator

from opscheck.profile.common import Strict

# A Kubernetes-style version: v1.33, 1.33.13, v1.33.13-eks-1a2b3c.
VERSION = r"^v?\d+\.\d+(\.\d+)?([-+].*)?$"
# A Go duration as Velero writes a TTL: 720h0m0s, 168h, 90m.
GO_DURATION = r"^(\d+(\.\d+)?(h|m|s))+$"


class VeleroSchedule(Strict):
    """A Velero Schedule the runbook agrees on (`velero schedule get`)."""

    name: str
    schedule: str  # cron, as in spec.schedule: "0 2 * * *" is 매일 02:00
    ttl: Annotated[str, Field(pattern=GO_DURATION)]  # spec.template.ttl: 720h (30 days), 168h (7 days)
    # Namespaces the backups must include (spec.template.includedNamespaces, or all namespaces).
    included_namespaces: list[str] = []

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str) -> str:
        from croniter import croniter

        if not croniter.is_valid(re.sub(r"^CRON_TZ=\S+\s+", "", v)):
            raise ValueError(f"{v!r} is not a cron expression")
        return v


class VeleroConfig(Strict):
    namespace: str = "velero"
    schedules: list[VeleroSchedule] = []
    # The newest backup of each Schedule must have completed within this (default:
    # thresholds.backup_max_age_hours, 26 h).
    max_age_hours: Annotated[float, Field(gt=0)] | None = None
    # How long after a fire time the Schedule's lastBackup may still show the previous run.
    schedule_grace_minutes: Annotated[float, Field(ge=0)] = 60


class ExternalSecretsConfig(Strict):
    # The operator refreshes every spec.refreshInterval: a refreshTime older than this many
    # intervals is stale (the sync silently stopped).
    stale_after_intervals: Annotated[float, Field(gt=1)] = 2
    ignore: list[str] = []  # namespace/name


class ArgoCDConfig(Strict):
    ignore: list[str] = []  # namespace/name of Applications left out (e.g. manual sync on purpose)


class ClusterMesh(Strict):
    """Cilium Cluster Mesh (`cilium clustermesh status`), as the agents report it in their
    Prometheus metrics (cilium_clustermesh_remote_cluster_readiness_status per
    target_cluster): in each member cluster, every agent must have every other member ready."""

    # The mesh's clusters by their Cilium cluster name (the profile's clusters[].name for
    # those checked here); each member expects the others. A profile cluster not listed is
    # not in the mesh: only its agents are judged.
    clusters: Annotated[list[Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]], Field(min_length=2)]
    # The series label naming the cluster whose agent reported it: a Prometheus scraping
    # several clusters adds it (an external label or relabelling; Cilium before 1.15 set
    # source_cluster itself). null: the Prometheus scrapes one cluster's agents only.
    cluster_label: str | None = "cluster"
    # The Prometheus scraping the agents; unset: the profile's `prometheus`.
    prometheus_url: str | None = None
    timeout_seconds: Annotated[float, Field(gt=0)] = 10

    def remotes_of(self, cluster: str) -> list[str]:
        """The clusters `cluster` must be connected to; none when it is not a member."""
        return [c for c in self.clusters if c != cluster] if cluster in self.clusters else []


class CniConfig(Strict):
    """The CNI agent (`cilium status`): a DaemonSet on every node, and its operator; the
    cluster mesh where one is configured (`cilium clustermesh status`)."""

    namespace: str = "kube-system"
    daemonset: str = "cilium"
    operator: str | None = "cilium-operator"  # a Deployment in the same namespace
    # The agent's image tag must be at least this (runbook 004 upgrades to 1.16.0).
    min_version: Annotated[str, Field(pattern=VERSION)] | None = None
    clustermesh: ClusterMesh | None = None


class KubernetesVersions(Strict):
    """Server and kubelet versions (`kubectl version`, `kubectl get nodes`)."""

    # The oldest version still supported (e.g. the oldest of the three newest minors).
    min_version: Annotated[str, Field(pattern=VERSION)] | None = None
    # The newest release available: the report says how far behind the cluster is.
    latest_version: Annotated[str, Field(pattern=VERSION)] | None = None
    # The upgrade the predeploy gate is about (${VAR:-default} expanded, e.g.
    # ${K8S_TARGET_VERSION:-}); empty: only the kubelets' skew is checked.
    target_version: str | None = None
    # How many minor versions a kubelet may trail the API server (1.28 and later: 3).
    max_kubelet_skew: Annotated[int, Field(ge=0)] = 3


class NodePatches(Strict):
    """Node software patch levels (001: 보안 패치 적용), from each node's status.nodeInfo."""

    # minor -> the lowest acceptable kubelet patch release: {"1.33": "1.33.10"}
    min_kubelet_patch: dict[Annotated[str, Field(pattern=r"^\d+\.\d+$")], Annotated[str, Field(pattern=VERSION)]] = {}
    # The lowest acceptable kernel, compared by its numbers: 6.1.0-28 (Debian 12's 6.1.0-28-amd64).
    min_kernel: Annotated[str, Field(pattern=r"^\d+(\.\d+)*(-\d+)?")] | None = None
    # Regular expressions one of which every osImage must match (supported OS releases).
    os_images: list[str] = []
    # runtime name -> lowest acceptable version: {"containerd": "1.7.20"}
    min_container_runtime: dict[str, Annotated[str, Field(pattern=VERSION)]] = {}
    # The patch window for the running images (in the monitored namespaces, by their newest
    # Trivy report): none built longer ago than this, none on an end-of-life OS, and no
    # HIGH/CRITICAL finding fixed upstream longer ago than this left unapplied (a finding
    # without a published date counts at once). Unset: images are not judged here.
    image_max_age_days: Annotated[float, Field(gt=0)] | None = None

    @field_validator("os_images")
    @classmethod
    def _regexes(cls, v: list[str]) -> list[str]:
        for pattern in v:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r}: not a valid regular expression: {exc}") from None
        return v

    @property
    def configured(self) -> bool:
        return bool(
            self.min_kubelet_patch
            or self.min_kernel
            or self.os_images
            or self.min_container_runtime
            or self.image_max_age_days
        )


class HpaBounds(Strict):
    """The agreed HPA settings (002: min 3, max 20, cpu 70%, memory 80%); null: not required."""

    min_replicas: Annotated[int, Field(ge=1)] | None = 3
    max_replicas: Annotated[int, Field(ge=1)] | None = 20
    cpu_percent: Annotated[float, Field(gt=0)] | None = 70
    memory_percent: Annotated[float, Field(gt=0)] | None = 80


class AutoscaledWorkload(Strict):
    kind: Literal["Deployment", "StatefulSet"] = "Deployment"
    namespace: str
    name: str
    bounds: HpaBounds | None = None  # default: autoscaling.bounds


class AutoscalingConfig(Strict):
    # Whose HPAs the behaviour review reads; default: the profile's namespaces.
    namespaces: list[str] | None = None
    # Critical workloads that must have an HPA with the agreed bounds.
    workloads: list[AutoscaledWorkload] = []
    bounds: HpaBounds = HpaBounds()
    ignore: list[str] = []  # namespace/name of HPAs left out of the behaviour review


class UnusedResources(Strict):
    """PVCs no pod mounts, ConfigMaps and Secrets nothing references (003: 사용하지 않는
    리소스 정리), in the profile's namespaces. kube-root-ca.crt, ServiceAccount tokens and
    Helm release records are never counted."""

    kinds: list[Literal["persistentvolumeclaims", "configmaps", "secrets"]] = [
        "persistentvolumeclaims",
        "configmaps",
        "secrets",
    ]
    ignore: list[str] = []  # name or namespace/name kept on purpose


class CostReview(Strict):
    """Over-provisioning (001: 비용 최적화 검토): a workload whose pods use less than
    min_usage_percent of what they request. Requests under the floors are too small to matter."""

    min_usage_percent: Annotated[float, Field(gt=0, le=100)] = 10
    min_request_cpu_millicores: Annotated[float, Field(ge=0)] = 50
    min_request_memory_mib: Annotated[float, Field(ge=0)] = 64
    ignore: list[str] = []  # namespace/name of workloads left out


class Availability(Strict):
    """Single points of failure and PodDisruptionBudgets."""

    ignore: list[str] = []  # namespace/name of workloads single on purpose (a singleton leader, say)


class PlatformConfig(Strict):
    velero: VeleroConfig = VeleroConfig()
    external_secrets: ExternalSecretsConfig = ExternalSecretsConfig()
    argocd: ArgoCDConfig = ArgoCDConfig()
    cni: CniConfig | None = None
    kubernetes: KubernetesVersions = KubernetesVersions()
    node_patches: NodePatches = NodePatches()
    autoscaling: AutoscalingConfig = AutoscalingConfig()
    unused_resources: UnusedResources = UnusedResources()
    cost: CostReview = CostReview()
    availability: Availability = Availability()
