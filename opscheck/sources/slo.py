"""Service-level objectives measured in Prometheus: availability, P95/P99 latency, 5xx rate.

The SLA (seed 001), the SLO tiers (seed 002), the post-deploy performance check and the
monthly review all measure the same figures per service over a window, with the profile's
PromQL templates (prometheus.service_queries), and compare each with its objective.
"""
from __future__ import annotations

from dataclasses import dataclass

from opscheck.check import Evidence, fmt
from opscheck.profile import ServiceQueries, SlaConfig, SloTier
from opscheck.sources.prometheus import PrometheusReader, render


@dataclass(frozen=True)
class Measurement:
    subject: str  # a service, or a named figure ("signature")
    objective: str  # "availability", "P95", "P99", "error rate"
    value: float | None  # None: no data (no requests in the window, or not scraped)
    limit: float
    unit: str  # "%" or " ms"
    minimum: bool  # True: value must be at least the limit (availability)
    query: str

    @property
    def met(self) -> bool:
        if self.value is None:
            # Not scraped at all is not available; no requests cannot breach a latency.
            return not self.minimum
        return self.value >= self.limit if self.minimum else self.value <= self.limit

    @property
    def objective_text(self) -> str:
        return f"{'>=' if self.minimum else '<'} {fmt(float(self.limit))}{self.unit}"

    @property
    def value_text(self) -> str:
        return "no data" if self.value is None else f"{_fmt(self.value)}{self.unit}"

    def row(self) -> dict[str, object]:
        return {"object": f"{self.subject} {self.objective}", "measured": self.value_text,
                "objective": self.objective_text, "met": "yes" if self.met else "NO"}

    def offender(self) -> dict[str, object]:
        return {"object": f"{self.subject} {self.objective}",
                "detail": f"{self.value_text}, objective {self.objective_text}"}


def _fmt(value: float) -> str:
    """Enough digits to tell 99.95 from 99.9, and 0.05 % from 0."""
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.4g}"


class ServiceMeter:
    """Measures one service's figures over a window with the profile's query templates."""

    def __init__(self, reader: PrometheusReader, queries: ServiceQueries, window: str) -> None:
        self.reader, self.queries, self.window = reader, queries, window

    def _value(self, template: str, service: str, **extra: str) -> tuple[float | None, str]:
        promql = render(template, service=service, window=self.window, **extra)
        return self.reader.value(promql), promql

    def availability(self, service: str, percent: float) -> Measurement:
        value, q = self._value(self.queries.availability, service)
        return Measurement(service, "availability", None if value is None else value * 100, percent, "%", True, q)

    def latency(self, service: str, quantile: float, limit_ms: float) -> Measurement:
        value, q = self._value(self.queries.latency_quantile, service, quantile=f"{quantile:g}")
        name = f"P{quantile * 100:g}"
        return Measurement(service, name, None if value is None else value * 1000, limit_ms, " ms", False, q)

    def error_rate(self, service: str, percent: float) -> Measurement:
        value, q = self._value(self.queries.error_ratio, service)
        return Measurement(service, "error rate", None if value is None else value * 100, percent, "%", False, q)

    def query_latency(self, subject: str, objective: str, template: str, limit_ms: float) -> Measurement:
        """A latency in seconds from a query of its own (the signature P95)."""
        promql = render(template, window=self.window)
        value = self.reader.value(promql)
        return Measurement(subject, objective, None if value is None else value * 1000, limit_ms, " ms", False, promql)

    def tier(self, tier: SloTier) -> list[Measurement]:
        out: list[Measurement] = []
        for service in tier.services:
            if tier.availability_percent is not None:
                out.append(self.availability(service, tier.availability_percent))
            if tier.p95_ms is not None:
                out.append(self.latency(service, 0.95, tier.p95_ms))
            if tier.p99_ms is not None:
                out.append(self.latency(service, 0.99, tier.p99_ms))
            if tier.error_rate_percent is not None:
                out.append(self.error_rate(service, tier.error_rate_percent))
        return out


def sla_measurements(meter: ServiceMeter, sla: SlaConfig, *, availability: bool, performance: bool = True) -> list[Measurement]:
    """The SLA's figures: availability per service; API P95, signature P95 and 5xx rate."""
    out: list[Measurement] = []
    if availability:
        out += [meter.availability(s, sla.availability_percent) for s in sla.services]
    if performance:
        out += [meter.latency(s, 0.95, sla.api_p95_ms) for s in sla.api_services]
        if sla.signature_p95_query:
            out.append(meter.query_latency("signature", "P95", sla.signature_p95_query, sla.signature_p95_ms))
        out += [meter.error_rate(s, sla.error_rate_percent) for s in sla.services]
    return out


def verdict(evidence: Evidence, measurements: list[Measurement], problem: str) -> None:
    """Record every figure against its objective; fail naming each one missed."""
    evidence.table([{**m.row(), "query": m.query} for m in measurements])
    missed = [m.offender() for m in measurements if not m.met]
    evidence.expect_none(missed, problem, table=False)
