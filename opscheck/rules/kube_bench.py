"""kube-bench results judged: failures not on the accepted list, results too old."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from opscheck.profile import AcceptedFinding

if TYPE_CHECKING:
    from opscheck.sources.kube_bench import BenchResult

Row = dict[str, Any]
STATUSES = ("PASS", "FAIL", "WARN", "INFO")
CLOCK_SKEW_DAYS = 5 / 1440  # a scanner's clock a few minutes ahead is not a forged date


def accepted_for(result: BenchResult, accepted: list[AcceptedFinding], today: date) -> AcceptedFinding | None:
    for a in accepted:
        if a.id == result.number and (a.expires is None or a.expires >= today):
            return a
    return None


def status_counts(results: Iterable[BenchResult]) -> str:
    """`12 PASS, 1 FAIL, 3 WARN, 0 INFO`"""
    results = list(results)
    return ", ".join(f"{sum(1 for r in results if r.status == s)} {s}" for s in STATUSES)


def bench_findings(
    results: Iterable[BenchResult], fail_statuses: Iterable[str], accepted: list[AcceptedFinding], today: date
) -> tuple[list[Row], list[Row]]:
    """(a row per result at a failing status, offenders: those not accepted)."""
    failing = set(fail_statuses)
    rows, offenders = [], []
    for r in results:
        if r.status not in failing:
            continue
        a = accepted_for(r, accepted, today)
        rows.append(
            {
                "object": r.number,
                "status": r.status,
                "node_type": r.node_type,
                "test": r.description,
                "accepted": a.justification if a else "",
            }
        )
        if a is None:
            offenders.append({"object": r.number, "detail": f"{r.status}: {r.description}"})
    return rows, offenders


def stale_results(
    name: str, taken_at: datetime | None, written: str | None, now: datetime, max_age_days: float
) -> list[Row]:
    """The results file as an offender when the time it states is missing, in the future or
    older than `max_age_days` (a file's modification time is never used: a copy resets it)."""
    if taken_at is None:
        what = f"timestamp {written!r} is not a time" if written else "states no time it was taken"
        return [{"object": name, "detail": f"{what} (a top-level timestamp in the results)"}]
    age_days = (now - taken_at).total_seconds() / 86400
    if age_days < -CLOCK_SKEW_DAYS:
        return [{"object": name, "detail": f"dated in the future ({taken_at:%Y-%m-%d %H:%M}Z)"}]
    if age_days > max_age_days:
        return [
            {
                "object": name,
                "detail": f"results are {age_days:.0f} days old, taken {taken_at:%Y-%m-%d %H:%M}Z "
                f"(at most {max_age_days:g} days)",
            }
        ]
    return []
