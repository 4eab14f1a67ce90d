"""Predeploy: monitoring and alerting are set up for what is being deployed (seed 001 배포 전
체크리스트: 모니터링/알림 설정 확인)."""
from __future__ import annotations

import pytest

from opscheck.check import check
from opscheck.errors import DependencyError


@check(
    id="predeploy.monitoring-configured",
    title="Scrape targets, expected alert rules and a reachable Alertmanager are configured",
    severity="high",
    covers=["001.predeploy.monitoring-configured"],
    remediation="""\
Before the rollout: add the ServiceMonitor/PodMonitor (or scrape job) for each workload, apply the
PrometheusRule with its alerts (promtool check rules), and make sure Prometheus lists an Alertmanager
(http://localhost:9090/status, "Alertmanagers") that answers (kubectl get pods -n monitoring -l
app.kubernetes.io/name=alertmanager).""",
)
def test_monitoring_configured(prometheus, alertmanagers, profile, evidence):
    cfg = profile.prometheus
    if not cfg.expected_jobs and not cfg.alerting.expected_rules:
        pytest.skip("not applicable: no prometheus.expected_jobs or alerting.expected_rules in this profile")
    jobs = {t.job for t in prometheus.targets()}
    rules = {r.name for r in prometheus.rules() if r.kind == "alerting"}
    rows, offenders = [], []
    for job in cfg.expected_jobs:
        rows.append({"object": f"scrape job {job}", "configured": "yes" if job in jobs else "NO"})
        if job not in jobs:
            offenders.append({"object": f"scrape job {job}", "detail": "no scrape target"})
    for name in cfg.alerting.expected_rules:
        rows.append({"object": f"alert rule {name}", "configured": "yes" if name in rules else "NO"})
        if name not in rules:
            offenders.append({"object": f"alert rule {name}", "detail": "not loaded"})
    if not alertmanagers:
        offenders.append({"object": "Alertmanager", "detail": "Prometheus sends alerts to none"})
    for am in alertmanagers:
        try:
            status = am.status()
            rows.append({"object": f"Alertmanager {am.url}", "configured": f"yes, {status.version}"})
        except DependencyError as exc:
            rows.append({"object": f"Alertmanager {am.url}", "configured": str(exc)})
            offenders.append({"object": f"Alertmanager {am.url}", "detail": str(exc).removeprefix(f"Alertmanager at {am.url} ")})
    evidence.table(rows)
    evidence.expect_none(offenders, "monitoring or alerting settings missing", table=False)
