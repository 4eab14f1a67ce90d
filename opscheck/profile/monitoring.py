"""Prometheus, Alertmanager and Grafana: windows, SLA/SLO, alerting, dashboards, capacity forecasts."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from opscheck.profile.common import HttpAccess, SecretRef, Strict

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
    # Bearer token and CA bundle for the Alertmanager(s) (`bearer_token`, `ca_bundle`).
    alertmanager_access: HttpAccess = HttpAccess()


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


class PrometheusConfig(HttpAccess):
    """Prometheus (and, inherited from HttpAccess, its `bearer_token` and `ca_bundle`)."""

    url: str
    timeout_seconds: Annotated[float, Field(gt=0)] = 10
    # PromQL giving a latency in seconds, per check; `$window` is replaced by the window.
    api_latency_query: str | None = None
    signature_latency_query: str | None = None
    latency_window: str = "1h"
    # Disk usage ratios (0..1) with a label naming the volume or filesystem.
    volume_usage_query: str | None = "kubelet_volume_stats_used_bytes / kubelet_volume_stats_capacity_bytes"
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
    def _tiers(self) -> PrometheusConfig:
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
