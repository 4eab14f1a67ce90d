"""Weekly: the 7-day average response time (seed 000 주간 성능 리포트)."""

from __future__ import annotations

from opscheck.check import check, component_absent
from opscheck.rules.monitoring import averages_over


@check("weekly.latency-7d", severity="medium", covers=["000.weekly.latency-7d"])
def test_latency_week(prometheus, profile, evidence):
    """7-day average response time within the target

    curl -s "http://prometheus:9090/api/v1/query" --data-urlencode 'query=rate(http_request_duration_seconds_sum[7d])/rate(http_request_duration_seconds_count[7d])'
    Bottlenecks: database query time, HSM signing time, Vault key lookups. Fixes: add database indexes,
    enable caching, size the connection pool, scale out replicas.
    """
    cfg, thr = profile.prometheus, profile.thresholds
    window = cfg.windows.weekly
    figures = [
        (what, q, limit)
        for what, q, limit in (
            ("API response time", cfg.api_latency_query, thr.api_latency_ms),
            ("signature time", cfg.signature_latency_query, thr.signature_latency_ms),
        )
        if q
    ]
    if not figures:
        component_absent(
            profile.required, "prometheus", "no prometheus.api_latency_query or signature_latency_query in this profile"
        )
    measured = [
        (what, promql, seconds * 1000, limit)
        for what, q, limit in figures
        for seconds, promql in [prometheus.scraped_value(q, window=window)]
    ]
    rows, over = averages_over(measured)
    evidence.table(rows)
    evidence.record(
        measured=round(measured[0][2], 1), threshold=measured[0][3], unit=" ms"
    )  # the API figure (or the only one)
    if over:
        evidence.fail(f"average over {window} above the target: " + ", ".join(over))
