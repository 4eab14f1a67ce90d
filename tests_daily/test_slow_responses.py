"""Daily: requests slower than 1000 ms over the day, from the latency histograms
(seed 002 로그 검토: 느린 응답 감지, response_time > 1000ms)."""

from __future__ import annotations

from opscheck.check import check, configured, fmt
from opscheck.rules.monitoring import slow_shares


@check("daily.slow-responses", severity="medium", covers=["002.daily.slow-responses"])
def test_slow_responses(service_meter, profile, evidence):
    """Few requests slower than the slow-response threshold over the day

    kubectl logs --since=24h -l app=api-server -n <namespace> | grep "response_time" | awk '$NF > 1000' | tail -10
    Find the slow endpoints and their bottleneck: database query time (pg_stat_statements mean_time), HSM or
    external calls, cache hit rate (redis-cli INFO stats); then tune queries and indexes, enable caching,
    size connection pools, or scale out (HPA).
    """
    cfg = profile.prometheus
    slow = cfg.slow_responses
    services = configured(
        slow.services or (cfg.sla.services if cfg.sla else []),
        profile.required,
        "prometheus",
        "no prometheus.slow_responses.services (nor sla.services) in this profile",
    )
    window = cfg.windows.daily
    meter = service_meter(window)
    counts = [(service, *meter.slow_requests(service, slow.threshold_ms)) for service in services]
    rows, offenders, idle, worst = slow_shares(counts, slow.max_percent)
    evidence.table(rows)
    evidence.expect_none(idle, f"services with no requests over {window}: nothing to judge", table=False)
    evidence.record(measured=round(worst, 2), threshold=slow.max_percent, unit="%")
    if offenders:
        evidence.fail(
            f"{len(offenders)} services answer more than {fmt(float(slow.max_percent))}% of requests slower than "
            f"{fmt(float(slow.threshold_ms))} ms over {window}: "
            + ", ".join(f"{o['object']} ({o['detail']})" for o in offenders)
        )
