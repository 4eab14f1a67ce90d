"""Turning pytest's test reports into check results, and results into the audit record.

A check's outcome is one of: passed, failed, error (could not evaluate: a dependency
down, a timeout), not applicable (the component is absent: pytest skip), waived (a
failure a waiver covers), attested (a manual item a person signed off: opscheck/record/attestations.py).
A skip is never shown as a pass, nor an attestation as a measurement.
"""
from __future__ import annotations

import html
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from opscheck.check import SEVERITIES
from opscheck.runbook import known_items

SPEC_PROPERTY = "opscheck.spec"
EVIDENCE_PROPERTY = "opscheck.evidence"
ERROR_PROPERTY = "opscheck.error"
# A CheckFailure raised while setting up (a required component absent): failed, not error.
SETUP_FAILURE_PROPERTY = "opscheck.setup_failure"

OUTCOMES = ("passed", "failed", "waived", "error", "not applicable", "attested")


@dataclass
class CheckResult:
    nodeid: str
    spec: dict[str, Any]
    cadences: list[str]
    cluster: str | None = None
    outcome: str = "passed"
    message: str = ""
    evidence: dict[str, Any] | None = None
    duration: float = 0.0
    change: dict[str, Any] | None = None  # since the previous run (opscheck.record.ledger.History)
    waiver: dict[str, Any] | None = None  # the waiver that covers this failure

    def offenders(self) -> list[str]:
        ev = self.evidence or {}
        if not ev.get("columns") or ev["columns"][0] != "object":
            return []
        return [str(row[0]) for row in ev.get("rows", [])]

    def as_dict(self) -> dict[str, Any]:
        items = known_items()
        return {
            "id": self.spec["id"],
            "title": self.spec["title"],
            "severity": self.spec["severity"],
            "cadences": self.cadences,
            "runbook": [
                {"key": k, "text": items[k].text, "runbook": items[k].runbook} if k in items else {"key": k}
                for k in self.spec["covers"]
            ],
            "remediation": self.spec["remediation"],
            "nodeid": self.nodeid,
            "cluster": self.cluster,
            "outcome": self.outcome,
            "message": self.message,
            "evidence": self.evidence,
            "duration_seconds": round(self.duration, 3),
            "change": self.change,
            "waiver": self.waiver,
        }


def user_property(report: Any, name: str) -> Any:
    for key, value in getattr(report, "user_properties", []) or []:
        if key == name:
            return json.loads(value) if isinstance(value, str) else value
    return None


def short_message(report: Any) -> str:
    """The first meaningful line of a report's failure text."""
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    text = getattr(report, "longreprtext", "") or ""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # A plain exception traceback ends with "E   Type: message"; prefer that line.
    e_lines = [ln[1:].strip() for ln in lines if ln.startswith("E ")]
    if e_lines:
        return e_lines[0]
    return lines[-1] if lines else ""


@dataclass
class ResultCollector:
    """Collects results on the controller as reports arrive (from xdist workers too)."""

    results: dict[str, CheckResult] = field(default_factory=dict)

    def add_report(self, report: Any) -> CheckResult | None:
        spec = user_property(report, SPEC_PROPERTY)
        if spec is None:
            return None
        res = self.results.get(report.nodeid)
        if res is None:
            res = CheckResult(
                nodeid=report.nodeid,
                spec=spec,
                cadences=[m for m in spec.get("cadences", [])],
                cluster=spec.get("cluster"),
            )
            self.results[report.nodeid] = res
        res.duration += getattr(report, "duration", 0.0) or 0.0
        evidence = user_property(report, EVIDENCE_PROPERTY)
        if evidence is not None:
            res.evidence = evidence
        if report.when == "setup":
            if report.skipped:
                res.outcome, res.message = "not applicable", short_message(report)
            elif report.failed:
                failed = user_property(report, SETUP_FAILURE_PROPERTY)
                res.outcome, res.message = "failed" if failed else "error", short_message(report)
        elif report.when == "call":
            if report.failed:
                is_error = user_property(report, ERROR_PROPERTY)
                res.outcome = "error" if is_error else "failed"
                res.message = short_message(report)
            elif report.skipped:
                res.outcome, res.message = "not applicable", short_message(report)
            elif evidence and evidence.get("attested"):
                res.outcome, res.message = "attested", evidence["attested"]
        elif report.when == "teardown" and report.failed and res.outcome in ("passed", "attested"):
            res.outcome, res.message = "error", short_message(report)
        return res

    def summary(self) -> dict[str, Any]:
        by_outcome = Counter(r.outcome for r in self.results.values())
        by_cadence: dict[str, Counter[str]] = {}
        by_severity: dict[str, Counter[str]] = {s: Counter() for s in SEVERITIES}
        by_cluster: dict[str, Counter[str]] = {}
        for r in self.results.values():
            for c in r.cadences:
                by_cadence.setdefault(c, Counter())[r.outcome] += 1
            by_severity[r.spec["severity"]][r.outcome] += 1
            if r.cluster is not None:
                by_cluster.setdefault(r.cluster, Counter())[r.outcome] += 1
        return {
            "total": len(self.results),
            "outcomes": {o: by_outcome.get(o, 0) for o in OUTCOMES},
            "by_cadence": {c: dict(v) for c, v in by_cadence.items()},
            "by_severity": {s: dict(v) for s, v in by_severity.items() if v},
            # Checks that read a cluster, per cluster of the profile (several clusters: one run).
            "by_cluster": {c: dict(v) for c, v in sorted(by_cluster.items())},
        }


def evidence_html(result: CheckResult) -> str:
    """The evidence block shown inline under a check in the HTML report."""
    e = html.escape
    items = known_items()
    parts = ['<div class="opscheck-evidence">']
    parts.append(f"<p><b>{e(result.spec['id'])}</b> — {e(result.spec['title'])} "
                 f"(severity: {e(result.spec['severity'])}; cluster: {e(result.cluster or '-')})</p>")
    if result.message:
        text = result.message if result.message.startswith(result.outcome) else f"{result.outcome}: {result.message}"
        parts.append(f"<p><b>Result:</b> {e(text)}</p>")
    if result.waiver:
        w = result.waiver
        parts.append(f"<p><b>Waived</b> until {e(w['expires'])} by {e(w['approver'])} ({e(w['ticket'])}): "
                     f"{e(w['justification'])}</p>")
    change = result.change or {}
    if change.get("status") not in (None, "first run", "unchanged"):
        since = f", failing since {change['failing_since']}" if change.get("failing_since") else ""
        parts.append(f"<p><b>Since the previous run</b> ({e(str(change.get('previous_run')))}): "
                     f"{e(change['status'])}{e(since)}</p>")
    ev = result.evidence or {}
    if ev.get("measured") is not None or ev.get("threshold") is not None:
        unit = e(str(ev.get("unit") or ""))
        parts.append(f"<p><b>Measured:</b> {e(str(ev.get('measured')))}{unit} "
                     f"&nbsp; <b>Threshold:</b> {e(str(ev.get('threshold')))}{unit}</p>")
    if ev.get("rows"):
        head = "".join(f"<th>{e(str(c))}</th>" for c in ev["columns"])
        body = "".join(
            "<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in row) + "</tr>" for row in ev["rows"]
        )
        parts.append(f'<table class="opscheck-rows" border="1" cellpadding="3"><tr>{head}</tr>{body}</table>')
    for note in ev.get("notes") or []:
        parts.append(f"<p>{e(note)}</p>")
    parts.append("<p><b>Runbook items:</b></p><ul>")
    for key in result.spec["covers"]:
        item = items.get(key)
        text = f"{item.text} — {item.runbook}" if item else ""
        parts.append(f"<li><code>{e(key)}</code> {e(text)}</li>")
    parts.append("</ul>")
    parts.append(f"<p><b>Remediation:</b></p><pre>{e(result.spec['remediation'])}</pre>")
    parts.append("</div>")
    return "".join(parts)
