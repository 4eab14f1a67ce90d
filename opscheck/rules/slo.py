"""Service-level objectives: which figures the SLA and the SLO tiers set, and whether each
measured figure meets its objective.

The SLA (seed 001), the SLO tiers (seed 002), the post-deploy performance check and the
monthly review all measure the same figures per service over a window (read by
opscheck/sources/slo.py's ServiceMeter) and compare each with its objective here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from opscheck.profile import SlaConfig, SloTier

Row = dict[str, Any]


@dataclass(frozen=True)
class Objective:
    """One figure to measure and its limit: `figure` is what ServiceMeter.figure reads."""

    subject: str  # a service, or a named figure ("signature")
    objective: str  # "availability", "P95", "P99", "error rate"
    figure: str  # "availability", "latency", "error_rate", "query_latency"
    limit: float
    unit: str  # "%" or " ms"
    minimum: bool  # True: the value must be at least the limit (availability)
    quantile: float | None = None  # latency
    template: str | None = None  # query_latency: a query of its own


def _availability(service: str, percent: float) -> Objective:
    return Objective(service, "availability", "availability", percent, "%", True)


def _latency(service: str, quantile: float, limit_ms: float) -> Objective:
    return Objective(service, f"P{quantile * 100:g}", "latency", limit_ms, " ms", False, quantile=quantile)


def _error_rate(service: str, percent: float) -> Objective:
    return Objective(service, "error rate", "error_rate", percent, "%", False)


def sla_objectives(sla: SlaConfig, *, availability: bool, performance: bool = True) -> list[Objective]:
    """The SLA's figures: availability per service; API P95, signature P95 and 5xx rate."""
    out: list[Objective] = []
    if availability:
        out += [_availability(s, sla.availability_percent) for s in sla.services]
    if performance:
        out += [_latency(s, 0.95, sla.api_p95_ms) for s in sla.api_services]
        if sla.signature_p95_query:
            out.append(
                Objective(
                    "signature",
                    "P95",
                    "query_latency",
                    sla.signature_p95_ms,
                    " ms",
                    False,
                    template=sla.signature_p95_query,
                )
            )
        out += [_error_rate(s, sla.error_rate_percent) for s in sla.services]
    return out


def tier_objectives(tier: SloTier) -> list[Objective]:
    """A tier's figures for each of its services: availability, P95, P99, error rate (those set)."""
    out: list[Objective] = []
    for service in tier.services:
        if tier.availability_percent is not None:
            out.append(_availability(service, tier.availability_percent))
        if tier.p95_ms is not None:
            out.append(_latency(service, 0.95, tier.p95_ms))
        if tier.p99_ms is not None:
            out.append(_latency(service, 0.99, tier.p99_ms))
        if tier.error_rate_percent is not None:
            out.append(_error_rate(service, tier.error_rate_percent))
    return out


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
    def has_data(self) -> bool:
        """A figure was measured: None (no series, no samples) and NaN or infinite (0/0 of an
        idle window, a quantile of nothing) are no data."""
        return self.value is not None and math.isfinite(self.value)

    @property
    def met(self) -> bool:
        """No data never meets an objective: an idle window or a misspelt metric judged nothing."""
        if not self.has_data:
            return False
        assert self.value is not None
        return self.value >= self.limit if self.minimum else self.value <= self.limit

    @property
    def objective_text(self) -> str:
        return f"{'>=' if self.minimum else '<'} {_number(float(self.limit))}{self.unit}"

    @property
    def value_text(self) -> str:
        if not self.has_data:
            return "no data" if self.value is None else f"no data ({self.value})"
        assert self.value is not None
        return f"{_fmt(self.value)}{self.unit}"

    def row(self) -> dict[str, object]:
        return {
            "object": f"{self.subject} {self.objective}",
            "measured": self.value_text,
            "objective": self.objective_text,
            "met": "yes" if self.met else "NO",
        }

    def offender(self) -> dict[str, object]:
        return {
            "object": f"{self.subject} {self.objective}",
            "detail": f"{self.value_text}, objective {self.objective_text}",
        }


def _fmt(value: float) -> str:
    """Enough digits to tell 99.95 from 99.9, and 0.05 % from 0."""
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.4g}"


class ServiceMeter:
    """Measures one service's figures over a window with the profile's query templates."""


def _number(value: float) -> str:
    """A limit as the check messages print it (opscheck.check.fmt): 99.9, 200, 0.1."""
    return f"{value:.1f}".rstrip("0").rstrip(".") if abs(value) >= 1 else f"{value:.3g}"


def measured(objective: Objective, value: float | None, query: str) -> Measurement:
    return Measurement(
        objective.subject, objective.objective, value, objective.limit, objective.unit, objective.minimum, query
    )


def measurement_rows(measurements: Sequence[Measurement]) -> tuple[list[Row], list[Row]]:
    """(rows: every figure against its objective, offenders: each one missed)."""
    return ([{**m.row(), "query": m.query} for m in measurements], [m.offender() for m in measurements if not m.met])
