"""Traceability: every runbook item -> the checks that cover it -> their latest outcome.

Items no check covers are gaps. Outcomes come from the sealed runs of a reports
directory (newest first), and from the current run when the matrix is part of its report.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opscheck.record.ledger import run_profile, sealed_runs
from opscheck.runbook import RunbookItem, runbook_items

# When a check ran on several clusters, the matrix shows its worst outcome.
SEVERITY_OF_OUTCOME = {"error": 3, "failed": 2, "not applicable": 1, "passed": 0}


@dataclass
class Latest:
    outcome: str
    run: str  # the run's start time (UTC)
    profile: str


@dataclass
class TraceRow:
    item: RunbookItem
    checks: list[str] = field(default_factory=list)
    latest: dict[str, Latest] = field(default_factory=dict)

    @property
    def gap(self) -> bool:
        return not self.checks

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.item.key,
            "text": self.item.text,
            "runbook": self.item.runbook,
            "cadence": self.item.cadence,
            "kind": self.item.kind,
            "gap": self.gap,
            "checks": [
                {
                    "id": c,
                    **(vars(self.latest[c]) if c in self.latest else {"outcome": None, "run": None, "profile": None}),
                }
                for c in self.checks
            ],
        }


def latest_outcomes(results: Iterable[dict[str, Any]]) -> dict[str, Latest]:
    """Check id -> its outcome in the first results (newest first) that ran it."""
    latest: dict[str, Latest] = {}
    for data in results:
        run = data.get("run") or {}
        worst: dict[str, str] = {}
        for c in data.get("checks", []):
            prev = worst.get(c["id"])
            if prev is None or SEVERITY_OF_OUTCOME.get(c["outcome"], 0) > SEVERITY_OF_OUTCOME.get(prev, 0):
                worst[c["id"]] = c["outcome"]
        for check_id, outcome in worst.items():
            latest.setdefault(
                check_id, Latest(outcome, run.get("started", ""), (run.get("profile") or {}).get("name", ""))
            )
    return latest


def sealed_results(reports_dir: Path, profile: str | None = None) -> list[dict[str, Any]]:
    """What the matrix reads of every sealed run (its run block, each check's id, outcome and
    runbook keys), newest first, optionally of one profile. Only that is kept: a year of
    daily runs of a big cluster is gigabytes of results.json (every evidence row)."""
    return [_trace_part(d) for d in sealed_runs(reports_dir) if profile is None or run_profile(d) == profile]


def _trace_part(data: dict[str, Any]) -> dict[str, Any]:
    checks = [
        {"id": c["id"], "outcome": c["outcome"], "runbook": [{"key": k["key"]} for k in c.get("runbook", [])]}
        for c in data.get("checks", [])
    ]
    return {"run": data.get("run") or {}, "checks": checks}


def matrix(catalog: Iterable[dict[str, Any]], latest: dict[str, Latest]) -> list[TraceRow]:
    rows = {key: TraceRow(item) for key, item in runbook_items().items()}
    for entry in catalog:
        for key in entry["covers"]:
            if key in rows and entry["id"] not in rows[key].checks:
                rows[key].checks.append(entry["id"])
    for row in rows.values():
        row.latest = {c: latest[c] for c in row.checks if c in latest}
    return list(rows.values())


def render_text(rows: list[TraceRow]) -> str:
    lines = []
    for r in rows:
        cov = (
            "; ".join(
                f"{c}: {r.latest[c].outcome} ({r.latest[c].run})" if c in r.latest else f"{c}: never run"
                for c in r.checks
            )
            or "GAP: no check"
        )
        lines.append(f"{r.item.key:<40} {r.item.cadence:<10} {r.item.text}  ->  {cov}")
    gaps = [r for r in rows if r.gap]
    lines.append(f"{len(rows)} runbook items, {len(rows) - len(gaps)} covered, {len(gaps)} gaps")
    return "\n".join(lines)
