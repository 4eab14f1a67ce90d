"""Weekly: the SLA's response-time and error-rate objectives (seed 001 운영 정책), and the
service-level objectives of each service tier (seed 002 서비스 레벨 목표), over the week."""

from __future__ import annotations

from opscheck.check import check, component_absent, configured
from opscheck.rules.slo import measurement_rows, sla_objectives, tier_objectives

SLA_REMEDIATION = """\
Latency: kubectl logs -n qsign -l app=api-server | grep "Response time" | tail -50; bottlenecks are the
database query time, HSM signing time and Vault key lookups; add indexes, enable caching, size the
connection pool, scale out replicas (HPA). Errors: kubectl logs -n qsign -l app=<service> --since=1h | grep ERROR.
A missed SLA objective is an incident (P2 major: respond within 30 minutes) with a post-mortem."""

SLO_REMEDIATION = """\
Find the service's bottleneck on the Application Performance dashboard (P95/P99, RPS, error rate):
memory (kubectl top pods -A --sort-by=memory), database (pg_stat_statements, connections), cache
(redis-cli INFO stats); scale out (HPA minReplicas) or roll back the last change. Follow the incident
playbook for the tier (critical: P1, respond within 15 minutes) and hold a post-mortem."""


@check(
    "weekly.sla",
    severity="high",
    covers=["001.sla.api-p95", "001.sla.signature-p95", "001.sla.error-rate"],
    remediation=SLA_REMEDIATION,
)
def test_sla_week(measure, profile, evidence):
    """SLA over the week: API P95 < 500 ms, signature P95 < 1 s, error rate < 0.1 %"""
    cfg = profile.prometheus
    sla = configured(cfg.sla, profile.required, "prometheus", "no prometheus.sla in this profile")
    rows, missed = measurement_rows(measure(sla_objectives(sla, availability=False), cfg.windows.weekly))
    evidence.table(rows)
    evidence.expect_none(missed, f"SLA objectives missed over {cfg.windows.weekly}", table=False)


def _tier(measure, profile, evidence, name: str) -> None:
    cfg = profile.prometheus
    tier = next((t for t in cfg.slo_tiers if t.name == name), None)
    if tier is None or not tier.services:
        component_absent(profile.required, "prometheus", f"no services in the {name} SLO tier (prometheus.slo_tiers)")
    rows, missed = measurement_rows(measure(tier_objectives(tier), cfg.windows.weekly))
    evidence.table(rows)
    evidence.expect_none(missed, f"{name}-tier SLO objectives missed over {cfg.windows.weekly}", table=False)


@check("weekly.slo-critical", severity="critical", covers=["002.slo.critical"], remediation=SLO_REMEDIATION)
def test_slo_critical(measure, profile, evidence):
    """Critical services meet their SLO: 99.9 %, P95 < 200 ms, P99 < 500 ms, errors < 0.1 %"""
    _tier(measure, profile, evidence, "critical")


@check("weekly.slo-important", severity="high", covers=["002.slo.important"], remediation=SLO_REMEDIATION)
def test_slo_important(measure, profile, evidence):
    """Important services meet their SLO: 99.5 %, P95 < 1 s, P99 < 3 s, errors < 0.5 %"""
    _tier(measure, profile, evidence, "important")


@check(
    "weekly.slo-supporting",
    severity="medium",
    covers=["002.slo.supporting"],
    remediation=SLO_REMEDIATION
    + """
Supporting services (monitoring, logging) also promise < 0.01 % data loss and < 15 minutes recovery:
those are not measured here.""",
)
def test_slo_supporting(measure, profile, evidence):
    """Supporting services meet their SLO: 99.0 % available"""
    _tier(measure, profile, evidence, "supporting")
