"""Postdeploy: metrics are collected, alerting works, and performance is normal after the
rollout (seed 001 배포 후 체크리스트: 메트릭 수집 정상, Alert 정상 동작, 성능 지표 정상 범위)."""
from __future__ import annotations

import pytest

from opscheck.check import check
from opscheck.errors import DependencyError
from opscheck.sources.prometheus import now
from opscheck.sources.slo import ServiceMeter, sla_measurements, verdict

# A scrape older than this many intervals (plus a little slack) is not fresh.
FRESH_INTERVALS = 3


@check(
    id="postdeploy.metrics-collected",
    title="Every expected job is scraped with fresh samples",
    severity="high",
    covers=["001.postdeploy.metrics-collected"],
    remediation="""\
http://localhost:9090/targets: the job's targets and their last error. No target: the ServiceMonitor's
selector does not match the new Service/pod labels (kubectl get servicemonitor -n <namespace> -o yaml).
Down: the pod's /metrics port (kubectl port-forward, curl /metrics). Stale: scrape timeouts.""",
)
def test_metrics_collected(prometheus, profile, evidence):
    cfg = profile.prometheus
    if not cfg.expected_jobs:
        pytest.skip("not applicable: no prometheus.expected_jobs in this profile")
    targets = prometheus.targets()
    samples = {s.labels.get("job"): s.value for s in prometheus.query("sum by (job) (scrape_samples_scraped)")}
    rows, offenders = [], []
    for job in cfg.expected_jobs:
        mine = [t for t in targets if t.job == job]
        down = [t for t in mine if t.health != "up"]
        ages = [(now() - t.last_scrape).total_seconds() for t in mine if t.last_scrape]
        stale = [t for t, age in zip(mine, ages) if age > FRESH_INTERVALS * t.scrape_interval_seconds + 5]
        problem = ""
        if not mine:
            problem = "no scrape target"
        elif down:
            problem = f"{len(down)} of {len(mine)} targets down: " + "; ".join(
                f"{t.instance} {t.last_error or t.health}" for t in down)
        elif stale or len(ages) < len(mine):
            problem = f"last scrape {max(ages, default=0):.0f} s ago"
        elif not samples.get(job):
            problem = "0 samples in the last scrape"
        rows.append({"object": f"job {job}", "targets": len(mine), "up": len(mine) - len(down),
                     "last scrape": f"{min(ages):.0f} s ago" if ages else "never",
                     "samples": int(samples.get(job) or 0), "problem": problem})
        if problem:
            offenders.append({"object": f"job {job}", "detail": problem})
    evidence.table(rows)
    evidence.expect_none(offenders, "expected jobs without fresh samples", table=False)


@check(
    id="postdeploy.alerts-working",
    title="Alert rules evaluate without errors and alerts reach Alertmanager",
    severity="high",
    covers=["001.postdeploy.alerts-working"],
    remediation="""\
http://localhost:9090/rules: fix the rules with an evaluation error (promtool check rules; query the
expression in the graph view). Alertmanager: kubectl get pods -n monitoring -l app.kubernetes.io/name=alertmanager,
its log, and http://localhost:9090/status (Alertmanagers). The Watchdog alert must always be visible in
Alertmanager: if it is missing, the path Prometheus -> Alertmanager is broken.""",
)
def test_alerts_working(prometheus, alertmanagers, profile, evidence):
    cfg = profile.prometheus.alerting
    rows, offenders = [], []
    for r in prometheus.rules():
        if r.health == "err":
            offenders.append({"object": f"rule {r.name}", "detail": f"evaluation error: {r.last_error}"})
    rows.append({"object": "rules", "state": f"{len(offenders)} with evaluation errors"})
    if not alertmanagers:
        offenders.append({"object": "Alertmanager", "detail": "Prometheus sends alerts to none"})
    for am in alertmanagers:
        try:
            status = am.status()
            held = am.alert_names()
        except DependencyError as exc:
            rows.append({"object": f"Alertmanager {am.url}", "state": str(exc)})
            offenders.append({"object": f"Alertmanager {am.url}", "detail": str(exc).removeprefix(f"Alertmanager at {am.url} ")})
            continue
        state = f"{status.version}, cluster {status.cluster}, {len(held)} active alerts"
        if status.cluster not in ("ready", "disabled", ""):
            offenders.append({"object": f"Alertmanager {am.url}", "detail": f"cluster {status.cluster}"})
        if cfg.watchdog:
            state += f", {cfg.watchdog} {'received' if cfg.watchdog in held else 'MISSING'}"
            if cfg.watchdog not in held:
                offenders.append({"object": f"Alertmanager {am.url}", "detail": f"has no {cfg.watchdog} alert: alerts do not arrive"})
        rows.append({"object": f"Alertmanager {am.url}", "state": state})
    evidence.table(rows)
    evidence.expect_none(offenders, "alerting problems", table=False)


@check(
    id="postdeploy.perf-normal",
    title="Response times and error rate since the rollout within the SLA",
    severity="high",
    covers=["001.postdeploy.perf-normal"],
    remediation="""\
Compare with the previous release (P95, error rate on the dashboards); kubectl logs -n qsign -l app=<service>
--since=15m | grep ERROR. If the new release is the cause, roll back (kubectl rollout undo deployment/<name>
-n qsign, or the Argo CD previous revision) and analyse before the next attempt.""",
)
def test_perf_normal(prometheus, profile, evidence):
    cfg = profile.prometheus
    if cfg.sla is None:
        pytest.skip("not applicable: no prometheus.sla in this profile")
    meter = ServiceMeter(prometheus, cfg.service_queries, cfg.windows.postdeploy)
    verdict(evidence, sla_measurements(meter, cfg.sla, availability=False),
            f"SLA objectives missed over the last {cfg.windows.postdeploy}")
