"""Missed-run detection: is every cadence of a profile run as often as it should be?

Read from the run ledger (the sealed run folders of a reports directory), so what counts
is a run that completed and was recorded, not one that cron merely started. For a cadence
the current run includes, the gap since its previous run is measured (this morning's run
notices that yesterday's was missed); for the others, the age of their newest run. A
cadence that never ran is measured from the first recorded run of the profile, so a new
installation is not in breach on its first day.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from opscheck.record.ledger import run_profile, sealed_runs
from opscheck.timeutil import describe_age, parse_time


@dataclass(frozen=True)
class CadenceStatus:
    cadence: str
    limit: timedelta
    last_run: datetime | None  # newest earlier run that included the cadence
    since: datetime  # what the age is measured from (last run, or the ledger's first run)
    age: timedelta
    in_this_run: bool

    @property
    def missed(self) -> bool:
        return self.age > self.limit

    def describe(self) -> str:
        limit = describe_age(self.limit)
        if self.last_run is None and self.in_this_run:
            return f"{self.cadence}: first recorded run of this cadence (limit {limit})"
        if self.last_run is None:
            return (
                f"{self.cadence}: never run since the first recorded run of this profile "
                f"{self.since:%Y-%m-%d %H:%M}Z ({describe_age(self.age)} ago, limit {limit})"
            )
        what = "previous run" if self.in_this_run else "last run"
        return (
            f"{self.cadence}: {what} {self.last_run:%Y-%m-%d %H:%M}Z "
            f"({describe_age(self.age)} before this run, limit {limit})"
        )

    def as_row(self) -> dict[str, Any]:
        return {
            "object": f"{self.cadence} checklist",
            "detail": self.describe().split(": ", 1)[1],
            "last run (UTC)": f"{self.last_run:%Y-%m-%d %H:%M}" if self.last_run else "never",
            "age": describe_age(self.age),
            "limit": describe_age(self.limit),
            "in this run": "yes" if self.in_this_run else "no",
        }


def runs_of(reports_dir: Path, profile: str) -> list[tuple[datetime, list[str]]]:
    """(start, cadences) of every sealed run of `profile`, newest first."""
    runs = []
    for data in sealed_runs(reports_dir):
        if run_profile(data) != profile:
            continue
        run = data.get("run") or {}
        started = parse_time(run.get("started"))
        if started is not None:
            runs.append((started, list(run.get("cadences") or [])))
    return runs


def cadence_status(
    runs: Iterable[tuple[datetime, list[str]]],
    limits: Mapping[str, timedelta],
    now: datetime,
    current: Iterable[str],
) -> list[CadenceStatus]:
    """One status per cadence in `limits`, from the earlier runs (`runs`, any order)."""
    runs = [(t, c) for t, c in runs if t <= now]
    current = set(current)
    first = min((t for t, _ in runs), default=now)
    statuses = []
    for cadence, limit in limits.items():
        last = max((t for t, cads in runs if cadence in cads), default=None)
        # A cadence first run now starts its schedule; one never run is late from the ledger's start.
        since = last or (now if cadence in current else first)
        statuses.append(CadenceStatus(cadence, limit, last, since, now - since, cadence in current))
    return statuses
