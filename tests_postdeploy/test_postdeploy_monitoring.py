"""Postdeploy: metrics are collected, alerting works, and performance is normal after the
rollout (seed 001 배포 후 체크리스트: 메트릭 수집 정상, Alert 정상 동작, 성능 지표 정상 범위)."""

from __future__ import annotations

from opscheck.check import check, configured
from opscheck.rules.alerts import alerting_path
from opscheck.rules.monitoring import stale_jobs
from opscheck.rules.slo import measurement_rows, sla_objectives
from opscheck.timeutil import utc_now


@check("postdeploy.metrics-collected", severity="high", covers=["001.postdeploy.metrics-collected"])
def test_metrics_collected(prometheus, profile, evidence):
    """Every expected job is scraped with fresh samples

    http://localhost:9090/targets: the job's targets and their last error. No target: the ServiceMonitor's
    selector does not match the new Service/pod labels (kubectl get servicemonitor -n <namespace> -o yaml).
    Down: the pod's /metrics port (kubectl port-forward, curl /metrics). Stale: scrape timeouts.
    """
    jobs = configured(
        profile.prometheus.expected_jobs, profile.required, "prometheus", "no prometheus.expected_jobs in this profile"
    )
    rows, offenders = stale_jobs(jobs, prometheus.targets(), prometheus.samples_per_job(), utc_now())
    evidence.table(rows)
    evidence.expect_none(offenders, "expected jobs without fresh samples", table=False)


@check("postdeploy.alerts-working", severity="high", covers=["001.postdeploy.alerts-working"])
def test_alerts_working(prometheus, alertmanagers, profile, evidence):
    """Alert rules evaluate without errors and alerts reach Alertmanager

    http://localhost:9090/rules: fix the rules with an evaluation error (promtool check rules; query the
    expression in the graph view). Alertmanager: kubectl get pods -n monitoring -l app.kubernetes.io/name=alertmanager,
    its log, and http://localhost:9090/status (Alertmanagers). The Watchdog alert must always be visible in
    Alertmanager: if it is missing, the path Prometheus -> Alertmanager is broken.
    """
    rows, offenders = alerting_path(
        prometheus.rules(), [am.state() for am in alertmanagers], profile.prometheus.alerting.watchdog
    )
    evidence.table(rows)
    evidence.expect_none(offenders, "alerting problems", table=False)


@check("postdeploy.perf-normal", severity="high", covers=["001.postdeploy.perf-normal"])
def test_perf_normal(measure, profile, evidence):
    """Response times and error rate since the rollout within the SLA

    Compare with the previous release (P95, error rate on the dashboards); kubectl logs -n qsign -l app=<service>
    --since=15m | grep ERROR. If the new release is the cause, roll back (kubectl rollout undo deployment/<name>
    -n qsign, or the Argo CD previous revision) and analyse before the next attempt.
    """
    cfg = profile.prometheus
    sla = configured(cfg.sla, profile.required, "prometheus", "no prometheus.sla in this profile")
    rows, missed = measurement_rows(measure(sla_objectives(sla, availability=False), cfg.windows.postdeploy))
    evidence.table(rows)
    evidence.expect_none(missed, f"SLA objectives missed over the last {cfg.windows.postdeploy}", table=False)
