"""Service-level figures measured in Prometheus: availability, P95/P99 latency, 5xx rate,
slow requests, per service over a window, with the profile's PromQL templates
(prometheus.service_queries). Which figures to measure and their objectives:
opscheck/rules/slo.py.
"""

from __future__ import annotations

from opscheck.profile import ServiceQueries
from opscheck.sources.prometheus import PrometheusReader, le_pattern, render


class ServiceMeter:
    """Measures one service's figures over a window with the profile's query templates."""

    def __init__(self, reader: PrometheusReader, queries: ServiceQueries, window: str) -> None:
        self.reader, self.queries, self.window = reader, queries, window

    def _value(self, template: str, service: str, **extra: str) -> tuple[float | None, str]:
        promql = render(template, service=service, window=self.window, **extra)
        return self.reader.value(promql), promql

    def figure(
        self, figure: str, subject: str, *, quantile: float | None = None, template: str | None = None
    ) -> tuple[float | None, str]:
        """(value, PromQL): `availability` and `error_rate` in %, `latency` (at `quantile`)
        and `query_latency` (a query of its own, `template`) in ms; None: no data."""
        if figure == "availability":
            value, q = self._value(self.queries.availability, subject)
            scale = 100
        elif figure == "error_rate":
            value, q = self._value(self.queries.error_ratio, subject)
            scale = 100
        elif figure == "latency":
            value, q = self._value(self.queries.latency_quantile, subject, quantile=f"{quantile:g}")
            scale = 1000
        elif figure == "query_latency" and template:
            q = render(template, window=self.window)
            value, scale = self.reader.value(q), 1000
        else:
            raise ValueError(f"unknown figure {figure!r}")
        return (None if value is None else value * scale), q

    def slow_requests(self, service: str, threshold_ms: float) -> tuple[float | None, float | None]:
        """(requests, requests slower than `threshold_ms`) of a service over the window."""
        total = self._value(self.queries.requests, service)[0]
        slower = self._value(self.queries.slow_requests, service, le=le_pattern(threshold_ms / 1000))[0]
        return total, slower
