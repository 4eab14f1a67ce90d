"""The profile: every section together, and the checks across sections."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

from pydantic import Field, model_validator

from opscheck.profile.backups import Backups, DrDrill, DumpFiles, EtcdBackups
from opscheck.profile.clusters import (
    ClusterConfig,
    HostConfig,
    LogRules,
    Thresholds,
    Workload,
)
from opscheck.profile.common import Strict, expand_path
from opscheck.profile.components import RequiredComponent
from opscheck.profile.database import (
    DataQualityRule,
    InactiveAccounts,
    PostgresConfig,
    RestoreDrill,
    RetentionRule,
)
from opscheck.profile.deploy import CiPipeline, MaintenanceWindow, ReleaseConfig, SmokeRequest
from opscheck.profile.monitoring import PrometheusConfig
from opscheck.profile.platform import PlatformConfig
from opscheck.profile.reporting import Attestations, ExportConfig, Reporting, RunSettings, Schedule
from opscheck.profile.security import SecurityConfig
from opscheck.profile.services import HttpService, VaultConfig
from opscheck.profile.systems import (
    ClusterDns,
    LogIndices,
    LogPipeline,
    NodeDisk,
    RedisConfig,
)
from opscheck.timeutil import describe_age, parse_duration


class Profile(Strict):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    description: str = ""
    clusters: Annotated[list[ClusterConfig], Field(min_length=1)]
    namespaces: list[str] = []
    system_namespaces: list[str] = ["kube-system"]
    workloads: list[Workload] = []
    default_min_replicas: Annotated[int, Field(ge=0)] = 2
    services: list[HttpService] = []
    hsm_service: str | None = None
    hsm_check: str = "hsm"
    # Pods created by Jobs that may legitimately be Succeeded or Failed-and-replaced.
    thresholds: Thresholds = Thresholds()
    logs: LogRules = LogRules()
    certificate_namespaces: list[str] | None = None  # default: namespaces
    # Where Helm's release records are read (Secrets need a Role there, deploy/rbac/):
    # default namespaces + system_namespaces
    helm_namespaces: list[str] | None = None
    vault: VaultConfig | None = None
    postgres: PostgresConfig | None = None
    prometheus: PrometheusConfig | None = None
    backups: Backups = Backups()
    # Database dump files on backup hosts, the opt-in restore drill, data rules.
    database_backups: DumpFiles | None = None
    restore_drill: RestoreDrill = RestoreDrill()
    # The quarterly DR drill: the database (restore_drill), Vault and the manifests, timed.
    dr_drill: DrDrill = DrDrill()
    data_quality: list[DataQualityRule] = []
    data_retention: list[RetentionRule] = []
    inactive_accounts: InactiveAccounts | None = None
    hosts: list[HostConfig] = []
    # SmartSensor's Redis, the cluster DNS, the log pipeline, etcd snapshots, node disks.
    redis: RedisConfig | None = None
    cluster_dns: ClusterDns | None = None
    log_pipeline: LogPipeline | None = None
    etcd_backups: EtcdBackups | None = None
    node_disk: NodeDisk | None = None
    # Elasticsearch/OpenSearch log indices and their retention (opscheck/sources/log_indices.py).
    log_indices: LogIndices | None = None
    # A YAML file of waivers (see opscheck/record/waivers.py); relative to the profile's folder.
    waivers: str | None = None
    # The longest a waiver may run from today (its `expires`); a longer one is refused at start.
    waivers_max_days: Annotated[int, Field(gt=0)] = 90
    schedule: Schedule = Schedule()
    run: RunSettings = RunSettings()
    # Manual items (approvals, notices, reviews) signed off in attestation files.
    attestations: Attestations | None = None
    export: ExportConfig = ExportConfig()
    # Run folder permissions and signatures over the ledger, waivers and attestations.
    reporting: Reporting = Reporting()
    release: ReleaseConfig = ReleaseConfig()
    ci: CiPipeline | None = None
    # When planned changes may happen (predeploy gate); none configured: not applicable.
    maintenance_windows: list[MaintenanceWindow] = []
    smoke_requests: list[SmokeRequest] = []
    # Workloads whose containers must run with a read-only root filesystem (namespace/name).
    read_only_root_required: list[str] = []
    # Kubernetes security: certificates, image scans, CIS, RBAC, network and pod security, mesh.
    security: SecurityConfig = SecurityConfig()
    # Components whose absence fails their checks instead of making them "not applicable"
    # (e.g. [vault, postgres, velero, cert-manager]; the names: opscheck/profile/components.py).
    required: list[RequiredComponent] = []
    # Kubernetes platform: Velero, External Secrets, Argo CD, CNI, versions, HPAs, cost (opscheck/profile/platform.py).
    platform: PlatformConfig = PlatformConfig()

    # Where the profile was loaded from (set by load_profile, not by the file).
    source: str = Field(default="", exclude=True)

    def for_cluster(self, name: str) -> Profile:
        """The profile as the checks of cluster `name` see it: that cluster's own
        `namespaces` and `vault` where its clusters[] entry sets them (the same object when
        it sets neither, so a single-cluster profile reads exactly as written)."""
        config = next((c for c in self.clusters if c.name == name), None)
        if config is None:
            raise KeyError(f"no cluster {name!r} in profile {self.name}")
        update: dict[str, object] = {}
        if config.namespaces is not None:
            update["namespaces"] = config.namespaces
        if config.vault is not None:
            update["vault"] = config.vault
        return self.model_copy(update=update) if update else self

    @model_validator(mode="after")
    def _unique_cluster_names(self) -> Profile:
        names = [c.name for c in self.clusters]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"clusters: duplicate name(s) {', '.join(dupes)}")
        if self.hsm_service and self.hsm_service not in {s.name for s in self.services}:
            raise ValueError(f"hsm_service: {self.hsm_service!r} is not one of services[].name")
        for i, smoke in enumerate(self.smoke_requests):
            if smoke.service not in {s.name for s in self.services}:
                raise ValueError(f"smoke_requests[{i}].service: {smoke.service!r} is not one of services[].name")
        return self

    @model_validator(mode="after")
    def _windows_cover_their_cadence(self) -> Profile:
        """A look-back shorter than its checklist's interval leaves time between two runs unseen."""
        minutes = timedelta(minutes=1)
        windows: list[tuple[str, str, timedelta]] = [
            (
                "daily",
                "thresholds.warning_events_window_minutes",
                self.thresholds.warning_events_window_minutes * minutes,
            ),
            ("daily", "logs.error_window_minutes", self.logs.error_window_minutes * minutes),
            ("daily", "logs.access_window_minutes", self.logs.access_window_minutes * minutes),
            ("weekly", "logs.pattern_window_days", timedelta(days=self.logs.pattern_window_days)),
        ]
        if self.logs.signature_app:
            windows.append(("daily", "logs.signature_window_minutes", self.logs.signature_window_minutes * minutes))
        if self.prometheus is not None:
            for cadence in ("daily", "weekly", "monthly"):
                value = getattr(self.prometheus.windows, cadence)
                windows.append((cadence, f"prometheus.windows.{cadence}", parse_duration(value, "promql")))
        for cadence, field, window in windows:
            interval = self.schedule.interval(cadence)
            if window < interval:
                raise ValueError(
                    f"{field}: {describe_age(window)} is shorter than the {cadence} checklist's interval "
                    f"({describe_age(interval)}, schedule.every.{cadence}): "
                    "what happens between two runs would go unseen"
                )
        return self

    @model_validator(mode="after")
    def _clustermesh_metrics_source(self) -> Profile:
        """The mesh status comes from the agents' metrics: some Prometheus must hold them."""
        cni = self.platform.cni
        mesh = cni.clustermesh if cni is not None else None
        if mesh is not None and mesh.prometheus_url is None and self.prometheus is None:
            raise ValueError(
                "platform.cni.clustermesh: no prometheus_url and no prometheus section: "
                "say which Prometheus scrapes the Cilium agents"
            )
        return self

    @model_validator(mode="after")
    def _restore_drill_target(self) -> Profile:
        drill = self.restore_drill
        if drill.enabled and drill.connection is not None:
            if self.database_backups is None:
                raise ValueError("restore_drill: enabled without database_backups (where the dumps are)")
            if self.postgres is not None and drill.connection.dbname == self.postgres.dbname:
                raise ValueError(
                    f"restore_drill.connection.dbname: {drill.connection.dbname!r} is the "
                    "monitored database; the drill needs a scratch database of its own"
                )
        return self

    @model_validator(mode="after")
    def _dr_drill_targets(self) -> Profile:
        drill = self.dr_drill
        if not drill.enabled:
            return self
        if not self.restore_drill.enabled:
            raise ValueError("dr_drill: enabled without restore_drill (the database step restores through it)")
        assert drill.vault is not None
        monitored = [self.vault, *(c.vault for c in self.clusters)]
        for vault in monitored:
            if vault is not None and vault.address.rstrip("/") == drill.vault.scratch_address.rstrip("/"):
                raise ValueError(
                    f"dr_drill.vault.scratch_address: {drill.vault.scratch_address} is the monitored Vault; "
                    "the drill restores into a scratch OpenBao of its own"
                )
        return self

    @property
    def waivers_path(self) -> Path | None:
        return self.relative_path(self.waivers) if self.waivers else None

    def relative_path(self, value: str) -> Path:
        """A path from the profile: `${VAR:-default}` and ~ expanded, relative to the profile's folder."""
        path = expand_path(value)
        return path if path.is_absolute() else Path(self.source).parent / path

    def service(self, name: str) -> HttpService:
        return next(s for s in self.services if s.name == name)
