"""Linear trends and forecasts of utilisation ratios, computed by Prometheus.

Seed 002's capacity plan fits a line through 30 days of hourly CPU and memory figures
(numpy.polyfit) and projects it 180 days ahead; PromQL does the same over a subquery:
`predict_linear((q)[30d:1h], 180d)` and `deriv((q)[30d:1h])` (least squares on the
same hourly points). Each series of the query (a node, a volume) gets its own line.
"""

from __future__ import annotations

from dataclasses import dataclass

from opscheck.errors import DependencyError
from opscheck.profile import Forecast
from opscheck.sources.prometheus import PrometheusReader, Sample, is_number, series_name

DAY = 86400.0


@dataclass(frozen=True)
class Trend:
    name: str  # node, instance or namespace/pvc
    last: float  # the ratio now, or the latest one in the window (0..1)
    fitted: float  # the line's value now
    per_day: float  # the line's slope, ratio per day
    predicted: float  # the line's value at the horizon

    def days_until(self, level: float) -> float | None:
        """Days until the line reaches `level` (0 if already there); None if it never does."""
        if self.fitted >= level or self.last >= level:
            return 0.0
        if self.per_day <= 0:
            return None
        return (level - self.fitted) / self.per_day


def _key(sample: Sample) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in sample.labels.items() if k != "__name__"))


def trends(reader: PrometheusReader, query: str, forecast: Forecast) -> list[Trend]:
    """One trend per series of `query`; DependencyError when the window has no data."""
    sub = f"({query})[{forecast.window}:{forecast.step}]"
    horizon = forecast.horizon_days * DAY
    # The latest value: now if the series is live, else its last point in the window.
    last = {_key(s): s for s in reader.query(f"last_over_time({sub})")}
    last.update({_key(s): s for s in reader.query(query) if _key(s) in last and is_number(s.value)})
    fitted = {_key(s): s.value for s in reader.query(f"predict_linear({sub}, 0)")}
    slope = {_key(s): s.value for s in reader.query(f"deriv({sub})")}
    ahead = {_key(s): s.value for s in reader.query(f"predict_linear({sub}, {horizon:.0f})")}
    out = []
    for key, sample in last.items():
        # A series with a single point in the window has no line: nothing to forecast.
        if key not in slope or not all(is_number(v) for v in (slope[key], fitted[key], ahead[key])):
            continue
        out.append(Trend(series_name(sample.labels), sample.value, fitted[key], slope[key] * DAY, ahead[key]))
    if not out:
        raise DependencyError(f"Prometheus has no trend data over {forecast.window} for {query}")
    return sorted(out, key=lambda t: t.name)
