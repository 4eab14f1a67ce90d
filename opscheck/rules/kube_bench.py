"""kube-bench results judged: failures not on the accepted list, results too old."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING, Any

from opscheck.profile import AcceptedFinding

if TYPE_CHECKING:
    from opscheck.sources.kube_bench import BenchResult

Row = dict[str, Any]
STATUSES = ("PASS", "FAIL", "WARN", "INFO")


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


def stale_results(name: str, age_days: float, max_age_days: float) -> list[Row]:
    """The results file as an offender when it is older than `max_age_days`."""
    if age_days > max_age_days:
        return [{"object": name, "detail": f"results are {age_days:.0f} days old (at most {max_age_days:g})"}]
    return []
