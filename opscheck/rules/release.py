"""A release's load test judged against its thresholds (k6 summary)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opscheck.sources.release import LoadTestSummary

Row = dict[str, Any]


def load_test_rows(summary: LoadTestSummary, limits: Any) -> tuple[list[Row], str | None]:
    """(a row per threshold set, `detail` "ok" or by how much it is missed; the first
    measure the summary lacks for a threshold, or None)."""
    rows = []
    for what, measured, limit, unit in (
        ("P95 latency", summary.p95_ms, limits.p95_ms, "ms"),
        ("P99 latency", summary.p99_ms, limits.p99_ms, "ms"),
        ("error rate", summary.error_rate, limits.error_rate, ""),
    ):
        if limit is None:
            continue
        if measured is None:
            return rows, what
        row = {"object": what, "measured": measured, "threshold": limit, "unit": unit}
        row["detail"] = f"{measured:g}{unit} over {limit:g}{unit}" if measured > limit else "ok"
        rows.append(row)
    return rows, None
