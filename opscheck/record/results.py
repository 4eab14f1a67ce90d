"""A check's record: created where the check runs, read back on the controller, then recorded.

A check's outcome is one of: passed, failed, error (could not evaluate: a dependency
down, a timeout), not applicable (the component is absent: pytest skip), waived (a
failure a waiver covers), attested (a manual item a person signed off: opscheck/record/attestations.py).
A skip is never shown as a pass, nor an attestation as a measurement.

One `CheckRecord` per check and cluster: the process that runs the check fills it phase by
phase (setup, call, teardown) and ships it once, as JSON in one user property of the
teardown report (xdist carries user properties from worker to controller). The controller
reads it back as a `CheckRecord`; results.json, the HTML report and the metrics come from it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from opscheck.check import SEVERITIES, CheckSpec, Evidence
from opscheck.record.waivers import Waiver, applicable
from opscheck.redact import masked, printable
from opscheck.runbook import known_items

# The one user property a check's record travels in, from where it ran to the controller.
CHECK_PROPERTY = "opscheck.check"
# What junit.xml shows of a check (the controller puts it in place of the record): its declaration.
JUNIT_PROPERTY = "opscheck.spec"

OUTCOMES = ("passed", "failed", "waived", "error", "not applicable", "attested")

Phase = Literal["setup", "call", "teardown"]
PhaseOutcome = Literal["passed", "failed", "skipped"]
# How a phase failed: a CheckFailure (the watched thing is wrong), an OpscheckError (could
# not evaluate), or anything else (a bug, a plain assert).
Failure = Literal["check", "dependency", "other"]


@dataclass
class CatalogEntry:
    """A collected check: its declaration, where it lives, and the cadences it runs in."""

    spec: CheckSpec
    cadences: list[str]
    nodeid: str

    def as_dict(self) -> dict[str, Any]:
        return self.spec.as_dict() | {"cadences": self.cadences, "nodeid": self.nodeid}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CatalogEntry:
        return cls(spec_from_dict(data), list(data["cadences"]), data["nodeid"])


def spec_from_dict(data: dict[str, Any]) -> CheckSpec:
    return CheckSpec(
        data["id"],
        data["title"],
        data["severity"],
        tuple(data["covers"]),
        data["remediation"],
        tuple(data.get("also", ())),
    )


@dataclass
class CheckRecord:
    """One check's run on one cluster (None: a check that reads no cluster)."""

    nodeid: str
    spec: CheckSpec
    cadences: list[str]
    cluster: str | None = None
    # The cluster's server version (gitVersion), when the check reached the cluster.
    server_version: str | None = None
    outcome: str = "passed"
    message: str = ""
    evidence: Evidence | None = None
    duration: float = 0.0
    change: dict[str, Any] | None = None  # since the previous run (opscheck.record.ledger.History)
    waiver: dict[str, Any] | None = None  # the waiver that covers this failure

    # -- filled where the check runs -----------------------------------------------------
    def add_phase(
        self,
        when: Phase,
        outcome: PhaseOutcome,
        message: str,
        duration: float,
        failure: Failure | None = None,
        evidence: Evidence | None = None,
    ) -> None:
        """Account for one phase's report (`message`: its short failure or skip text)."""
        message = printable(message)
        self.duration += duration or 0.0
        if evidence is not None:
            self.evidence = evidence
        if when == "setup":
            if outcome == "skipped":
                self.outcome, self.message = "not applicable", message
            elif outcome == "failed":
                # A CheckFailure while setting up (a required component absent): failed, not error.
                self.outcome, self.message = "failed" if failure == "check" else "error", message
        elif when == "call":
            if outcome == "failed":
                self.outcome = "error" if failure == "dependency" else "failed"
                self.message = message
            elif outcome == "skipped":
                self.outcome, self.message = "not applicable", message
            elif evidence is not None and evidence.attested:
                self.outcome, self.message = "attested", evidence.attested
        elif when == "teardown" and outcome == "failed" and self.outcome in ("passed", "attested"):
            self.outcome, self.message = "error", message

    def apply_waivers(self, waivers: list[Waiver], today: date) -> None:
        """A failure a waiver in force covers is waived (decided where the check runs, with the
        phase that failed, so every record of the run shows it waived)."""
        if self.outcome != "failed":
            return
        waiver = applicable(waivers, self.id, self.cluster, self.offenders(), today)
        if waiver is not None:
            self.outcome, self.waiver = "waived", waiver.as_dict(today)

    # -- transport -------------------------------------------------------------------------
    def to_json(self) -> str:
        data = {
            "nodeid": self.nodeid,
            "spec": self.spec.as_dict(),
            "cadences": self.cadences,
            "cluster": self.cluster,
            "server_version": self.server_version,
            "outcome": self.outcome,
            "message": self.message,
            "evidence": self.evidence.as_dict() if self.evidence is not None else None,
            "duration": self.duration,
            "waiver": self.waiver,
        }
        # default=str: whatever a check put in its evidence is recorded as text, then every
        # text that came from what the check saw is masked (opscheck/redact.py): the record
        # is where evidence, message and waiver leave the check for every output.
        data = json.loads(json.dumps(data, ensure_ascii=False, default=str))
        for key in ("server_version", "message", "evidence", "waiver"):
            data[key] = masked(data[key])
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> CheckRecord:
        data = json.loads(text)
        evidence = data["evidence"]
        return cls(
            nodeid=data["nodeid"],
            spec=spec_from_dict(data["spec"]),
            cadences=data["cadences"],
            cluster=data["cluster"],
            server_version=data["server_version"],
            outcome=data["outcome"],
            message=data["message"],
            evidence=Evidence(**evidence) if evidence is not None else None,
            duration=data["duration"],
            waiver=data.get("waiver"),
        )

    def junit_properties(self) -> list[tuple[str, str]]:
        data = self.spec.as_dict() | {"cadences": self.cadences, "cluster": self.cluster}
        return [(JUNIT_PROPERTY, json.dumps(data, ensure_ascii=False))]

    # -- reading ---------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.spec.id

    def offenders(self) -> list[str]:
        """The offending objects a waiver is matched against: the evidence table's
        `object` column, when the table starts with one."""
        ev = self.evidence
        if ev is None or not ev.columns or ev.columns[0] != "object":
            return []
        return [str(row[0]) for row in ev.rows]

    def as_dict(self) -> dict[str, Any]:
        """The check's entry in results.json."""
        items = known_items()
        return {
            "id": self.spec.id,
            "title": self.spec.title,
            "severity": self.spec.severity,
            "cadences": self.cadences,
            "runbook": [
                {"key": k, "text": items[k].text, "runbook": items[k].runbook} if k in items else {"key": k}
                for k in self.spec.covers
            ],
            "remediation": self.spec.remediation,
            "nodeid": self.nodeid,
            "cluster": self.cluster,
            "outcome": self.outcome,
            "message": self.message,
            "evidence": self.evidence.as_dict() if self.evidence is not None else None,
            "duration_seconds": round(self.duration, 3),
            "change": self.change,
            "waiver": self.waiver,
        }


def record_of(report: Any) -> CheckRecord | None:
    """The check record a (teardown) report carries, if any."""
    for key, value in getattr(report, "user_properties", None) or []:
        if key == CHECK_PROPERTY:
            return CheckRecord.from_json(value)
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


def summary(records: Iterable[CheckRecord]) -> dict[str, Any]:
    """results.json's `summary`: outcomes overall, by cadence, severity and cluster."""
    records = list(records)
    by_outcome = Counter(r.outcome for r in records)
    by_cadence: dict[str, Counter[str]] = {}
    by_severity: dict[str, Counter[str]] = {s: Counter() for s in SEVERITIES}
    by_cluster: dict[str, Counter[str]] = {}
    for r in records:
        for c in r.cadences:
            by_cadence.setdefault(c, Counter())[r.outcome] += 1
        by_severity[r.spec.severity][r.outcome] += 1
        if r.cluster is not None:
            by_cluster.setdefault(r.cluster, Counter())[r.outcome] += 1
    return {
        "total": len(records),
        "outcomes": {o: by_outcome.get(o, 0) for o in OUTCOMES},
        "by_cadence": {c: dict(v) for c, v in by_cadence.items()},
        "by_severity": {s: dict(v) for s, v in by_severity.items() if v},
        # Checks that read a cluster, per cluster of the profile (several clusters: one run).
        "by_cluster": {c: dict(v) for c, v in sorted(by_cluster.items())},
    }


@dataclass
class Gate:
    """Which results fail the run under --fail-on and --allow-errors."""

    fail_on: str
    allow_errors: bool
    failing: list[str] = field(default_factory=list)
    not_gating: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "fail_on": self.fail_on,
            "allow_errors": self.allow_errors,
            "failing": self.failing,
            "not_gating": self.not_gating,
        }


def gate(records: Iterable[CheckRecord], fail_on: str, allow_errors: bool) -> Gate:
    gating = SEVERITIES[: SEVERITIES.index(fail_on) + 1]
    failing, reported = [], []
    for r in records:
        if r.outcome == "failed":
            (failing if r.spec.severity in gating else reported).append(r.id)
        elif r.outcome == "error":
            (reported if allow_errors else failing).append(r.id)
    return Gate(fail_on, allow_errors, sorted(set(failing)), sorted(set(reported)))
