"""The audit record's parts of the HTML report (pytest-html draws the page around them).

Rendered from the Jinja2 templates in opscheck/record/templates/ with autoescaping on:
everything a check, a profile or a waiver supplies is text, never markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, Template
from markupsafe import Markup

from opscheck.record.checklist import checklist
from opscheck.record.outcomes import HTML_RESULT
from opscheck.record.results import CheckRecord
from opscheck.record.trace import TraceRow
from opscheck.record.waivers import Waiver
from opscheck.runbook import known_items

# Evidence rows a page shows per check: a big cluster's table (a row per container of 10k
# pods) would make the page tens of MB and take seconds to render, twice (checklist and
# inline). The page says how many more there are; results.json keeps every row.
ROWS_SHOWN = 200


@cache
def _template(name: str) -> Template:
    env = Environment(
        loader=PackageLoader("opscheck.record", "templates"),
        autoescape=True,
        trim_blocks=True,
        keep_trailing_newline=False,
    )
    env.globals["rows_shown"] = ROWS_SHOWN
    return env.get_template(name)


def render(template: str, **context: Any) -> str:
    """One of opscheck/record/templates/ rendered (autoescaped: every value is text)."""
    return _template(template).render(**context)


def evidence_block(record: CheckRecord) -> str:
    """The evidence block shown inline under a check in the HTML report."""
    items = known_items()
    message = record.message
    result = message if message.startswith(record.outcome) else f"{record.outcome}: {message}"
    change = record.change or {}
    shown_change = change if change.get("status") not in (None, "first run", "unchanged") else None
    return _template("evidence.html.j2").render(
        spec=record.spec,
        cluster=record.cluster,
        result=result if message else "",
        waiver=record.waiver,
        change=shown_change,
        since=f", failing since {change['failing_since']}" if shown_change and change.get("failing_since") else "",
        evidence=record.evidence,
        runbook=[
            (key, f"{items[key].text} — {items[key].runbook}" if key in items else "") for key in record.spec.covers
        ],
    )


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {o}" for o, n in sorted(counts.items()))


def summary_blocks(summary: dict[str, Any], waivers: Iterable[Waiver], today: date) -> list[str]:
    """Above the results table: the checklist summary, then the profile's waivers (if any)."""
    lines = [f"{cadence}: {_counts(counts)}" for cadence, counts in summary["by_cadence"].items()]
    lines += [f"severity {sev}: {_counts(counts)}" for sev, counts in summary["by_severity"].items()]
    if len(summary["by_cluster"]) > 1:
        lines += [f"cluster {name}: {_counts(counts)}" for name, counts in summary["by_cluster"].items()]
    blocks = [_template("summary.html.j2").render(lines=lines)]
    waivers = [w.as_dict(today) for w in waivers]
    if waivers:
        blocks.append(_template("waivers.html.j2").render(waivers=waivers))
    return blocks


def runbook_block(results: Mapping[str, Any], ledger: Mapping[str, Any] | None) -> str:
    """The first screen of report.html: the cover block and the run as the runbook's checklist,
    from results.json's data (`results`: the dict results.json is written from), so the page
    cannot say otherwise. `ledger`: the run's place in the ledger (opscheck.record.ledger.next_place)."""
    run = results["run"]
    view = checklist(results, known_items())
    return _template("runbook.html.j2").render(
        run=run,
        cadences=", ".join(run["cadences"]) or "all cadences",
        summary=results["summary"],
        gate=results["gate"],
        verdict="failed" if results["gate"]["failing"] else "passed",
        ledger=ledger,
        checklist=view,
        shown=sum(len(s.items) for s in view.sections),
    )


def trace_block(rows: list[TraceRow]) -> str:
    """The traceability matrix, folded under the results table."""
    return _template("trace.html.j2").render(rows=rows, gaps=sum(r.gap for r in rows))


TABLE_HEADER_CELLS = ["<th>Check</th>", "<th>Severity</th>", "<th>Runbook items</th>"]


def table_row_cells(record: CheckRecord | None) -> list[str]:
    """The cells the results table adds after the result column (empty for a non-check)."""
    spec = record.spec if record is not None else None
    return [
        str(Markup('<td class="col-checkId">{}</td>').format(spec.id if spec else "")),
        str(Markup("<td>{}</td>").format(spec.severity if spec else "")),
        str(Markup("<td>{}</td>").format(", ".join(spec.covers) if spec else "")),
    ]


def result_cell(outcome: str) -> str:
    """The result cell of a check's row: its outcome's label (Waived, Attested, Not applicable,
    ...). pytest-html filters and counts rows by the first cell's text and knows only its own
    results: a hidden cell with that result keeps the row listed under the right filter."""
    counted, label = HTML_RESULT[outcome]
    return str(Markup('<td class="col-result" hidden>{}</td><td class="col-label">{}</td>').format(counted, label))


def test_id_cell(nodeid: str) -> str:
    return str(Markup('<td class="col-testId">{}</td>').format(nodeid))
