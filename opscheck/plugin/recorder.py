"""The controller's side of the plugin: gathers the check records and writes the audit record.

Registered on the controller only (the one process without xdist's workerinput), as
pytest-xdist keeps its DSession apart from the worker code. What is recorded and how it is
judged lives in opscheck/record/ (no pytest there); this module only feeds it from pytest's
hooks: records from the teardown reports, the checks collected from the workers, the verdict
into the exit status, and the audit record's parts into pytest-html's page.

Every record is derived from the check records: results.json and junit.xml are written
from the same data (opscheck/record/junit.py), and pytest-html is shown each check's
outcome as one row (`html_shape`), so no record can say otherwise.
"""

from __future__ import annotations

import html as html_text
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from filelock import Timeout

from opscheck.errors import OpscheckError, ProfileError
from opscheck.plugin import (
    CACHE_DIR_INPUT,
    CATALOG_OUTPUT,
    DEADLINE_INPUT,
    DEADLINE_KEY,
    RECORDER_NAME,
    RUN_DATE_INPUT,
    RUN_DATE_KEY,
    SHOWS,
)
from opscheck.profile import Profile
from opscheck.record import html
from opscheck.record.audit import AuditRecord
from opscheck.record.junit import junit_xml
from opscheck.record.ledger import History, next_place, previous_results
from opscheck.record.outcomes import HTML_RESULT
from opscheck.record.results import CHECK_PROPERTY, CatalogEntry, Gate, record_of
from opscheck.record.run import LiveDir, ReportFolder, RunInfo, cadences_of, git_commit, utc_now, write_json
from opscheck.record.signing import signer_of
from opscheck.record.waivers import Waiver
from opscheck.redact import printable

COMPLETED = (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)


def start_recording(config: pytest.Config, profile: Profile, waivers: list[Waiver], cache: LiveDir) -> None:
    """Name the run, open its report folder, and register the recorder (controller only)."""
    run = RunInfo(profile=profile, cadences=cadences_of(config.option.markexpr), markexpr=config.option.markexpr or "")
    run.commit = git_commit(Path(config.rootpath))
    config.stash[RUN_DATE_KEY] = run.started.date()
    folder = None
    if not (config.getoption("opscheck_no_report") or config.option.collectonly):
        reports_dir = Path(config.getoption("opscheck_report_dir"))
        try:
            signer = signer_of(profile)  # a key that cannot be read stops the run now, not at the seal
        except ProfileError as exc:
            raise pytest.UsageError(str(exc)) from None
        try:
            folder = ReportFolder(
                reports_dir, run.folder_name, group_readable=profile.reporting.group_readable, signer=signer
            )
        except OSError as exc:
            raise pytest.UsageError(
                f"--report-dir {reports_dir}: cannot create the run folder: {exc.strerror or exc}"
            ) from None
        # pytest-html reads these in its own pytest_configure, which runs later. junit.xml
        # is ours, written from the records with results.json (pytest's would follow its reports).
        if config.pluginmanager.hasplugin("html"):
            config.option.htmlpath = str(folder.path("report.html"))
            config.option.self_contained_html = True
    config.pluginmanager.register(RunRecorder(config, AuditRecord(run, waivers), folder, cache), RECORDER_NAME)


def html_metadata(config: pytest.Config) -> dict[str, Any] | None:
    """pytest-metadata's dict, shown by pytest-html as the Environment table."""
    try:
        from pytest_metadata.plugin import metadata_key
    except ImportError:
        return None
    return config.stash.get(metadata_key, None)


def escape_metadata(meta: dict[str, Any], escaped: dict[str, Any]) -> None:
    """pytest-html draws the Environment table's values as HTML (innerHTML): every value we
    have not escaped yet (`escaped`: key -> the value we left) becomes masked, escaped text,
    nested dicts too (Packages, Plugins), so an API server's version string or a CI variable
    is shown, never run. Keys are drawn as text. Run again whenever values may have changed
    (pytest-metadata copies a worker's metadata back over the controller's)."""

    def escape(value: Any) -> Any:
        if isinstance(value, dict):
            return {html_text.escape(printable(str(k))): escape(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [escape(v) for v in value]
        return html_text.escape(printable(str(value)))

    for key, value in list(meta.items()):
        if key not in escaped or escaped[key] != value:
            meta[key] = escaped[key] = escape(value)


def run_metadata(run: RunInfo) -> dict[str, str]:
    return {
        "Profile": f"{run.profile.name} ({run.profile.source})",
        "Cadences": ", ".join(run.cadences) or "all",
        "Clusters": ", ".join(f"{c.name} (context {c.context or 'current'})" for c in run.profile.clusters),
        "Suite version": f"opscheck {run.suite_version} ({run.commit})",
        "User": f"{run.user}@{run.host}",
        "Started (UTC)": run.started.strftime("%Y-%m-%d %H:%M:%S"),
    }


# The report shape (when, outcome) from which pytest-html draws each of its results.
HTML_SHAPE = {
    "Passed": ("call", "passed"),
    "Failed": ("call", "failed"),
    "Error": ("setup", "failed"),
    "Skipped": ("call", "skipped"),
}
NO_ROW = ("setup", "passed")  # pytest-html draws no row for a passed setup


def html_shape(reports: list[pytest.TestReport]) -> tuple[pytest.TestReport | None, dict[int, tuple[str, str]]]:
    """How pytest-html must see a check's reports to draw one row with its outcome: the row's
    report, and the (when, outcome) of each report (by id). The report that settled the
    outcome is the row, unless it is the teardown, which pytest-html never draws as a pass:
    then the call is."""
    carrier = next((r for r in reports if getattr(r, SHOWS, "")), None)
    if carrier is None:
        return None, {}
    row = carrier
    if carrier.when == "teardown":
        row = next((r for r in reports if r.when == "call"), carrier)
    shapes = {id(r): NO_ROW for r in reports}
    shapes[id(row)] = HTML_SHAPE[HTML_RESULT[getattr(carrier, SHOWS)][0]]
    return row, shapes


class RunRecorder:
    """Registered on the controller only: gathers the check records, writes the audit record."""

    def __init__(self, config: pytest.Config, audit: AuditRecord, folder: ReportFolder | None, cache: LiveDir) -> None:
        self.config = config
        self.audit = audit
        self.folder = folder
        self.cache = cache
        self.cache_dir = str(cache.path)
        self.exitstatus: int | None = None
        self.export_notes: list[str] = []
        # Failed tests that are not checks (never gated away): node ids of failed reports
        # no check record has claimed (a record comes with the check's teardown report).
        self.unclaimed_failures: set[str] = set()
        # A check's reports until its last, and the report pytest-html draws as its row.
        self.check_reports: dict[str, list[pytest.TestReport]] = {}
        self.html_rows: dict[int, str] = {}  # id(report) -> outcome
        self.escaped_metadata: dict[str, Any] = {}  # Environment table values as we escaped them
        self.results: dict[str, Any] | None = None  # results.json's data, once the run is judged

    def gate(self) -> Gate:
        return self.audit.gate(
            self.config.getoption("opscheck_fail_on"), self.config.getoption("opscheck_allow_errors")
        )

    # -- xdist ---------------------------------------------------------------------------
    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[CACHE_DIR_INPUT] = self.cache_dir
        node.workerinput[RUN_DATE_INPUT] = self.audit.run.started.date().isoformat()
        node.workerinput[DEADLINE_INPUT] = self.config.stash.get(DEADLINE_KEY, None)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        entries = json.loads(getattr(node, "workeroutput", {}).get(CATALOG_OUTPUT, "[]"))
        self.audit.add_catalog(CatalogEntry.from_dict(e) for e in entries)

    # -- the run -------------------------------------------------------------------------
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        run = self.audit.run
        meta = html_metadata(self.config)  # filled by pytest-metadata in its pytest_configure, after ours
        if meta is not None:
            # pytest-metadata's defaults (Python, Platform, Packages, Plugins) stay; ours go first.
            rest = dict(meta)
            meta.clear()
            meta.update(run_metadata(run))
            meta.update(rest)
            escape_metadata(meta, self.escaped_metadata)
        reports_dir = self.folder.reports_dir if self.folder else Path(self.config.getoption("opscheck_report_dir"))
        self.audit.history = History(previous_results(reports_dir, run.profile.name, run.cadences))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport):
        self.record_report(report)
        if getattr(report, SHOWS, None) is None:
            return (yield)
        reports = self.check_reports.setdefault(report.nodeid, [])
        reports.append(report)
        if report.when != "teardown":
            return (yield)
        # The check's last report: pytest-html draws its row now, from all its reports.
        del self.check_reports[report.nodeid]
        row, shapes = html_shape(reports)
        saved = {id(r): (r.when, r.outcome) for r in reports}
        if row is not None:
            self.html_rows[id(row)] = getattr(next(r for r in reports if getattr(r, SHOWS, "")), SHOWS)
        try:
            for r in reports:
                if r is not report:  # the one being logged keeps its phase: pytest-html waits for it
                    r.when, r.outcome = shapes.get(id(r), saved[id(r)])  # type: ignore[assignment]
                else:
                    r.outcome = shapes.get(id(r), saved[id(r)])[1] if r is row else "passed"  # type: ignore[assignment]
            return (yield)
        finally:
            for r in reports:
                r.when, r.outcome = saved[id(r)]  # type: ignore[assignment]
            self.html_rows.pop(id(row), None)

    def record_report(self, report: pytest.TestReport) -> None:
        self.audit.arrived(report.nodeid)
        record = record_of(report)
        if record is None:
            if report.failed:
                self.unclaimed_failures.add(report.nodeid)
            return
        self.unclaimed_failures.discard(report.nodeid)
        self.audit.add(record)
        # junit.xml (written from this report's user properties) shows the check's declaration.
        report.user_properties = [
            p for p in report.user_properties if p[0] != CHECK_PROPERTY
        ] + record.junit_properties()
        try:
            from pytest_html import extras
        except ImportError:
            return
        # pytest-html shows html extras inline under the row: nothing to click through.
        report.extras = list(getattr(report, "extras", [])) + [extras.html(html.evidence_block(record))]

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.exitstatus = int(exitstatus)
        gate = self.gate()
        if exitstatus in COMPLETED and not self.unclaimed_failures:
            # The run's verdict follows the gate, not pytest's count of failed tests.
            session.exitstatus = pytest.ExitCode.TESTS_FAILED if gate.failing else pytest.ExitCode.OK
        run = self.audit.run
        run.finished = utc_now()
        run.workers = int(getattr(self.config.option, "numprocesses", 0) or 0)
        self.audit.note_clusters()
        meta = html_metadata(self.config)
        if meta is not None:
            meta["Finished (UTC)"] = run.finished.strftime("%Y-%m-%d %H:%M:%S")
            meta["Cluster versions"] = ", ".join(f"{n}: {v['server_version']}" for n, v in run.clusters.items())
            escape_metadata(meta, self.escaped_metadata)
        if exitstatus in COMPLETED and not self.config.option.collectonly:
            self.export_notes = self.audit.export()
        self.results = self.audit.results(gate)
        if self.folder is not None:
            write_json(self.folder.path("results.json"), self.results)
            self.folder.path("junit.xml").write_bytes(junit_xml(self.results))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        for line in [*self.export_notes, *self.audit.terminal_lines(self.gate())]:
            terminalreporter.write_line(f"opscheck: {printable(line, one_line=True)}")

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.cache.remove()
        folder = self.folder
        if folder is None:
            return
        # A run is recorded only if it ran to its end (checks passed or failed) and every
        # file was written; an interrupted or refused run leaves nothing half-done.
        expected = ["results.json", "junit.xml"]
        if config.pluginmanager.hasplugin("html"):
            expected.append("report.html")
        if self.exitstatus in COMPLETED and all(folder.path(f).exists() for f in expected):
            tr = config.pluginmanager.get_plugin("terminalreporter")
            try:
                final = folder.commit()
            except (OpscheckError, OSError, Timeout) as exc:
                # Not sealed (a signing key that stopped working, the ledger lock held too
                # long): say so; the hidden partial folder stays for the operator to look at.
                message = f"opscheck: run NOT sealed into {folder.reports_dir}: {exc}"
                if tr is not None:
                    tr.write_line(message)
                else:
                    print(message, file=sys.stderr)
                return
            if tr is not None:
                tr.write_line(f"opscheck: report written to {printable(str(final), one_line=True)}/")
        else:
            folder.discard()

    # -- pytest-html -----------------------------------------------------------------------
    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells[1:1] = html.TABLE_HEADER_CELLS

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        record = self.audit.record(report.nodeid)
        outcome = self.html_rows.get(id(report))
        if outcome is not None:
            cells[0] = html.result_cell(outcome)
            cells[1] = html.test_id_cell(report.nodeid)  # the row's phase is pytest-html's, not the check's
        cells[1:1] = html.table_row_cells(record)

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_report_title(self, report: Any) -> None:
        run = self.audit.run
        report.title = f"opscheck — {', '.join(run.cadences) or 'all'} — {run.profile.name}"

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(
        self, prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session
    ) -> None:
        audit = self.audit
        meta = html_metadata(self.config)
        if meta is not None:  # pytest-html writes the page next: whatever was added since is escaped too
            escape_metadata(meta, self.escaped_metadata)
        if self.results is not None:  # the first screen: the cover and the runbook checklist
            folder = self.folder
            ledger = next_place(folder.reports_dir, folder.signer) if folder is not None else None
            prefix.append(html.runbook_block(self.results, ledger))
        prefix.extend(html.summary_blocks(audit.summary(), audit.waivers, audit.run.started.date()))
        postfix.append(self.trace_html())

    def trace_html(self) -> str:
        """The traceability matrix: this run's outcomes first, then earlier sealed runs'."""
        from opscheck.record.trace import latest_outcomes, matrix, sealed_results

        current = {"run": self.audit.run.as_dict(), "checks": self.audit.checks()}
        earlier = sealed_results(self.folder.reports_dir) if self.folder else []
        return html.trace_block(matrix(self.audit.trace_catalog(earlier), latest_outcomes([current, *earlier])))
