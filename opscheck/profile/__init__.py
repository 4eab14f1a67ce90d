"""The environment profile: everything that differs between environments.

Checks read names, endpoints and thresholds from here, never from code, so one suite
serves every system. A profile is validated when the run starts; any problem stops the
run with one line naming the file, the key path and what is wrong.

Secrets never appear in a profile: a token or password is a `SecretRef` naming an
environment variable or a file to read it from when it is needed.
"""
from __future__ import annotations

import os
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from opscheck.errors import ProfileError
from opscheck.profile.platform import PlatformConfig
from opscheck.timeutil import parse_duration

ENV_VAR = "OPSCHECK_ENV"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_vars(value: str) -> str:
    """`${VAR}` and `${VAR:-default}` expanded from the environment."""
    return _VAR.sub(lambda m: os.environ.get(m.group(1)) or (m.group(2) or ""), value)


def expand_path(value: str) -> Path:
    """`${VAR}`, `${VAR:-default}` and `~` are expanded so one profile serves every user."""
    return Path(os.path.expanduser(expand_vars(value)))


class SecretRef(Strict):
    """Where a secret comes from. Exactly one of `env` or `file`."""

    env: str | None = None
    file: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _not_a_literal(cls, data: Any) -> Any:
        if isinstance(data, str):
            raise ValueError("must be {env: NAME} or {file: PATH}; secret values never go in a profile")
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> "SecretRef":
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of 'env' or 'file'")
        return self

    def describe(self) -> str:
        return f"environment variable {self.env}" if self.env else f"file {self.file}"

    def read(self) -> str:
        """The secret value; raises ProfileError naming the source (never the value)."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if not value:
                raise ProfileError(f"secret not available: environment variable {self.env} is not set")
            return value
        path = expand_path(self.file or "")
        try:
            value = path.read_text().strip()
        except OSError as exc:
            raise ProfileError(f"secret not available: cannot read {path}: {exc.strerror}") from None
        if not value:
            raise ProfileError(f"secret not available: {path} is empty")
        return value


class ClusterConfig(Strict):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    kubeconfig: str = "~/.kube/config"
    context: str | None = None
    # Seconds to wait for the API server before the cluster's checks become errors.
    timeout_seconds: Annotated[float, Field(gt=0)] = 15

    @property
    def kubeconfig_path(self) -> Path:
        return expand_path(self.kubeconfig)


class Workload(Strict):
    kind: Literal["Deployment", "StatefulSet", "DaemonSet"]
    namespace: str
    name: str
    min_replicas: Annotated[int, Field(ge=0)] = 2


class HttpService(Strict):
    """A service whose health endpoints opscheck probes over HTTP."""

    name: str
    url: str
    health_paths: list[str] = ["/health", "/health/live", "/health/ready"]
    # Sub-checks in the readiness answer ({"checks": {"database": "UP"}}) that must be UP.
    ready_checks: list[str] = []
    ready_path: str = "/health/ready"

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/]+", v):
            raise ValueError("must be an http:// or https:// URL")
        return v.rstrip("/")


class Thresholds(Strict):
    cpu_percent: Annotated[float, Field(gt=0, le=100)] = 70
    memory_percent: Annotated[float, Field(gt=0, le=100)] = 80
    disk_percent: Annotated[float, Field(gt=0, le=100)] = 80
    cert_days: Annotated[int, Field(ge=0)] = 30
    api_latency_ms: Annotated[float, Field(gt=0)] = 200
    signature_latency_ms: Annotated[float, Field(gt=0)] = 500
    error_lines: Annotated[int, Field(ge=0)] = 10
    warning_events: Annotated[int, Field(ge=0)] = 0
    warning_events_window_minutes: Annotated[int, Field(gt=0)] = 60
    signature_failure_ratio: Annotated[float, Field(ge=0, le=1)] = 0.01
    abnormal_access: Annotated[int, Field(ge=0)] = 20
    backup_max_age_hours: Annotated[float, Field(gt=0)] = 26
    audit_log_max_age_minutes: Annotated[float, Field(gt=0)] = 60
    max_restarts: Annotated[int, Field(ge=0)] = 5
    http_timeout_seconds: Annotated[float, Field(gt=0)] = 10
    # kubectl top pods -A --sort-by=memory | head -10 (002, 004): how many pods are listed.
    top_pods: Annotated[int, Field(ge=1)] = 10


class LogRules(Strict):
    """What the runbooks grep for in pod logs, and over which window."""

    # Apps (pod label `app_label`=name) whose logs are scanned for errors.
    apps: list[str] = []
    app_label: str = "app"
    error_pattern: str = "ERROR"
    error_window_minutes: Annotated[int, Field(gt=0)] = 60
    # Abnormal access attempts (401/403, failed logins) in the apps' logs.
    access_pattern: str = r"(?i)(unauthorized|forbidden|authentication failed|access denied)"
    access_window_minutes: Annotated[int, Field(gt=0)] = 1440
    # Apps whose logs are scanned for access attempts (002: oauth2-server's security events);
    # default: `apps`.
    access_apps: list[str] | None = None
    # Weekly error patterns (003 로그 검토): error lines of `apps` over the window, grouped by
    # message with the numbers and ids taken out; a pattern seen more often fails.
    pattern_window_days: Annotated[float, Field(gt=0)] = 7
    pattern_max_count: Annotated[int, Field(ge=0)] = 100
    pattern_top: Annotated[int, Field(ge=1)] = 10
    # How recent a pod's last log line must be after a deployment (postdeploy.logs-recorded).
    recent_minutes: Annotated[float, Field(gt=0)] = 10
    # Signature statistics (seed 000 log-analysis.sh).
    signature_app: str | None = None
    signature_window_minutes: Annotated[int, Field(gt=0)] = 60
    signature_requested: str = "Signature request received"
    signature_completed: str = "Signature completed"
    signature_failed: str = "Signature failed"

    @field_validator("error_pattern", "access_pattern")
    @classmethod
    def _regex(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return v


class VaultAuditReview(Strict):
    """Counts over the audit log file (000 주간 보안 점검); a limit of null only reports."""

    window_days: Annotated[float, Field(gt=0)] = 7
    # Logins that failed and requests with a token Vault did not accept.
    max_failed_auth: Annotated[int, Field(ge=0)] | None = 20
    # Requests of a valid token its policies refused.
    max_permission_denied: Annotated[int, Field(ge=0)] | None = 10
    # Requests made with a root token (break-glass only).
    max_root_token_uses: Annotated[int, Field(ge=0)] | None = 0


class VaultKubernetes(Strict):
    """Where Vault runs in the clusters (004: kubectl exec -n vault vault-0 -- vault status)."""

    namespace: str = "vault"
    statefulset: str = "vault"


class VaultConfig(Strict):
    address: str
    token: SecretRef | None = None
    timeout_seconds: Annotated[float, Field(gt=0)] = 5
    # The file audit device's log, read where opscheck runs (or mounted from the Vault host).
    audit_log_file: str | None = None
    ca_cert: str | None = None
    audit_review: VaultAuditReview = VaultAuditReview()
    # Vault's pods in each cluster (daily.vault-pods); none: Vault runs outside Kubernetes.
    kubernetes: VaultKubernetes | None = None


class PostgresConfig(Strict):
    host: str
    port: int = 5432
    dbname: str
    user: str
    password: SecretRef | None = None
    passfile: str | None = None
    sslmode: str = "prefer"
    connect_timeout_seconds: Annotated[int, Field(gt=0)] = 5
    statement_timeout_ms: Annotated[int, Field(gt=0)] = 10000
    thresholds: "PostgresThresholds" = Field(default_factory=lambda: PostgresThresholds())
    accounts: "PostgresAccountPolicy" = Field(default_factory=lambda: PostgresAccountPolicy())


# schema.table, as the database checks name tables (quoted as identifiers, never pasted).
QUALIFIED_TABLE = r"^[A-Za-z_][A-Za-z0-9_$]*\.[A-Za-z_][A-Za-z0-9_$]*$"


class PostgresThresholds(Strict):
    """Database health thresholds; defaults from SmartSensor 002 (alert rules, tuning queries)."""

    # DatabaseConnectionsHigh: pg_stat_database numbackends / max_connections > 0.8.
    connections_ratio: Annotated[float, Field(gt=0, le=1)] = 0.8
    # pg_stat_statements mean_time > 100 (ms).
    slow_query_mean_ms: Annotated[float, Field(gt=0)] = 100
    slow_query_min_calls: Annotated[int, Field(ge=1)] = 1
    # pg_stat_user_indexes idx_scan < 100, judged only on tables with at least
    # index_min_table_rows rows: on smaller ones the planner rightly prefers a seq scan.
    unused_index_max_scans: Annotated[int, Field(ge=0)] = 100
    index_min_table_rows: Annotated[int, Field(ge=0)] = 10000
    # Heavy sequential scans on those tables: over this share of all scans, and this many.
    seq_scan_max_ratio: Annotated[float, Field(gt=0, le=1)] = 0.5
    seq_scan_min_count: Annotated[int, Field(ge=1)] = 100
    # Stale statistics (weekly ANALYZE): at least stats_min_modified_rows rows changed since
    # the last analyze, and that is over stats_max_modified_ratio of the table or the last
    # analyze is older than stats_max_age_days (or never ran).
    stats_max_age_days: Annotated[float, Field(gt=0)] = 7
    stats_max_modified_ratio: Annotated[float, Field(gt=0)] = 0.2
    stats_min_modified_rows: Annotated[int, Field(ge=1)] = 1000
    # Index bloat (pgstattuple's pgstatindex): a B-tree of at least index_bloat_min_mb whose
    # leaf density is under this needs a REINDEX.
    index_min_leaf_density_percent: Annotated[float, Field(gt=0, le=100)] = 50
    index_bloat_min_mb: Annotated[float, Field(ge=0)] = 1
    # Table sizes: a table over table_max_mb (per-table overrides, schema.table: MB); the
    # cluster's data over storage_resize_trigger_percent of storage_capacity_gb (002:
    # storage_scaling.postgresql resize_trigger 80%).
    table_max_mb: Annotated[float, Field(gt=0)] | None = None
    table_max_mb_overrides: dict[Annotated[str, Field(pattern=QUALIFIED_TABLE)], Annotated[float, Field(gt=0)]] = {}
    storage_capacity_gb: Annotated[float, Field(gt=0)] | None = None
    storage_resize_trigger_percent: Annotated[float, Field(gt=0, le=100)] = 80
    largest_tables: Annotated[int, Field(ge=1)] = 10


class PostgresAccountPolicy(Strict):
    """Database role policy (002 monthly security audit, user account state)."""

    approved_superusers: list[str] = ["postgres"]
    # Roles allowed CREATEROLE, REPLICATION or BYPASSRLS besides the superusers.
    approved_privileged_roles: list[str] = []
    # Accepted values of the server's password_encryption (md5 hashes are weak).
    password_encryption: list[str] = ["scram-sha-256"]
    # When set: every login role (but the exempt) has a VALID UNTIL at most this many days ahead.
    password_max_age_days: Annotated[int, Field(gt=0)] | None = None
    password_expiry_exempt: list[str] = []


class DataQualityRule(Strict):
    """A read-only SQL query whose numeric columns must stay within bounds (002 sensor data
    quality). Each returned row is checked; an `object` column names the row."""

    name: str
    query: str
    max: dict[str, float] = {}
    min: dict[str, float] = {}

    @model_validator(mode="after")
    def _has_bounds(self) -> "DataQualityRule":
        if not self.max and not self.min:
            raise ValueError("give max and/or min bounds for the query's columns")
        return self


class RetentionRule(Strict):
    """Rows of `table` whose `column` is older than `days` must have been cleaned up."""

    table: Annotated[str, Field(pattern=QUALIFIED_TABLE)]
    column: str
    days: Annotated[float, Field(gt=0)] = 90


class InactiveAccounts(Strict):
    """Application accounts: `query` returns `account` and `last_activity` (timestamptz,
    NULL for never) of the ENABLED accounts, e.g. from the application's users table."""

    query: str
    max_inactive_days: Annotated[float, Field(gt=0)] = 90


class DumpFiles(Strict):
    """Database dump files on the hosts with `host_role` (002 PostgreSQL backup script)."""

    host_role: str = "backup"
    directory: str
    pattern: str = "*.dump"
    retention_days: Annotated[float, Field(gt=0)] = 30
    max_age_hours: Annotated[float, Field(gt=0)] | None = None  # default: thresholds.backup_max_age_hours
    min_size_bytes: Annotated[int, Field(ge=1)] = 1
    # Weekly: a dump in every stretch of max_age_hours over the last history_days.
    history_days: Annotated[int, Field(ge=1)] = 7
    # Predeploy: how fresh the verified dump must be (default: max_age_hours).
    verified_max_age_hours: Annotated[float, Field(gt=0)] | None = None
    # pg_restore on the backup host, used to read archives through (never to restore there).
    pg_restore: str = "pg_restore"
    verify_timeout_minutes: Annotated[float, Field(gt=0)] = 30

    @property
    def path(self) -> str:
        """The directory with `${VAR}` and ~ expanded (where opscheck runs)."""
        return str(expand_path(self.directory))


class DrillTable(Strict):
    name: Annotated[str, Field(pattern=QUALIFIED_TABLE)]
    min_rows: Annotated[int, Field(ge=0)] = 1


class RestoreDrill(Strict):
    """Opt-in: restore the newest dump into a scratch database, count rows, time it.

    `connection` names the scratch database (dbname) and a role that may write there and
    nowhere else (never a superuser); the drill empties that database before and after."""

    enabled: bool = False
    connection: PostgresConfig | None = None
    tables: list[DrillTable] = []
    rto_minutes: Annotated[float, Field(gt=0)] = 15  # 002: recovery time < 15 min
    rpo_hours: Annotated[float, Field(gt=0)] = 26
    pg_restore: str = "pg_restore"  # run where opscheck runs
    timeout_minutes: Annotated[float, Field(gt=0)] = 60

    @model_validator(mode="after")
    def _complete_when_enabled(self) -> "RestoreDrill":
        if self.enabled and self.connection is None:
            raise ValueError("enabled: give the scratch database's connection")
        if self.enabled and not self.tables:
            raise ValueError("enabled: list the tables to verify (name, min_rows)")
        return self


# A PromQL duration: 30d, 7d, 15m, 1h30m.
PromDuration = Annotated[str, Field(pattern=r"^([0-9]+(ms|s|m|h|d|w|y))+$")]
Percent = Annotated[float, Field(gt=0, le=100)]


class PrometheusWindows(Strict):
    """How far back each checklist's Prometheus checks look (PromQL durations)."""

    daily: PromDuration = "24h"  # slow responses, alerts of the last 24 h
    weekly: PromDuration = "7d"  # SLA and SLO, 7-day average response time
    monthly: PromDuration = "30d"  # SLA availability, performance review
    postdeploy: PromDuration = "15m"  # performance since the rollout


class ServiceQueries(Strict):
    """PromQL per service for the SLA, SLO and slow-response checks. `$service` is the name
    listed in those sections, `$window` the checklist's window, `$quantile` 0.95 or 0.99,
    `$le` a regular expression matching the slow-response bucket boundary (1|1.0 for 1 s).
    Defaults use seed 002's metric names (http_request_duration_seconds, http_requests_total)."""

    availability: str = 'avg_over_time(up{job="$service"}[$window])'  # 0..1
    latency_quantile: str = (  # seconds
        'histogram_quantile($quantile, sum by (le) (rate(http_request_duration_seconds_bucket{job="$service"}[$window])))'
    )
    error_ratio: str = (  # 0..1
        'sum(rate(http_requests_total{job="$service",status=~"5.."}[$window]))'
        ' / sum(rate(http_requests_total{job="$service"}[$window]))'
    )
    requests: str = 'sum(increase(http_request_duration_seconds_count{job="$service"}[$window]))'
    slow_requests: str = (
        'sum(increase(http_request_duration_seconds_count{job="$service"}[$window]))'
        ' - sum(increase(http_request_duration_seconds_bucket{job="$service",le=~"$le"}[$window]))'
    )


class SlaConfig(Strict):
    """The service-level agreement (seed 001, 운영 정책: SLA)."""

    # Services whose availability and 5xx rate count, each on its own.
    services: list[str] = []
    availability_percent: Percent = 99.9
    # Services whose P95 response time is the "API response time".
    api_services: list[str] = []
    api_p95_ms: Annotated[float, Field(gt=0)] = 500
    # PromQL giving the signature P95 in seconds ($window); none: not measured.
    signature_p95_query: str | None = None
    signature_p95_ms: Annotated[float, Field(gt=0)] = 1000
    error_rate_percent: Percent = 0.1


# Seed 002 서비스 레벨 목표: each tier's objectives; a profile assigns its services.
SLO_TIER_OBJECTIVES: dict[str, dict[str, float]] = {
    "critical": {"availability_percent": 99.9, "p95_ms": 200, "p99_ms": 500, "error_rate_percent": 0.1},
    "important": {"availability_percent": 99.5, "p95_ms": 1000, "p99_ms": 3000, "error_rate_percent": 0.5},
    "supporting": {"availability_percent": 99.0},
}


class SloTier(Strict):
    """One tier of service-level objectives. An objective left out takes the runbook's
    value for the tier; `null` drops it."""

    name: Literal["critical", "important", "supporting"]
    services: list[str] = []
    availability_percent: Percent | None = None
    p95_ms: Annotated[float, Field(gt=0)] | None = None
    p99_ms: Annotated[float, Field(gt=0)] | None = None
    error_rate_percent: Percent | None = None

    @model_validator(mode="before")
    @classmethod
    def _runbook_objectives(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("name") in SLO_TIER_OBJECTIVES:
            return {**SLO_TIER_OBJECTIVES[data["name"]], **data}
        return data


class SlowResponses(Strict):
    """Requests slower than `threshold_ms` (seed 002: response_time > 1000 ms) per day."""

    services: list[str] = []  # default: sla.services
    threshold_ms: Annotated[float, Field(gt=0)] = 1000  # a bucket boundary of the histogram
    max_percent: Annotated[float, Field(ge=0, le=100)] = 1.0


class AlertingConfig(Strict):
    """Alert rules and alerts, read from Prometheus and Alertmanager."""

    # Alert rules that must be loaded and healthy (seed 002 prometheus-rules.yaml).
    expected_rules: list[str] = []
    # Alerts expected to fire all the time (kube-prometheus' Watchdog, InfoInhibitor).
    ignore: list[str] = ["Watchdog", "InfoInhibitor"]
    # A firing alert fails the daily check at these severities ([] = any severity).
    firing_severities: list[str] = ["critical"]
    # Labels and annotations every alert rule must carry, and the severities allowed.
    required_labels: list[str] = ["severity"]
    required_annotations: list[str] = ["summary"]
    severities: list[str] = ["critical", "warning", "info", "none"]
    # An always-firing alert that must reach Alertmanager: the pipeline works end to end.
    watchdog: str | None = None
    # Default: the Alertmanagers Prometheus sends to (/api/v1/alertmanagers).
    alertmanager_url: str | None = None


class DashboardQuery(Strict):
    """A dashboard panel's key query that must return data."""

    name: str
    query: str  # PromQL; `$window` is replaced by `window`
    window: PromDuration = "5m"
    min_series: Annotated[int, Field(ge=1)] = 1


class Forecast(Strict):
    """A linear trend over `window` (a subquery at `step`), projected `horizon_days` ahead."""

    window: PromDuration
    step: PromDuration = "1h"
    horizon_days: Annotated[float, Field(gt=0)]


class CapacityConfig(Strict):
    """Utilisation ratios (0..1) per node, and how each trend check forecasts them. Storage
    is prometheus.volume_usage_query. Defaults: seed 002's capacity-planning queries."""

    cpu_query: str | None = '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m]))'
    memory_query: str | None = "1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes"
    # 002.capacity.forecast and 001.monthly.capacity-trend: 30-day trend, 6 months ahead.
    forecast: Forecast = Forecast(window="30d", horizon_days=180)
    # 003.weekly.resource-trend: the week's trend, a month ahead.
    weekly_trend: Forecast = Forecast(window="7d", horizon_days=30)
    # 000.weekly.disk-trend: no volume may fill up within the horizon at the week's growth.
    disk_trend: Forecast = Forecast(window="7d", horizon_days=30)
    # 000.monthly.storage-expansion: no volume past thresholds.disk_percent within the horizon.
    storage_expansion: Forecast = Forecast(window="30d", horizon_days=90)


class PrometheusConfig(Strict):
    url: str
    timeout_seconds: Annotated[float, Field(gt=0)] = 10
    # PromQL giving a latency in seconds, per check; `$window` is replaced by the window.
    api_latency_query: str | None = None
    signature_latency_query: str | None = None
    latency_window: str = "1h"
    # Disk usage ratios (0..1) with a label naming the volume or filesystem.
    volume_usage_query: str | None = (
        "kubelet_volume_stats_used_bytes / kubelet_volume_stats_capacity_bytes"
    )
    filesystem_usage_query: str | None = (
        '1 - node_filesystem_avail_bytes{fstype!~"tmpfs|overlay|squashfs"}'
        ' / node_filesystem_size_bytes{fstype!~"tmpfs|overlay|squashfs"}'
    )
    windows: PrometheusWindows = PrometheusWindows()
    service_queries: ServiceQueries = ServiceQueries()
    sla: SlaConfig | None = None
    slo_tiers: list[SloTier] = [SloTier(name=n) for n in SLO_TIER_OBJECTIVES]
    slow_responses: SlowResponses = SlowResponses()
    alerting: AlertingConfig = AlertingConfig()
    # Jobs that must be scraped with fresh samples (postdeploy, predeploy).
    expected_jobs: list[str] = []
    # Jobs whose down targets the daily targets check leaves out.
    ignore_jobs: list[str] = []
    dashboard_queries: list[DashboardQuery] = []
    # Grafana's own health and datasources, checked only when its URL is set.
    grafana_url: str | None = None
    grafana_token: SecretRef | None = None
    capacity: CapacityConfig = CapacityConfig()

    @model_validator(mode="after")
    def _tiers(self) -> "PrometheusConfig":
        names = [t.name for t in self.slo_tiers]
        if len(set(names)) != len(names):
            raise ValueError("slo_tiers: each tier (critical, important, supporting) at most once")
        seen: dict[str, str] = {}
        for tier in self.slo_tiers:
            for service in tier.services:
                if service in seen:
                    raise ValueError(f"slo_tiers: {service!r} is in both {seen[service]} and {tier.name}")
                seen[service] = tier.name
        return self


class HostConfig(Strict):
    """A machine read through pytest-testinfra (backup host, control-plane node)."""

    name: str
    # A testinfra backend URI: "local://", "ssh://ops@10.0.0.5", "ssh://ops@host?ssh_config=..."
    uri: str = "local://"
    roles: list[str] = []

    @field_validator("uri")
    @classmethod
    def _backend(cls, v: str) -> str:
        if not re.match(r"^(local|ssh|paramiko|docker|podman|kubectl|ansible)://", v):
            raise ValueError("must be a testinfra backend URI such as local:// or ssh://user@host")
        return v


class CronJobBackup(Strict):
    namespace: str
    name: str
    max_age_hours: Annotated[float, Field(gt=0)] | None = None  # default: thresholds.backup_max_age_hours


class Schedule(Strict):
    """How often each checklist must run (the missed-run check reads the run ledger)."""

    # The longest a cadence may go without a recorded run ('26h', '8d'); cadences left out
    # are not scheduled for this profile.
    max_age: dict[Literal["daily", "weekly", "monthly", "quarterly"], str] = {
        "daily": "26h", "weekly": "8d", "monthly": "35d", "quarterly": "100d"}
    # The reports directory whose ledger is read; default: this run's --report-dir.
    ledger: str | None = None

    @field_validator("max_age")
    @classmethod
    def _durations(cls, value: dict[str, str]) -> dict[str, str]:
        for cadence, text in value.items():
            try:
                parse_duration(text)
            except ValueError as exc:
                raise ValueError(f"{cadence}: {exc}") from None
        return value

    def limits(self) -> dict[str, timedelta]:
        return {c: parse_duration(v) for c, v in self.max_age.items()}


class PushgatewayConfig(Strict):
    url: str
    username: str | None = None
    password: SecretRef | None = None
    timeout_seconds: Annotated[float, Field(gt=0)] = 10


class ExportConfig(Strict):
    """Where the run's results go as Prometheus metrics (opscheck/record/export.py)."""

    # node-exporter's --collector.textfile.directory: one opscheck-<profile>-<cadences>.prom per job.
    textfile_dir: str | None = None
    pushgateway: PushgatewayConfig | None = None


class AttestedItem(Strict):
    """Who may sign off one manual runbook item, and for how long it counts (opscheck/record/attestations.py)."""

    roles: Annotated[list[str], Field(min_length=1)]
    # Every role must have attested (approvals), instead of any one of them.
    require_all_roles: bool = False
    # How old an attestation may be; default: the item's cadence (daily 1, weekly 7, monthly 31,
    # quarterly 92 days; predeploy/postdeploy: attestations.deploy_window_hours).
    window_days: Annotated[float, Field(gt=0)] | None = None
    # How old it must at least be: a notice sent N days ahead (the window counts after it).
    advance_days: Annotated[float, Field(ge=0)] = 0


class Attestations(Strict):
    """Manual runbook items signed off by people: a directory of attestation files."""

    dir: str  # relative to the profile's folder; ${VAR:-default} and ~ expanded
    # The change being deployed (e.g. ${CHANGE_ID:-}, set by the pipeline): when set,
    # predeploy/postdeploy attestations count only if they name it.
    change: str | None = None
    deploy_window_hours: Annotated[float, Field(gt=0)] = 24
    items: dict[str, AttestedItem] = {}

    @field_validator("items")
    @classmethod
    def _attest_keys(cls, value: dict[str, AttestedItem]) -> dict[str, AttestedItem]:
        from opscheck.runbook import runbook_items

        items = runbook_items()
        for key in value:
            if key not in items or items[key].kind != "attest":
                raise ValueError(f"{key!r} is not an attest item of the runbooks")
        return value

    @property
    def current_change(self) -> str | None:
        return expand_vars(self.change).strip() or None if self.change else None


class MaintenanceWindow(Strict):
    days: Annotated[list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]], Field(min_length=1)]
    start: Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    end: Annotated[str, Field(pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")]
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Asia/Seoul)") from None
        return value


class LoadTestThresholds(Strict):
    p95_ms: Annotated[float, Field(gt=0)] | None = 500
    p99_ms: Annotated[float, Field(gt=0)] | None = None
    error_rate: Annotated[float, Field(ge=0, le=1)] | None = 0.001


class ReleaseConfig(Strict):
    """The release being deployed: what the predeploy gate reads (opscheck/sources/release.py)."""

    # JUnit XML files of the release's test stages (unit, integration, e2e); a glob, `**` allowed.
    test_results: str | None = None
    min_tests: Annotated[int, Field(ge=1)] = 1
    # k6 --summary-export JSON of the release's load test.
    load_test_summary: str | None = None
    load_test: LoadTestThresholds = LoadTestThresholds()


class SmokeRequest(Strict):
    """A request the postdeploy check sends to prove the API answers (GET only: read-only)."""

    service: str  # services[].name
    path: str = "/"
    expect_status: int = 200
    max_latency_ms: Annotated[float, Field(gt=0)] = 500


class AcceptedFinding(Strict):
    """A known security finding accepted for a while, with its reason: a CVE id (image
    scans) or a CIS test number (kube-bench). Past `expires` it counts again."""

    id: Annotated[str, Field(min_length=1)]
    justification: Annotated[str, Field(min_length=1)]
    # Only for these images (repository[:tag], e.g. hashicorp/vault:1.17.6); default: any.
    images: list[str] = []
    expires: date | None = None


class HsmCertificate(Strict):
    """A PEM certificate file on the hosts with `host_role`, read through testinfra (seed
    000: the HSM client certificate, /etc/hsm/client-cert.pem). Only certificates are
    parsed; a private key in the same file is never read into anything."""

    name: str = "hsm-client"
    host_role: str = "hsm"
    path: str

    @property
    def file(self) -> str:
        """The path with `${VAR}` and ~ expanded (where opscheck runs)."""
        return str(expand_path(self.path))


class VulnerabilityScans(Strict):
    """Image scan results: `trivy image --format json` files and/or trivy-operator
    VulnerabilityReports (read whenever that CRD is installed)."""

    # A directory of trivy JSON reports (*.json), read where opscheck runs; relative to the profile.
    trivy_reports: str | None = None
    operator_reports: bool = True
    severities: list[Literal["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"]] = ["CRITICAL", "HIGH"]
    # A scan older than this does not count (the image counts as not scanned).
    max_age_days: Annotated[float, Field(gt=0)] = 31
    namespaces: list[str] | None = None  # whose running images; default: namespaces
    # Predeploy: the images being deployed, space or comma separated, ${VAR} expanded
    # (e.g. "${RELEASE_IMAGES}" set by the pipeline); none: the monitored workloads' images.
    release_images: list[str] = []
    accepted: list[AcceptedFinding] = []


class CisBenchmark(Strict):
    """kube-bench results (`kube-bench run --json`): the newest file matching `results`."""

    results: str  # a file or a glob, relative to the profile; ${VAR} expanded
    fail_statuses: list[Literal["FAIL", "WARN"]] = ["FAIL"]
    max_age_days: Annotated[float, Field(gt=0)] = 35
    accepted: list[AcceptedFinding] = []


class ReviewedSubject(Strict):
    """A user (or group, service account) whose permissions the access review reports."""

    subject: Annotated[str, Field(pattern=r"^(User|Group|ServiceAccount):.+$")]
    groups: list[str] = []  # the groups the user belongs to (what the authenticator adds)
    roles: list[str] = []  # ClusterRole/Role names it may hold; any other is an escalation


class RbacPolicy(Strict):
    """RBAC review lists. Subjects are written `User:alice`, `Group:ops`,
    `ServiceAccount:namespace/name`. Bindings whose name starts with a system prefix or
    that carry kubernetes.io/bootstrapping=rbac-defaults are the cluster's own."""

    # Every subject of a non-system (Cluster)RoleBinding; none: the review is not configured.
    approved_subjects: list[str] | None = None
    # Subjects approved to hold cluster-admin or read Secrets.
    privileged_subjects: list[str] | None = None
    # Roles allowed a "*" in verbs, resources or apiGroups: ClusterRole name or namespace/name.
    allowed_wildcard_roles: list[str] = []
    # Bindings allowed to name a default ServiceAccount: ClusterRoleBinding name or namespace/name.
    allowed_default_sa_bindings: list[str] = []
    system_prefixes: list[str] = ["system:"]
    # What every identity may do ("discovery"): not counted as a permission.
    discovery_roles: list[str] = ["system:discovery", "system:basic-user", "system:public-info-viewer",
                                  "system:service-account-issuer-discovery"]
    access_review: list[ReviewedSubject] = []
    # Namespaces whose default ServiceAccount must have no permission; default: namespaces.
    default_sa_namespaces: list[str] | None = None

    @field_validator("approved_subjects", "privileged_subjects")
    @classmethod
    def _subjects(cls, value: list[str] | None) -> list[str] | None:
        for s in value or []:
            if not re.match(r"^(User|Group):.+$|^ServiceAccount:[^/]+/[^/]+$", s):
                raise ValueError(f"{s!r}: write User:name, Group:name or ServiceAccount:namespace/name")
        return value


class PodSecurityLabels(Strict):
    """Pod Security Standards labels (pod-security.kubernetes.io/<mode>: <level>)."""

    namespaces: list[str] | None = None  # default: namespaces
    level: Literal["privileged", "baseline", "restricted"] = "restricted"
    modes: list[Literal["enforce", "audit", "warn"]] = ["enforce", "audit", "warn"]


class PlaintextCredentials(Strict):
    """Credentials written in ConfigMaps or as env literals (only key names are reported)."""

    namespaces: list[str] | None = None  # default: namespaces
    # A key whose name ends in one of these words holds a credential.
    key_pattern: str = r"(?i)(^|[_.\-])(pass(word|wd)?|pwd|secret|token|api[_\-]?key|apikey|private[_\-]?key|credentials?)$"
    # Exempt keys: namespace/object/key (e.g. qsign/app-config/PUBLIC_TOKEN).
    allowed: list[str] = []

    @field_validator("key_pattern")
    @classmethod
    def _regex(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return v


class MeshConfig(Strict):
    """Istio: which namespaces are in the mesh, where istiod runs, supported versions."""

    # Default: namespaces labelled istio-injection=enabled or istio.io/rev.
    namespaces: list[str] = []
    root_namespace: str = "istio-system"  # mesh-wide PeerAuthentication lives here
    istiod_namespace: str = "istio-system"
    istiod_deployment: str = "istiod"
    sidecar_container: str = "istio-proxy"
    min_version: Annotated[str, Field(pattern=r"^\d+\.\d+(\.\d+)?$")] | None = None
    supported_versions: list[Annotated[str, Field(pattern=r"^\d+\.\d+$")]] = []  # minors, e.g. "1.23"


class SecurityConfig(Strict):
    """Kubernetes security checks: certificates, image scans, CIS, RBAC, policies, mesh."""

    hsm_certificates: list[HsmCertificate] = []
    vulnerability_scans: VulnerabilityScans = VulnerabilityScans()
    cis_benchmark: CisBenchmark | None = None
    rbac: RbacPolicy = RbacPolicy()
    # Namespaces that must have NetworkPolicies with a default deny; default: namespaces.
    network_policy_namespaces: list[str] | None = None
    pod_security: PodSecurityLabels = PodSecurityLabels()
    plaintext_credentials: PlaintextCredentials = PlaintextCredentials()
    mesh: MeshConfig = MeshConfig()


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


class EtcdBackups(Strict):
    """etcd snapshot files on the hosts with `host_role` (004 etcd-snapshot.sh), read with
    testinfra; `etcdutl snapshot status` runs on the host (read-only) to validate them."""

    host_role: str = "control-plane"
    directory: str = "/var/backups/etcd"
    pattern: str = "etcd-snapshot-*.db"
    max_age_hours: Annotated[float, Field(gt=0)] = 24
    retention_days: Annotated[float, Field(gt=0)] = 7
    min_size_bytes: Annotated[int, Field(ge=1)] = 1
    # Before an upgrade (predeploy.etcd-backup): the newest snapshot must be this fresh.
    predeploy_max_age_hours: Annotated[float, Field(gt=0)] = 24
    etcdutl: str = "etcdutl"

    @property
    def path(self) -> str:
        """The directory with `${VAR}` and ~ expanded (where opscheck runs)."""
        return str(expand_path(self.directory))

    @property
    def etcdutl_command(self) -> str:
        return str(expand_path(self.etcdutl)) if "/" in self.etcdutl or "$" in self.etcdutl else self.etcdutl


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


class Backups(Strict):
    postgres_cronjob: CronJobBackup | None = None
    vault_cronjob: CronJobBackup | None = None


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
    vault: VaultConfig | None = None
    postgres: PostgresConfig | None = None
    prometheus: PrometheusConfig | None = None
    backups: Backups = Backups()
    # Database dump files on backup hosts, the opt-in restore drill, data rules.
    database_backups: DumpFiles | None = None
    restore_drill: RestoreDrill = RestoreDrill()
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
    schedule: Schedule = Schedule()
    # Manual items (approvals, notices, reviews) signed off in attestation files.
    attestations: Attestations | None = None
    export: ExportConfig = ExportConfig()
    release: ReleaseConfig = ReleaseConfig()
    # When planned changes may happen (predeploy gate); none configured: not applicable.
    maintenance_windows: list[MaintenanceWindow] = []
    smoke_requests: list[SmokeRequest] = []
    # Workloads whose containers must run with a read-only root filesystem (namespace/name).
    read_only_root_required: list[str] = []
    # Kubernetes security: certificates, image scans, CIS, RBAC, network and pod security, mesh.
    security: SecurityConfig = SecurityConfig()
    # Components whose absence fails their checks instead of making them "not applicable"
    # (e.g. [vault, postgres, velero, cert-manager]).
    required: list[str] = []
    # Kubernetes platform: Velero, External Secrets, Argo CD, CNI, versions, HPAs, cost (opscheck/profile/platform.py).
    platform: PlatformConfig = PlatformConfig()

    # Where the profile was loaded from (set by load_profile, not by the file).
    source: str = Field(default="", exclude=True)

    @model_validator(mode="after")
    def _unique_cluster_names(self) -> "Profile":
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
    def _restore_drill_target(self) -> "Profile":
        drill = self.restore_drill
        if drill.enabled and drill.connection is not None:
            if self.database_backups is None:
                raise ValueError("restore_drill: enabled without database_backups (where the dumps are)")
            if self.postgres is not None and drill.connection.dbname == self.postgres.dbname:
                raise ValueError(f"restore_drill.connection.dbname: {drill.connection.dbname!r} is the "
                                 "monitored database; the drill needs a scratch database of its own")
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


def _format_location(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for p in loc:
        if isinstance(p, int):
            parts.append(f"[{p}]")
        else:
            parts.append(("." if parts else "") + str(p))
    return "".join(parts) or "(top level)"


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    # Pydantic adds the failing union/validator branch to the location; keep the user's path.
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif err["type"] == "missing":
        msg = "required key is missing"
    more = len(exc.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{_format_location(loc)}: {msg}{suffix}"


def load_profile(path: str | os.PathLike[str]) -> Profile:
    """Read and validate a profile; raise ProfileError with a one-line message."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError(f"{p}: profile not found") from None
    except OSError as exc:
        raise ProfileError(f"{p}: cannot read profile: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ProfileError(f"{p}: {where}malformed YAML: {problem}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"{p}: a profile is a YAML mapping, got {type(data).__name__}")
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(f"{p}: {_first_error(exc)}") from None
    profile = profile.model_copy(update={"source": str(p)})
    _check_references(profile)
    return profile


def _check_references(profile: Profile) -> None:
    """Files the profile names must exist now, not half-way through the run."""
    src = profile.source
    for i, cluster in enumerate(profile.clusters):
        kc = cluster.kubeconfig_path
        where = f"{src}: clusters[{i}].kubeconfig"
        if not kc.is_file():
            raise ProfileError(f"{where}: {kc} does not exist")
        try:
            doc = yaml.safe_load(kc.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ProfileError(f"{where}: {kc} is not a readable kubeconfig ({exc.__class__.__name__})") from None
        contexts = [c.get("name") for c in (doc or {}).get("contexts") or []]
        if cluster.context and cluster.context not in contexts:
            raise ProfileError(
                f"{src}: clusters[{i}].context: {cluster.context!r} is not in {kc} "
                f"(contexts: {', '.join(map(str, contexts)) or 'none'})"
            )
        if not cluster.context and not (doc or {}).get("current-context"):
            raise ProfileError(f"{src}: clusters[{i}].context: not set and {kc} has no current-context")
    if profile.postgres and profile.postgres.passfile and not expand_path(profile.postgres.passfile).is_file():
        raise ProfileError(f"{src}: postgres.passfile: {expand_path(profile.postgres.passfile)} does not exist")
