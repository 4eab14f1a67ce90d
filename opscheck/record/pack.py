"""The monthly audit pack: a period of sealed runs read back as the runbook's history.

`python -m opscheck pack --month YYYY-MM` verifies the ledger, reads the sealed runs of the
period (their results.json) and writes one self-contained HTML page (inline CSS, an inline
SVG plot, no external asset): the verification result; every runbook item by day (daily
items) or by scheduled run (the other cadences) coloured by outcome; missed runs per
cadence; the longest failure streaks and the mean time to fix; waivers and attestations in
force and expired; the pass rate over time per system; a link to each run's own report.

Pure reading: nothing in the reports directory is written, the ledger's files included.
"""

from __future__ import annotations

import calendar
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from opscheck.errors import OpscheckError
from opscheck.record.checklist import OUTCOME_LABEL, covered_keys, worst
from opscheck.record.ledger import FAILING, Verdict, run_profile, sealed_folders
from opscheck.runbook import RunbookItem
from opscheck.timeutil import describe_age, parse_time


class PackError(OpscheckError):
    """No pack for this input: a bad period, no sealed run in it."""


@dataclass(frozen=True)
class Period:
    first: date
    last: date  # inclusive

    @property
    def label(self) -> str:
        if self.first.day == 1 and self.last == month_end(self.first):
            return f"{self.first:%Y-%m}"
        return f"{self.first}_{self.last}"

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    def holds(self, moment: datetime) -> bool:
        return self.first <= moment.date() <= self.last


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def period_of(month: str | None, first: str | None, last: str | None) -> Period:
    """The period `--month YYYY-MM` or `--from/--to YYYY-MM-DD` names; PackError: one line."""
    if month is not None:
        if first or last:
            raise PackError("--month or --from/--to, not both")
        if not re.fullmatch(r"\d{4}-\d{2}", month):
            raise PackError(f"--month {month}: not a month (YYYY-MM)")
        try:
            start = date(int(month[:4]), int(month[5:]), 1)
        except ValueError:
            raise PackError(f"--month {month}: not a month (YYYY-MM)") from None
        return Period(start, month_end(start))
    if not (first and last):
        raise PackError("name the period: --month YYYY-MM, or --from and --to YYYY-MM-DD")
    try:
        period = Period(date.fromisoformat(first), date.fromisoformat(last))
    except ValueError as exc:
        raise PackError(f"--from/--to: {exc} (YYYY-MM-DD)") from None
    if period.last < period.first:
        raise PackError(f"--to {last} is before --from {first}")
    return period


@dataclass
class SealedRun:
    seq: int
    folder: Path
    results: dict[str, Any]
    started: datetime

    @property
    def profile(self) -> str:
        return run_profile(self.results) or "?"

    @property
    def cadences(self) -> list[str]:
        return list((self.results.get("run") or {}).get("cadences") or [])

    @property
    def checks(self) -> list[dict[str, Any]]:
        return list(self.results.get("checks") or [])

    @property
    def verdict(self) -> str:
        return "failed" if (self.results.get("gate") or {}).get("failing") else "passed"

    def pass_rate(self) -> float | None:
        """Passed or attested among the checks evaluated (not applicable left out)."""
        evaluated = [c["outcome"] for c in self.checks if c["outcome"] != "not applicable"]
        if not evaluated:
            return None
        return sum(o in ("passed", "attested") for o in evaluated) / len(evaluated)


def read_runs(reports_dir: Path, profile: str | None) -> list[SealedRun]:
    """Every sealed run (of `profile`, when named), oldest first."""
    runs = []
    for seq, folder in sealed_folders(reports_dir):
        try:
            results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        started = parse_time((results.get("run") or {}).get("started"))
        if started is None or (profile is not None and run_profile(results) != profile):
            continue
        runs.append(SealedRun(seq, folder, results, started))
    return sorted(runs, key=lambda r: (r.started, r.seq))


# -- the grid ------------------------------------------------------------------------------
@dataclass
class GridCell:
    outcome: str | None  # None: no run (a missed day) or the item not in that run
    run: SealedRun | None = None
    note: str = ""


@dataclass
class GridRow:
    item: RunbookItem
    cells: list[GridCell]


@dataclass
class Grid:
    """One cadence's items: by day (daily) or by the runs that included the cadence."""

    cadence: str
    columns: list[str]
    rows: list[GridRow]
    by_day: bool


def item_outcomes(run: SealedRun) -> dict[str, str]:
    """Runbook key -> the worst outcome of the run's checks covering it."""
    by_key = covered_keys(run.checks)
    return {key: worst(c["outcome"] for c in checks) or "" for key, checks in by_key.items()}


def grids(runs: list[SealedRun], period: Period, items: Mapping[str, RunbookItem], today: date) -> list[Grid]:
    outcomes = {id(r): item_outcomes(r) for r in runs}
    seen = {key for r in runs for key in outcomes[id(r)]}
    result = []
    for cadence in dict.fromkeys(item.cadence for item in items.values()):
        cadence_items = [i for k, i in items.items() if k in seen and i.cadence == cadence]
        if not cadence_items:
            continue
        if cadence == "daily":
            # A day's cell shows the day's last run (a re-run after a repair counts); no run: missed.
            by_day: dict[date, SealedRun] = {}
            for r in runs:
                if "daily" in r.cadences:
                    by_day[r.started.date()] = r
            days = period.days()
            columns = [f"{d:%d}" for d in days]
            slots: list[tuple[SealedRun | None, str]] = [
                (by_day.get(d), "no run" if d <= today else "not yet") for d in days
            ]
        else:
            scheduled = [r for r in runs if cadence in r.cadences]
            columns = [f"{r.started:%m-%d}" for r in scheduled]
            slots = [(r, "") for r in scheduled]
        rows = []
        for item in cadence_items:
            cells = []
            for run, why in slots:
                if run is None:
                    cells.append(GridCell("missed" if why == "no run" else None, None, why))
                else:
                    cells.append(GridCell(outcomes[id(run)].get(item.key) or None, run))
            rows.append(GridRow(item, cells))
        result.append(Grid(cadence, columns, rows, cadence == "daily"))
    return result


# -- missed runs ---------------------------------------------------------------------------
@dataclass
class CadenceRuns:
    profile: str
    cadence: str
    limit: timedelta
    runs: int
    days_without_run: list[date] = field(default_factory=list)  # daily only
    gaps: list[str] = field(default_factory=list)  # gaps longer than the limit


def missed_runs(
    profile: str, all_runs: list[SealedRun], period: Period, limits: Mapping[str, timedelta], now: datetime
) -> list[CadenceRuns]:
    """Per scheduled cadence the profile runs: its runs in the period and the gaps over its
    limit (measured from the last run before the period, up to the period's end or now)."""
    end = min(datetime.combine(period.last + timedelta(days=1), datetime.min.time(), now.tzinfo), now)
    start = datetime.combine(period.first, datetime.min.time(), now.tzinfo)
    result = []
    for cadence, limit in limits.items():
        times = [r.started for r in all_runs if cadence in r.cadences]
        if not times:
            continue  # never run by this profile: not scheduled here
        before = [t for t in times if t < start]
        inside = [t for t in times if start <= t < end]
        status = CadenceRuns(profile, cadence, limit, len(inside))
        if cadence == "daily":
            ran = {t.date() for t in inside}
            first_day = max(period.first, min(times).date())
            status.days_without_run = [
                d for d in period.days() if first_day <= d and d < end.date() and d not in ran and d < now.date()
            ]
        anchor = before[-1] if before else (inside[0] if inside else None)
        points = ([anchor] if anchor is not None and anchor not in inside else []) + inside + [end]
        for a, b in zip(points, points[1:], strict=False):
            if b - a > limit:
                status.gaps.append(
                    f"{a:%Y-%m-%d %H:%M} → {b:%Y-%m-%d %H:%M} ({describe_age(b - a)}, limit {describe_age(limit)})"
                )
        result.append(status)
    return result


# -- failure streaks -----------------------------------------------------------------------
@dataclass
class Streak:
    check: str
    cluster: str | None
    items: list[str]
    first: SealedRun
    last: SealedRun
    runs: int
    fixed_by: SealedRun | None  # the first run after the streak that passed it; None: still failing

    @property
    def length(self) -> timedelta:
        return (self.fixed_by or self.last).started - self.first.started


def streaks(runs: list[SealedRun]) -> list[Streak]:
    """Every run of consecutive failing results (failed, error, waived) per check and cluster,
    longest first. A streak ends at the first run where the check passed or was attested."""
    open_streaks: dict[tuple[str, str | None], Streak] = {}
    done: list[Streak] = []
    for run in runs:
        for c in run.checks:
            key = (c["id"], c.get("cluster"))
            streak = open_streaks.get(key)
            if c["outcome"] in FAILING:
                if streak is None:
                    items = [ref["key"] for ref in c.get("runbook") or []]
                    open_streaks[key] = Streak(c["id"], c.get("cluster"), items, run, run, 1, None)
                else:
                    streak.last, streak.runs = run, streak.runs + 1
            elif streak is not None and c["outcome"] in ("passed", "attested"):
                streak.fixed_by = run
                done.append(open_streaks.pop(key))
    done += open_streaks.values()
    return sorted(done, key=lambda s: (-s.runs, -s.length.total_seconds(), s.check))


def mean_time_to_fix(found: list[Streak]) -> timedelta | None:
    fixed = [s.length for s in found if s.fixed_by is not None]
    return sum(fixed, timedelta()) / len(fixed) if fixed else None


# -- waivers and attestations ----------------------------------------------------------------
def waivers_seen(runs: list[SealedRun], period: Period) -> list[dict[str, Any]]:
    """Every waiver a run of the period carried (the newest copy), in force or expired at the period's end."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for run in runs:
        for w in run.results.get("waivers") or []:
            latest[(w.get("check", ""), w.get("ticket", ""))] = w
    shown = []
    for w in latest.values():
        try:
            expired = date.fromisoformat(str(w.get("expires"))) < period.last
        except ValueError:
            expired = False
        shown.append(w | {"state_at_end": "expired" if expired else "in force"})
    return sorted(shown, key=lambda w: (w["state_at_end"], str(w.get("check"))))


def attestations_seen(runs: list[SealedRun]) -> list[dict[str, Any]]:
    """Each attested check: the newest attestation seen, and whether the check's newest result still is one."""
    latest_result: dict[tuple[str, str | None], dict[str, Any]] = {}
    attested: dict[tuple[str, str | None], tuple[SealedRun, dict[str, Any]]] = {}
    for run in runs:
        for c in run.checks:
            key = (c["id"], c.get("cluster"))
            latest_result[key] = c | {"_run": run}
            if c["outcome"] == "attested":
                attested[key] = (run, c)
    shown = []
    for key, (run, c) in attested.items():
        now = latest_result[key]
        shown.append(
            {
                "check": c["id"],
                "items": [ref["key"] for ref in c.get("runbook") or []],
                "attestation": c["message"],
                "seen_in": run.folder.name,
                "state": "in force" if now["outcome"] == "attested" else f"expired (now {now['outcome']})",
            }
        )
    return sorted(shown, key=lambda a: (a["state"] != "in force", a["check"]))


# -- the pass-rate plot ----------------------------------------------------------------------
PLOT_WIDTH, PLOT_HEIGHT, PLOT_MARGIN = 720, 220, 36
PLOT_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def pass_rate_plot(runs: list[SealedRun], period: Period) -> dict[str, Any]:
    """Coordinates of an inline SVG: one line per system (profile), a point per run."""
    span = (period.last - period.first).days + 1
    inner_w, inner_h = PLOT_WIDTH - 2 * PLOT_MARGIN, PLOT_HEIGHT - 2 * PLOT_MARGIN

    def x_of(moment: datetime) -> float:
        days = (moment.date() - period.first).days + (moment.hour * 3600 + moment.minute * 60) / 86400
        return round(PLOT_MARGIN + inner_w * days / span, 1)

    def y_of(rate: float) -> float:
        return round(PLOT_MARGIN + inner_h * (1 - rate), 1)

    lines = []
    for n, profile in enumerate(dict.fromkeys(r.profile for r in runs)):
        points = [
            (x_of(r.started), y_of(rate), f"{r.started:%m-%d %H:%M} {rate:.0%}")
            for r in runs
            if r.profile == profile and (rate := r.pass_rate()) is not None
        ]
        lines.append({"profile": profile, "colour": PLOT_COLOURS[n % len(PLOT_COLOURS)], "points": points})
    ticks = [(x_of(datetime.combine(d, datetime.min.time())), f"{d:%d}") for d in period.days() if d.day % 5 in (0, 1)]
    return {
        "width": PLOT_WIDTH,
        "height": PLOT_HEIGHT,
        "margin": PLOT_MARGIN,
        "bottom": PLOT_HEIGHT - PLOT_MARGIN,
        "right": PLOT_WIDTH - PLOT_MARGIN,
        "levels": [(y_of(v / 100), f"{v}%") for v in (0, 50, 100)],
        "ticks": ticks,
        "lines": lines,
    }


# -- the pack --------------------------------------------------------------------------------
@dataclass
class Pack:
    period: Period
    profile: str | None
    reports_dir: Path
    verdict: Verdict
    signed: str  # how the signatures were verified ("" when unsigned)
    runs: list[SealedRun]
    grids: list[Grid]
    missed: list[CadenceRuns]
    streaks: list[Streak]
    mean_time_to_fix: timedelta | None
    waivers: list[dict[str, Any]]
    attestations: list[dict[str, Any]]
    plot: dict[str, Any]


def build_pack(
    reports_dir: Path,
    period: Period,
    profile: str | None,
    verdict: Verdict,
    signed: str,
    items: Mapping[str, RunbookItem],
    limits: Mapping[str, timedelta],
    now: datetime,
) -> Pack:
    """The pack's content from the sealed runs (read only). PackError when the period holds no run."""
    every_run = read_runs(reports_dir, profile)
    runs = [r for r in every_run if period.holds(r.started)]
    if not runs:
        who = f"of profile {profile} " if profile else ""
        raise PackError(f"no sealed run {who}in {reports_dir} between {period.first} and {period.last}")
    found = streaks(runs)
    # Missed runs are judged per system: each profile has its own schedule.
    missed = [
        status
        for name in dict.fromkeys(r.profile for r in runs)
        for status in missed_runs(name, [r for r in every_run if r.profile == name], period, limits, now)
    ]
    return Pack(
        period=period,
        profile=profile,
        reports_dir=reports_dir,
        verdict=verdict,
        signed=signed,
        runs=runs,
        grids=grids(runs, period, items, now.date()),
        missed=missed,
        streaks=found,
        mean_time_to_fix=mean_time_to_fix(found),
        waivers=waivers_seen(runs, period),
        attestations=attestations_seen(runs),
        plot=pass_rate_plot(runs, period),
    )


def render_pack(pack: Pack, output: Path) -> str:
    """The pack as one self-contained HTML page; links to each run's report relative to `output`."""
    from opscheck.record.html import render

    def link(run: SealedRun) -> str:
        return os.path.relpath(run.folder / "report.html", output.resolve().parent)

    return render(
        "pack.html.j2",
        pack=pack,
        link=link,
        label=OUTCOME_LABEL,
        describe_age=describe_age,
        in_period=sum(1 for name in pack.verdict.runs if name in {r.folder.name for r in pack.runs}),
    )
