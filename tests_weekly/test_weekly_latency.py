"""Weekly: the 7-day average response time (seed 000 주간 성능 리포트)."""
from __future__ import annotations

import pytest

from opscheck.check import check
from opscheck.errors import DependencyError
from opscheck.sources.prometheus import render


@check(
    id="weekly.latency-7d",
    title="7-day average response time within the target",
    severity="medium",
    covers=["000.weekly.latency-7d"],
    remediation="""\
curl -s "http://prometheus:9090/api/v1/query" --data-urlencode 'query=rate(http_request_duration_seconds_sum[7d])/rate(http_request_duration_seconds_count[7d])'
Bottlenecks: database query time, HSM signing time, Vault key lookups. Fixes: add database indexes,
enable caching, size the connection pool, scale out replicas.""",
)
def test_latency_week(prometheus, profile, evidence):
    cfg, thr = profile.prometheus, profile.thresholds
    window = cfg.windows.weekly
    figures = [(what, q, limit) for what, q, limit in (
        ("API response time", cfg.api_latency_query, thr.api_latency_ms),
        ("signature time", cfg.signature_latency_query, thr.signature_latency_ms)) if q]
    if not figures:
        pytest.skip("not applicable: no prometheus.api_latency_query or signature_latency_query in this profile")
    rows, over, first = [], [], None
    for what, template, limit in figures:
        promql = render(template, window=window)
        seconds = prometheus.value(promql)
        if seconds is None:
            raise DependencyError(f"Prometheus returned no samples for {promql}: is the service scraped?")
        ms = seconds * 1000
        first = first or (round(ms, 1), limit)
        rows.append({"object": what, "average": f"{ms:.1f} ms", "threshold": f"{limit:g} ms", "query": promql})
        if ms > limit:
            over.append(f"{what} {ms:.0f} ms (threshold {limit:g} ms)")
    evidence.table(rows)
    evidence.record(measured=first[0], threshold=first[1], unit=" ms")  # the API figure (or the only one)
    if over:
        evidence.fail(f"average over {window} above the target: " + ", ".join(over))
