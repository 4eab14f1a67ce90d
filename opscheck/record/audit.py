"""The audit record of one run, as the controller gathers it (no pytest here).

Check records arrive one by one (opscheck/plugin/recorder.py hands them over); each is
matched against the waivers and the previous run. At the end the run is judged (the gate)
and written: results.json, the HTML report's parts, the metrics.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from opscheck.record.ledger import History
from opscheck.record.results import CatalogEntry, CheckRecord, Gate, gate, summary
from opscheck.record.run import RESULTS_SCHEMA_VERSION, RunInfo, iso
from opscheck.record.waivers import Waiver
from opscheck.redact import masked

NOT_CONTACTED = "not contacted"


class AuditRecord:
    """The run, its waivers, every check collected and every check's record."""

    def __init__(self, run: RunInfo, waivers: list[Waiver]) -> None:
        self.run = run
        self.waivers = waivers
        self.history = History(None)  # the previous run: set when the session starts
        # Every check collected, before -m/-k deselection (the traceability matrix needs them all), by id.
        self.catalog: dict[str, CatalogEntry] = {}
        self._records: dict[str, CheckRecord] = {}  # by node id
        # Node ids in the order their first report arrived: the order of results.json's checks.
        self._arrival: dict[str, int] = {}

    def arrived(self, nodeid: str) -> None:
        """A report of `nodeid` arrived (the record comes with its last one)."""
        self._arrival.setdefault(nodeid, len(self._arrival))

    @property
    def records(self) -> dict[str, CheckRecord]:
        """Every finished check record by node id, in the order the checks started."""
        return dict(sorted(self._records.items(), key=lambda kv: self._arrival.get(kv[0], len(self._arrival))))

    def record(self, nodeid: str) -> CheckRecord | None:
        return self._records.get(nodeid)

    def add_catalog(self, entries: Iterable[CatalogEntry]) -> None:
        for entry in entries:
            self.catalog.setdefault(entry.spec.id, entry)

    def add(self, record: CheckRecord) -> None:
        """A check's finished record (waived already where it ran), with its change since the previous run."""
        record.change = self.history.change(record.id, record.cluster, record.outcome, iso(self.run.started))
        self.arrived(record.nodeid)
        self._records[record.nodeid] = record

    def gate(self, fail_on: str, allow_errors: bool) -> Gate:
        return gate(self.records.values(), fail_on, allow_errors)

    def summary(self) -> dict[str, Any]:
        return summary(self.records.values())

    def checks(self) -> list[dict[str, Any]]:
        """results.json's `checks`."""
        return [r.as_dict() for r in self.records.values()]

    def note_clusters(self) -> None:
        """Each cluster of the profile with the server version its checks saw."""
        versions: dict[str, str] = {}
        for r in self.records.values():
            if r.cluster is not None and r.server_version is not None:
                versions.setdefault(r.cluster, r.server_version)
        for c in self.run.profile.clusters:
            self.run.clusters[c.name] = {
                "context": c.context,
                "kubeconfig": c.access(),
                "server_version": versions.get(c.name, NOT_CONTACTED),
            }

    def results(self, gate: Gate) -> dict[str, Any]:
        """results.json's content: the truth every other record of the run is derived from."""
        run = self.run
        # The checks' records are masked where they ran; the run's own texts (paths, names,
        # server versions, waiver files) are masked here (opscheck/redact.py).
        return {
            "schema_version": RESULTS_SCHEMA_VERSION,
            "run": masked(run.as_dict()),
            "summary": self.summary(),
            "gate": gate.as_dict(),
            "waivers": masked([w.as_dict(run.started.date()) for w in self.waivers]),
            "checks": self.checks(),
        }

    def export(self) -> list[str]:
        """Metrics where the profile says; a line per outcome for the terminal."""
        from opscheck.record.export import export_results  # prometheus_client only when exporting

        return export_results(self.run, self.checks())

    def trace_catalog(self, earlier: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Every check the matrix lists: those collected, then those only earlier runs ran."""
        catalog = {check_id: {"id": check_id, "covers": list(e.spec.covers)} for check_id, e in self.catalog.items()}
        for data in earlier:
            for c in data.get("checks", []):
                catalog.setdefault(c["id"], {"id": c["id"], "covers": [k["key"] for k in c["runbook"]]})
        return list(catalog.values())

    def terminal_lines(self, gate: Gate) -> list[str]:
        """What the run adds to pytest's terminal summary (without the "opscheck: " prefix)."""
        lines = []
        today = self.run.started.date()
        for r in self.records.values():
            if r.waiver:
                lines.append(
                    f"waived: {r.id} ({r.waiver['ticket']}, "
                    f"approved by {r.waiver['approver']}, until {r.waiver['expires']})"
                )
            if r.outcome == "attested":
                lines.append(f"attested: {r.id}: {r.message}")
        for w in self.waivers:
            if w.expired(today) or w.expiring_soon(today):
                state = "EXPIRED, no longer applies" if w.expired(today) else "expires soon"
                lines.append(f"waiver for {w.check} ({w.ticket}) {state}: {w.expires}")
        if gate.not_gating:
            lines.append(
                f"not failing the run (--fail-on={gate.fail_on}"
                f"{', --allow-errors' if gate.allow_errors else ''}): {', '.join(gate.not_gating)}"
            )
        return lines
