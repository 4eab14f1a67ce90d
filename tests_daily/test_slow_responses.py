"""Daily: requests slower than 1000 ms over the day, from the latency histograms
(seed 002 로그 검토: 느린 응답 감지, response_time > 1000ms)."""
from __future__ import annotations

import pytest

from opscheck.check import check, fmt
from opscheck.sources.prometheus import le_pattern, render


@check(
    id="daily.slow-responses",
    title="Few requests slower than the slow-response threshold over the day",
    severity="medium",
    covers=["002.daily.slow-responses"],
    remediation="""\
kubectl logs --since=24h -l app=api-server -n <namespace> | grep "response_time" | awk '$NF > 1000' | tail -10
Find the slow endpoints and their bottleneck: database query time (pg_stat_statements mean_time), HSM or
external calls, cache hit rate (redis-cli INFO stats); then tune queries and indexes, enable caching,
size connection pools, or scale out (HPA).""",
)
def test_slow_responses(prometheus, profile, evidence):
    cfg = profile.prometheus
    slow = cfg.slow_responses
    services = slow.services or (cfg.sla.services if cfg.sla else [])
    if not services:
        pytest.skip("not applicable: no prometheus.slow_responses.services (nor sla.services) in this profile")
    window = cfg.windows.daily
    le = le_pattern(slow.threshold_ms / 1000)
    rows, offenders, worst = [], [], 0.0
    for service in services:
        total = prometheus.value(render(cfg.service_queries.requests, service=service, window=window))
        late = prometheus.value(render(cfg.service_queries.slow_requests, service=service, window=window, le=le))
        if not total or late is None:
            rows.append({"object": service, "requests": 0 if not total else round(total), "slower": "", "share": "no requests"})
            continue
        share = max(late, 0.0) / total * 100
        worst = max(worst, share)
        rows.append({"object": service, "requests": round(total), "slower": round(max(late, 0.0)), "share": f"{share:.2f}%"})
        if share > slow.max_percent:
            offenders.append({"object": service, "detail": f"{round(late)} of {round(total)} requests, {share:.1f}%"})
    evidence.table(rows)
    evidence.record(measured=round(worst, 2), threshold=slow.max_percent, unit="%")
    if offenders:
        evidence.fail(f"{len(offenders)} services answer more than {fmt(float(slow.max_percent))}% of requests slower than "
                      f"{fmt(float(slow.threshold_ms))} ms over {window}: "
                      + ", ".join(f"{o['object']} ({o['detail']})" for o in offenders))
