"""A release's artefacts judged: do they belong to the release being gated and are they
recent (by what they state themselves, never by file times), and does its load test meet
its thresholds (k6 summary)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opscheck.sources.release import LoadTestSummary, SuiteStamp

# A clock a few minutes ahead on the CI runner is not a forged timestamp.
CLOCK_SKEW = timedelta(minutes=5)
NO_RELEASE_ID = "no release id to tie the release's files to: set release.id in the profile or pass --release ID"

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


def _age(ran_at: datetime, now: datetime) -> str:
    days = (now - ran_at).total_seconds() / 86400
    return f"{days:.1f} days ago ({ran_at:%Y-%m-%d %H:%M}Z)"


def stamp_problem(
    release: str | None,
    ran_at: datetime | None,
    written: str | None,
    expected: str,
    now: datetime,
    max_age: timedelta,
    *,
    time_field: str,
    release_field: str,
) -> str | None:
    """Why a file stating `release` and the time `ran_at` (`written` as it was written) is
    not evidence for release `expected` now, or None when it is."""
    if release is None:
        return f"states no release ({release_field}), expected {expected}"
    if release != expected:
        return f"states release {release}, expected {expected}"
    if ran_at is None:
        return f"states no time it ran ({time_field})" if not written else f"{time_field} {written!r} is not a time"
    if ran_at > now + CLOCK_SKEW:
        return f"ran in the future ({ran_at:%Y-%m-%d %H:%M}Z)"
    if now - ran_at > max_age:
        return f"ran {_age(ran_at, now)}, older than the {max_age.total_seconds() / 86400:g}-day release window"
    return None


def junit_provenance(suites: Iterable[SuiteStamp], expected: str, now: datetime, max_age: timedelta) -> list[Row]:
    """An offender per JUnit file with a testsuite of another release, stating none, or run
    outside the window (the file's first such suite names the problem)."""
    offenders: dict[str, Row] = {}
    for s in suites:
        if s.file in offenders:
            continue
        problem = stamp_problem(
            s.release,
            s.ran_at,
            s.timestamp,
            expected,
            now,
            max_age,
            time_field="testsuite timestamp",
            release_field='<property name="release">',
        )
        if problem is not None:
            offenders[s.file] = {"object": s.file, "detail": f"testsuite {s.suite or '?'} {problem}"}
    return list(offenders.values())


def load_test_provenance(summary: LoadTestSummary, expected: str, now: datetime, max_age: timedelta) -> str | None:
    """Why the k6 summary is not evidence for release `expected` now, or None."""
    problem = stamp_problem(
        summary.release,
        summary.finished_at,
        summary.finished_at_text,
        expected,
        now,
        max_age,
        time_field="finished_at",
        release_field="release",
    )
    return None if problem is None else f"{summary.path} {problem}"


def load_test_window(summary: LoadTestSummary) -> str:
    """When the load test ran, as the summary states it: `2026-12-05 07:40Z-07:50Z (10.0 min)`."""
    if summary.finished_at is None:
        return "at an unstated time"
    if summary.duration_ms is None:
        return f"finished {summary.finished_at:%Y-%m-%d %H:%M}Z"
    started = summary.finished_at - timedelta(milliseconds=summary.duration_ms)
    return f"{started:%Y-%m-%d %H:%M}Z-{summary.finished_at:%H:%M}Z ({summary.duration_ms / 60000:.1f} min)"
