"""Weekly: the week's disk growth (seed 000 용량 계획: 디스크 사용 추세) and the CPU/memory
trend (seed 003 리소스 사용률 트렌드 분석), as linear forecasts in Prometheus."""

from __future__ import annotations

from opscheck.check import check, configured
from opscheck.rules.capacity import forecast_problem, forecast_text, volume_rows


@check("weekly.disk-trend", severity="high", covers=["000.weekly.disk-trend"])
def test_disk_trend(capacity_trends, profile, evidence):
    """No volume fills up within the horizon at the week's growth

    kubectl exec -n qsign postgresql-0 -- du -sh /var/lib/postgresql/data; kubectl exec -n qsign postgresql-0 -- df -h /var/lib/postgresql/data
    Find what grows (tables and indexes: pg_total_relation_size; WAL: pg_wal; logs), clean up or archive old
    data, and expand the PVC before it fills (kubectl patch pvc ... spec.resources.requests.storage, with a
    StorageClass that allows volume expansion).
    """
    cfg = profile.prometheus
    query = configured(
        cfg.volume_usage_query, profile.required, "prometheus", "no prometheus.volume_usage_query in this profile"
    )
    fc = cfg.capacity.disk_trend
    rows, offenders = volume_rows(capacity_trends(query, fc), fc, 1.0)
    evidence.table(rows)
    evidence.note(f"linear trend over {fc.window} (step {fc.step}); horizon {fc.horizon_days:g} days")
    evidence.expect_none(
        offenders, f"volumes fill up within {fc.horizon_days:g} days at the {fc.window} growth", table=False
    )


@check("weekly.resource-trend", severity="medium", covers=["003.weekly.resource-trend"])
def test_resource_trend(resource_forecast, profile, evidence):
    """CPU and memory trend of the week stays under the thresholds over the horizon

    kubectl top nodes; kubectl top pods -A --sort-by=memory | head -20
    Check the HPAs (kubectl get hpa -A) and the workloads that grow; right-size requests/limits, fix leaks
    (memory that only grows), or add nodes before the thresholds are reached (scale out at CPU 70 % /
    memory 80 %).
    """
    fc = profile.prometheus.capacity.weekly_trend
    rows, offenders = resource_forecast(fc, storage=False)
    evidence.table(rows)
    evidence.note(forecast_text(fc))
    evidence.expect_none(offenders, forecast_problem(fc), table=False)
