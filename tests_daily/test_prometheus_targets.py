"""Daily: Prometheus scrapes every target, and the dashboards' key metrics have data
(seed 003: Prometheus 타겟 확인, Grafana 대시보드에서 주요 메트릭 확인)."""

from __future__ import annotations

from opscheck.check import check, component_absent
from opscheck.rules.monitoring import grafana_problems, query_short_of_series, targets_down


@check("daily.prometheus-targets", severity="high", covers=["003.monitoring.targets-up"])
def test_targets_up(prometheus, profile, evidence):
    """Every Prometheus scrape target is up

    kubectl port-forward -n monitoring svc/prometheus-operated 9090:9090, then http://localhost:9090/targets:
    the target's last error says why (connection refused: the exporter or pod is down; 401/403: credentials;
    timeout: scrape_timeout). Check the ServiceMonitors (kubectl get servicemonitor -n <namespace>) and the
    Prometheus Operator's log (kubectl logs -n monitoring deployment/prometheus-operator).
    """
    cfg = profile.prometheus
    targets = prometheus.targets()
    evidence.require(targets, f"Prometheus at {cfg.url} has no active scrape target")
    rows, offenders = targets_down(targets, cfg.ignore_jobs)
    evidence.table(rows)
    evidence.expect_none(offenders, f"of {len(targets)} scrape targets down", table=False)


@check("daily.dashboard-metrics", severity="medium", covers=["003.daily.dashboards-metrics"])
def test_dashboard_metrics(prometheus, grafana, profile, evidence):
    """The dashboards' key metrics return data (and Grafana is healthy, when configured)

    A panel without data: check the query in Prometheus (http://localhost:9090/graph), then the scrape targets
    (http://localhost:9090/targets) and the ServiceMonitors (kubectl get servicemonitor -n titanium-prod,
    kubectl get servicemonitor -n istio-system); kubectl logs -n monitoring deployment/prometheus-operator.
    Grafana unhealthy: kubectl logs -n monitoring deployment/grafana; test each datasource in
    Configuration > Data sources.
    """
    cfg = profile.prometheus
    # Grafana is checked only when the profile names it: without a Grafana URL (the test
    # environment: Grafana is not packaged in Debian) that part is not applicable and the
    # check covers the dashboards' key queries alone.
    if not cfg.dashboard_queries and grafana is None:
        component_absent(
            profile.required,
            "prometheus",
            "no prometheus.dashboard_queries and no prometheus.grafana_url in this profile",
        )
    offenders = []
    if grafana is None:
        evidence.note("Grafana: not applicable (no prometheus.grafana_url); dashboards' queries checked in Prometheus")
    else:
        rows, offenders = grafana_problems(grafana.url, grafana.health(), grafana.datasources())
        evidence.table(rows)
    for q in cfg.dashboard_queries:
        found, promql = prometheus.numeric_series(q.query, window=q.window)
        row, short = query_short_of_series(q.name, promql, len(found), q.min_series)
        evidence.table([row])
        offenders += short
    evidence.expect_none(offenders, "dashboard queries or Grafana parts without data", table=False)
