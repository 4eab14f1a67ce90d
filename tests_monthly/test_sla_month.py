"""Monthly: the SLA over the month, availability included (seed 001 운영 정책 SLA, 월간
점검: 성능 지표 리뷰)."""

from __future__ import annotations

from opscheck.check import check, configured
from opscheck.rules.slo import measurement_rows, sla_objectives


@check("monthly.sla", severity="high", covers=["001.sla.availability", "001.monthly.perf-review"])
def test_sla_month(measure, profile, evidence):
    """SLA over the month: availability 99.9 %, API P95 < 500 ms, signature P95 < 1 s, errors < 0.1 %

    Availability: find the outages in the month (up == 0, ServiceDown alerts, incident records) and their
    post-mortems; a service below 99.9 % (43 minutes of downtime a month) needs its action plan (replicas,
    PodDisruptionBudget, readiness probes). Latency and errors: review the month's slowest endpoints and
    error sources (kubectl logs -n qsign -l app=<service> | grep ERROR), the database (indexes, connection
    pool), the HSM and Vault response times; plan scaling (HPA, replicas) for the next month.
    """
    cfg = profile.prometheus
    sla = configured(cfg.sla, profile.required, "prometheus", "no prometheus.sla in this profile")
    rows, missed = measurement_rows(measure(sla_objectives(sla, availability=True), cfg.windows.monthly))
    evidence.table(rows)
    evidence.expect_none(missed, f"SLA objectives missed over {cfg.windows.monthly}", table=False)
