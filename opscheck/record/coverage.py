"""Coverage: which runbook items a check declares (`covers=[...]`), and which none does.

Measured against the suite's runbook items only (runbooks/*.yaml in the suite), not
opscheck's own items. An `attest` item is covered by the check that reads its
attestations (opscheck/record/attestations.py), like any other item.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from opscheck.record.trace import TraceRow, matrix


def coverage(catalog: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Runbook items grouped by runbook, then cadence (in the runbooks' order), with their checks."""
    rows: list[TraceRow] = matrix(catalog, {})
    groups: dict[str, dict[str, list[dict[str, Any]]]] = {}
    titles: dict[str, str] = {}
    for r in rows:
        titles.setdefault(r.item.seed, r.item.runbook)
        groups.setdefault(r.item.seed, {}).setdefault(r.item.cadence, []).append(
            {
                "key": r.item.key,
                "cadence": r.item.cadence,
                "kind": r.item.kind,
                "text": r.item.text,
                "what": r.item.what,
                "covered": not r.gap,
                "checks": list(r.checks),
            }
        )
    covered = sum(not r.gap for r in rows)
    return {
        "summary": {"items": len(rows), "covered": covered, "uncovered": len(rows) - covered},
        "runbooks": [
            {
                "seed": seed,
                "runbook": titles[seed],
                "covered": sum(i["covered"] for c in cadences.values() for i in c),
                "items": sum(len(c) for c in cadences.values()),
                "cadences": [
                    {"cadence": name, "covered": sum(i["covered"] for i in items), "items": items}
                    for name, items in cadences.items()
                ],
            }
            for seed, cadences in groups.items()
        ],
    }


def summary_line(report: dict[str, Any]) -> str:
    s = report["summary"]
    return f"{s['items']} runbook items: {s['covered']} covered, {s['uncovered']} uncovered"


def render_text(report: dict[str, Any], gaps_only: bool = False) -> str:
    lines = []
    for book in report["runbooks"]:
        lines.append(f"{book['seed']} {book['runbook']}: {book['covered']}/{book['items']} covered")
        for cad in book["cadences"]:
            items = [i for i in cad["items"] if not (gaps_only and i["covered"])]
            if not items:
                continue
            lines.append(f"  {cad['cadence']}: {cad['covered']}/{len(cad['items'])} covered")
            for i in items:
                if i["covered"]:
                    lines.append(f"    covered    {i['key']:<42} {', '.join(i['checks'])}")
                else:
                    kind = " [attest]" if i["kind"] == "attest" else ""
                    lines.append(f"    UNCOVERED  {i['key']:<42} {i['what']}{kind}")
    lines.append(summary_line(report))
    return "\n".join(lines)
