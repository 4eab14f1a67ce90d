"""Monthly: capacity forecasts (seed 002 용량 계획: 6-month forecast, CPU < 70 %, memory < 80 %;
seed 001 용량 사용 추세 분석; seed 000 스토리지 확장 필요성 평가)."""

from __future__ import annotations

from opscheck.check import check, configured
from opscheck.rules.capacity import forecast_problem, forecast_text, volume_rows


@check("monthly.capacity-forecast", severity="high", covers=["002.capacity.forecast", "001.monthly.capacity-trend"])
def test_capacity_forecast(resource_forecast, profile, evidence):
    """CPU, memory and storage forecast from the month's trend stay under the thresholds

    CPU over 70 % in the forecast: add nodes or move to a larger instance type (within 3-4 months; urgent
    above 85 %). Memory over 80 %: add memory or worker nodes (within 2-3 months; urgent above 90 %).
    Storage over 80 %: expand the volume (postgresql: next resize at 80 %, e.g. 500 GB -> 1 TB) or archive
    old data. Cluster scaling triggers: scale out at CPU 70 % / memory 80 % for 15 minutes.
    """
    fc = profile.prometheus.capacity.forecast
    rows, offenders = resource_forecast(fc, storage=True)
    evidence.table(rows)
    evidence.note(forecast_text(fc))
    evidence.expect_none(offenders, forecast_problem(fc), table=False)


@check("monthly.storage-expansion", severity="medium", covers=["000.monthly.storage-expansion"])
def test_storage_expansion(capacity_trends, profile, evidence):
    """No volume is forecast past the disk threshold within the planning horizon

    kubectl get pv,pvc -n qsign; kubectl exec -n qsign postgresql-0 -- df -h /var/lib/postgresql/data
    Plan the expansion before the volume passes 80 %: resize the PVC (StorageClass with
    allowVolumeExpansion), or archive/delete old data; review the growth rate every month.
    """
    cfg = profile.prometheus
    query = configured(
        cfg.volume_usage_query, profile.required, "prometheus", "no prometheus.volume_usage_query in this profile"
    )
    fc = cfg.capacity.storage_expansion
    level = profile.thresholds.disk_percent / 100
    rows, offenders = volume_rows(capacity_trends(query, fc), fc, level)
    evidence.table(rows)
    evidence.note(f"linear trend over {fc.window} (step {fc.step}); planning horizon {fc.horizon_days:g} days")
    evidence.expect_none(
        offenders, f"volumes pass {profile.thresholds.disk_percent:g}% within {fc.horizon_days:g} days", table=False
    )
