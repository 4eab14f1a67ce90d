"""The runbook as a checklist: a run's check outcomes laid over the runbook items they cover.

Read from results.json's data (the same dict the file is written from), so the run report's
checklist (opscheck/record/html.py) and the monthly pack (opscheck/record/pack.py) say what
results.json says. Pure: no I/O, no pytest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opscheck.runbook import RunbookItem

# An item covered by several checks (or one check on several clusters) shows the worst of
# their outcomes: a failure anywhere is the item's failure.
OUTCOME_RANK = ("failed", "error", "waived", "passed", "attested", "not applicable")
# Short labels for the pack's grid cells and the checklist's badges.
OUTCOME_LABEL = {
    "passed": "passed",
    "failed": "FAILED",
    "error": "error",
    "waived": "waived",
    "attested": "attested",
    "not applicable": "n/a",
}


def worst(outcomes: Iterable[str]) -> str | None:
    ranked = sorted(outcomes, key=OUTCOME_RANK.index)
    return ranked[0] if ranked else None


@dataclass
class ChecklistItem:
    """One runbook item of a run: the checks (one entry per check and cluster) that covered it."""

    item: RunbookItem
    checks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def outcome(self) -> str | None:
        return worst(c["outcome"] for c in self.checks)


@dataclass
class RunbookSection:
    title: str
    items: list[ChecklistItem]


@dataclass
class Checklist:
    sections: list[RunbookSection]
    # Items of the run's cadences that no check of this run covered, and items of other cadences.
    not_covered: int
    other_cadences: int


def covered_keys(checks: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Runbook key -> the check entries (results.json's `checks`) that cover it, in run order."""
    by_key: dict[str, list[Mapping[str, Any]]] = {}
    for c in checks:
        for ref in c.get("runbook") or []:
            by_key.setdefault(ref["key"], []).append(c)
    return by_key


def checklist(results: Mapping[str, Any], items: Mapping[str, RunbookItem]) -> Checklist:
    """The run's checklist in the runbooks' own order (`items` as runbook.known_items() gives
    them: file by file, item by item). Only items covered by checks that ran are listed."""
    by_key = covered_keys(results.get("checks") or [])
    cadences = set((results.get("run") or {}).get("cadences") or [])
    sections: dict[str, RunbookSection] = {}
    not_covered = other = 0
    for key, item in items.items():
        checks = by_key.get(key)
        if not checks:
            if not cadences or item.cadence in cadences:
                not_covered += 1
            else:
                other += 1
            continue
        section = sections.setdefault(item.runbook, RunbookSection(item.runbook, []))
        section.items.append(ChecklistItem(item, [dict(c) for c in checks]))
    return Checklist(list(sections.values()), not_covered, other)
