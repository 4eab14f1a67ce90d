"""Judging capacity trends (opscheck/sources/capacity.py): which series pass their
threshold at the forecast's horizon, which volumes fill up within it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from opscheck.profile import Forecast, PrometheusConfig, Thresholds

if TYPE_CHECKING:
    from opscheck.sources.capacity import Trend


def pct(ratio: float) -> str:
    """A ratio as a percentage for messages: 0.734 -> '73.4%'."""
    value = ratio * 100
    return f"{value:.1f}%" if abs(value) < 1000 else f"{value:.0f}%"


def resource_queries(
    config: PrometheusConfig, thresholds: Thresholds, *, storage: bool
) -> list[tuple[str, str, float]]:
    """(label, utilisation ratio query, limit %) of the resources the profile can forecast:
    CPU and memory (prometheus.capacity), and the volumes when `storage`."""
    cap = config.capacity
    candidates = [
        ("cpu", cap.cpu_query, thresholds.cpu_percent),
        ("memory", cap.memory_query, thresholds.memory_percent),
    ]
    if storage:
        candidates.append(("storage", config.volume_usage_query, thresholds.disk_percent))
    return [(label, query, limit) for label, query, limit in candidates if query]


def forecast_text(forecast: Forecast) -> str:
    return f"linear trend over {forecast.window} (step {forecast.step}), projected {forecast.horizon_days:g} days"


def forecast_problem(forecast: Forecast) -> str:
    return f"resources forecast over their threshold in {forecast.horizon_days:g} days ({forecast.window} trend)"


def forecast_rows(
    resources: Sequence[tuple[str, Sequence[Trend], float]], forecast: Forecast
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """(evidence rows, offenders) for each resource (label, its series' trends, limit %):
    the series whose line passes the limit at the forecast's horizon."""
    rows: list[dict[str, object]] = []
    offenders: list[dict[str, object]] = []
    horizon = f"{forecast.horizon_days:g} days"
    for label, trends, limit in resources:
        for t in trends:
            rows.append(
                {
                    "object": f"{label} {t.name}",
                    "now": pct(t.last),
                    "trend per day": f"{t.per_day * 100:+.3f}%",
                    f"forecast in {horizon}": pct(t.predicted),
                    "threshold": f"{limit:g}%",
                }
            )
            if t.predicted * 100 > limit:
                offenders.append(
                    {
                        "object": f"{label} {t.name}",
                        "detail": f"{pct(t.last)} now, {pct(t.predicted)} in {horizon} > {limit:g}%",
                    }
                )
    return rows, offenders


def volume_rows(
    trends: Sequence[Trend], forecast: Forecast, level: float
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """(evidence rows, offenders) for volumes whose line reaches `level` (0..1) within the
    forecast's horizon."""
    rows: list[dict[str, object]] = []
    offenders: list[dict[str, object]] = []
    for t in trends:
        days = t.days_until(level)
        when = "never (not growing)" if days is None else f"{days:.1f} days"
        rows.append(
            {
                "object": t.name,
                "used": pct(t.last),
                "trend per day": f"{t.per_day * 100:+.3f}%",
                f"reaches {pct(level)} in": when,
            }
        )
        if days is not None and days < forecast.horizon_days:
            offenders.append(
                {
                    "object": t.name,
                    "detail": f"{pct(t.last)} used, {t.per_day * 100:+.2f}%/day: {pct(level)} in {days:.1f} days",
                }
            )
    return rows, offenders
