"""Reading Prometheus over its HTTP API: PromQL queries, rules, alerts, targets.

Every call is a GET with the profile's timeout. A Prometheus that cannot be reached or
rejects a query raises DependencyError (the check becomes an error, not a failure).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests

from opscheck.errors import DependencyError
from opscheck.profile import PrometheusConfig
from opscheck.sources.http import new_session, not_json, unanswered
from opscheck.timeutil import parse_duration, parse_time

NEVER = "0001-01-01T00:00:00Z"  # Prometheus' zero time: never evaluated / never scraped


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class Rule:
    group: str
    file: str
    name: str
    kind: str  # "alerting" or "recording"
    health: str  # "ok", "err", "unknown"
    last_error: str
    last_evaluation: datetime | None  # None: never evaluated
    query: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    state: str = ""  # alerting rules: inactive, pending, firing


class _AlertLabels:
    """What an alert's labels say: its name, severity and what it is about."""

    labels: dict[str, str]

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "?")

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")

    @property
    def subject(self) -> str:
        return alert_subject(self.labels)


@dataclass(frozen=True)
class Alert(_AlertLabels):
    labels: dict[str, str]
    annotations: dict[str, str]
    state: str  # pending or firing
    active_at: datetime | None
    value: str


@dataclass(frozen=True)
class FiredAlert(_AlertLabels):
    """An alert series that fired within a window: when it first and last fired (UNIX seconds)."""

    labels: dict[str, str]
    first: float
    last: float
    firing_now: bool


@dataclass(frozen=True)
class Target:
    job: str
    instance: str
    scrape_url: str
    health: str  # up, down, unknown
    last_error: str
    last_scrape: datetime | None
    scrape_interval_seconds: float


def render(template: str, **values: str | float) -> str:
    """Replace `$name` placeholders (only the names given), e.g. `$window`, `$service`."""
    for name in sorted(values, key=len, reverse=True):
        template = re.sub(rf"\${name}\b", lambda _m, v=str(values[name]): v, template)
    return template


def le_pattern(seconds: float) -> str:
    """A regex matching a histogram bucket boundary however the exporter printed it
    (1, 1.0, 1e+00 for one second); dots escaped for PromQL's RE2 inside a string."""
    forms = {f"{seconds:g}", repr(float(seconds)), f"{seconds:.1f}", f"{seconds:e}"}
    return "|".join(sorted(re.escape(f).replace("\\", "\\\\") for f in forms))


def series_name(labels: dict[str, str]) -> str:
    """A readable name for a series: namespace/pvc, node, instance, app or job."""
    if "persistentvolumeclaim" in labels:
        return f"{labels.get('namespace', '')}/{labels['persistentvolumeclaim']}".lstrip("/")
    for key in ("node", "instance", "app", "service", "job"):
        if labels.get(key):
            if key == "instance" and labels.get("mountpoint"):
                return f"{labels[key]}:{labels['mountpoint']}"
            return labels[key]
    rest = {k: v for k, v in labels.items() if k != "__name__"}
    return ",".join(f"{k}={v}" for k, v in sorted(rest.items())) or "(no labels)"


def alert_subject(labels: dict[str, str]) -> str:
    """`ServiceDown signature-service`: the alert name and what it is about."""
    rest = {k: v for k, v in labels.items() if k not in ("alertname", "alertstate", "severity", "__name__")}
    about = series_name(rest) if rest else ""
    return f"{labels.get('alertname', '?')} {about}".strip()


def alert_key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """An alert series' identity across queries (its labels but the name and state)."""
    return tuple(sorted((k, v) for k, v in labels.items() if k not in ("__name__", "alertstate")))


def is_number(value: float) -> bool:
    return not (math.isnan(value) or math.isinf(value))


class PrometheusReader:
    def __init__(self, config: PrometheusConfig, session: requests.Session | None = None) -> None:
        self.config = config
        self.session = session or new_session()

    @property
    def url(self) -> str:
        return self.config.url.rstrip("/")

    @property
    def where(self) -> str:
        return f"Prometheus at {self.config.url}"

    def _get(self, path: str, params: dict[str, Any] | None = None, what: str = "") -> Any:
        try:
            resp = self.session.get(self.url + path, params=params, timeout=self.config.timeout_seconds)
        except requests.RequestException as exc:
            raise unanswered(self.where, exc, self.config.timeout_seconds) from None
        try:
            body = resp.json()
        except ValueError:
            raise not_json(self.where, f"GET {path}", resp.status_code) from None
        if body.get("status") != "success":
            raise DependencyError(
                f"Prometheus query failed ({body.get('errorType')}): {body.get('error')}: {what or path}"
            )
        return body["data"]

    def query(self, promql: str) -> list[Sample]:
        """An instant query; a scalar comes back as one sample without labels."""
        data = self._get("/api/v1/query", {"query": promql, "timeout": f"{self.config.timeout_seconds:g}s"}, promql)
        if data["resultType"] == "scalar":
            return [Sample({}, float(data["result"][1]))]
        if data["resultType"] != "vector":
            raise DependencyError(
                f"Prometheus query returned a {data['resultType']}, expected an instant vector: {promql}"
            )
        return [Sample(r["metric"], float(r["value"][1])) for r in data["result"]]

    def value(self, promql: str) -> float | None:
        """The single value of a query (the largest if several series); None if no data
        or not a number (a ratio of two zero rates)."""
        values = [s.value for s in self.query(promql) if is_number(s.value)]
        return max(values) if values else None

    def scraped_value(self, template: str, *, numbers_only: bool = True, **values: str) -> tuple[float, str]:
        """(the largest value, the PromQL) of a query template rendered with `values`;
        DependencyError when it has no sample (`numbers_only`: no sample that is a number)."""
        promql = render(template, **values)
        if numbers_only:
            value = self.value(promql)
        else:
            value = max((s.value for s in self.query(promql)), default=None)
        if value is None:
            raise DependencyError(f"Prometheus returned no samples for {promql}: is the service scraped?")
        return value, promql

    def numeric_series(self, template: str, **values: str) -> tuple[list[Sample], str]:
        """(the series whose value is a number, the PromQL) of a query template rendered with `values`."""
        promql = render(template, **values)
        return [s for s in self.query(promql) if is_number(s.value)], promql

    def samples_per_job(self) -> dict[str, float]:
        """How many samples each job's last scrape returned."""
        return {s.labels.get("job", ""): s.value for s in self.query("sum by (job) (scrape_samples_scraped)")}

    def rules(self) -> list[Rule]:
        out = []
        for group in self._get("/api/v1/rules")["groups"]:
            for r in group["rules"]:
                out.append(
                    Rule(
                        group=group["name"],
                        file=group.get("file", ""),
                        name=r["name"],
                        kind="alerting" if r["type"] == "alerting" else "recording",
                        health=r.get("health", "unknown"),
                        last_error=r.get("lastError", ""),
                        last_evaluation=parse_time(r.get("lastEvaluation")),
                        query=r.get("query", ""),
                        labels=r.get("labels") or {},
                        annotations=r.get("annotations") or {},
                        state=r.get("state", ""),
                    )
                )
        return out

    def alerts(self) -> list[Alert]:
        return [
            Alert(
                a.get("labels") or {},
                a.get("annotations") or {},
                a.get("state", ""),
                parse_time(a.get("activeAt")),
                str(a.get("value", "")),
            )
            for a in self._get("/api/v1/alerts")["alerts"]
        ]

    def targets(self) -> list[Target]:
        out = []
        for t in self._get("/api/v1/targets", {"state": "active"})["activeTargets"]:
            labels = t.get("labels") or {}
            interval = t.get("scrapeInterval") or "1m"
            out.append(
                Target(
                    job=labels.get("job", t.get("scrapePool", "")),
                    instance=labels.get("instance", ""),
                    scrape_url=t.get("scrapeUrl", ""),
                    health=t.get("health", "unknown"),
                    last_error=t.get("lastError", ""),
                    last_scrape=parse_time(t.get("lastScrape")),
                    scrape_interval_seconds=parse_duration(interval, "promql").total_seconds(),
                )
            )
        return out

    def fired_alerts(self, window: str) -> list[FiredAlert]:
        """The alerts that fired within `window`, from the ALERTS series."""
        # First and last firing time, at a resolution of ~1/720 of the window (2 minutes for 24 h).
        step = f"{max(1, int(parse_duration(window, 'promql').total_seconds() / 720))}s"
        selector = 'ALERTS{alertstate="firing"}'
        first = self.query(f"min_over_time(timestamp({selector})[{window}:{step}])")
        last = {
            alert_key(s.labels): s.value for s in self.query(f"max_over_time(timestamp({selector})[{window}:{step}])")
        }
        now = {alert_key(s.labels) for s in self.query(selector)}
        return [
            FiredAlert(s.labels, s.value, last.get(alert_key(s.labels), s.value), alert_key(s.labels) in now)
            for s in first
        ]

    def alertmanagers(self) -> list[str]:
        """Base URLs of the Alertmanagers Prometheus sends alerts to."""
        active = self._get("/api/v1/alertmanagers")["activeAlertmanagers"]
        return [re.sub(r"/api/v[12]/alerts$", "", a["url"]) for a in active]


def now() -> datetime:
    return datetime.now(UTC)
