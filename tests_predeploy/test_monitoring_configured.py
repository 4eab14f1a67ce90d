"""Predeploy: monitoring and alerting are set up for what is being deployed (seed 001 배포 전
체크리스트: 모니터링/알림 설정 확인)."""

from __future__ import annotations

from opscheck.check import check, component_absent
from opscheck.rules.monitoring import monitoring_gaps


@check("predeploy.monitoring-configured", severity="high", covers=["001.predeploy.monitoring-configured"])
def test_monitoring_configured(prometheus, alertmanagers, profile, evidence):
    """Scrape targets, expected alert rules and a reachable Alertmanager are configured

    Before the rollout: add the ServiceMonitor/PodMonitor (or scrape job) for each workload, apply the
    PrometheusRule with its alerts (promtool check rules), and make sure Prometheus lists an Alertmanager
    (http://localhost:9090/status, "Alertmanagers") that answers (kubectl get pods -n monitoring -l
    app.kubernetes.io/name=alertmanager).
    """
    cfg = profile.prometheus
    if not cfg.expected_jobs and not cfg.alerting.expected_rules:
        component_absent(
            profile.required, "prometheus", "no prometheus.expected_jobs or alerting.expected_rules in this profile"
        )
    jobs = {t.job for t in prometheus.targets()}
    rules = {r.name for r in prometheus.rules() if r.kind == "alerting"}
    rows, offenders = monitoring_gaps(cfg, jobs, rules, [am.state(alerts=False) for am in alertmanagers])
    evidence.table(rows)
    evidence.expect_none(offenders, "monitoring or alerting settings missing", table=False)
