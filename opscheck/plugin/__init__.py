"""The pytest plugin: cadence markers, the profile, evidence, and the audit record.

Thin by design: the logic lives in plain modules (profile, check, kube, run, results);
this file only wires them into pytest's hooks.
"""
from __future__ import annotations

import argparse
import html
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from opscheck.check import CADENCES, PRIMARY_CADENCE_DIRS, SEVERITIES, CheckFailure, CheckSpec, Evidence
from opscheck.errors import OpscheckError, ProfileError
from opscheck.profile import ENV_VAR, Profile, load_profile
from opscheck.record.results import (
    ERROR_PROPERTY,
    EVIDENCE_PROPERTY,
    SETUP_FAILURE_PROPERTY,
    SPEC_PROPERTY,
    ResultCollector,
    evidence_html,
    user_property,
)
from opscheck.record.ledger import History, previous_results
from opscheck.record.run import RESULTS_SCHEMA_VERSION, ReportFolder, RunInfo, cadences_of, git_commit, iso, utc_now, write_json
from opscheck.runbook import known_items
from opscheck.sources.runcache import RunCache
from opscheck.record.waivers import Waiver, applicable, check_known, declared_check_ids, load_waivers

PROFILE_KEY = pytest.StashKey[Profile]()
CACHE_DIR_KEY = pytest.StashKey[str]()
STATE_KEY = pytest.StashKey["ControllerState"]()
EVIDENCE_KEY = pytest.StashKey[Evidence]()
# Every check collected, before -m/-k deselection: the traceability matrix needs them all.
ALL_CHECKS_KEY = pytest.StashKey[list[dict[str, Any]]]()

CADENCE_HELP = {
    "daily": "daily checklist",
    "weekly": "weekly checklist",
    "monthly": "monthly checklist",
    "quarterly": "quarterly checklist",
    "predeploy": "gate before a deployment",
    "postdeploy": "verification after a deployment",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("opscheck")
    group.addoption("--env", dest="opscheck_env", metavar="PATH",
                    help=f"environment profile (YAML); default: ${ENV_VAR}")
    group.addoption("--report-dir", dest="opscheck_report_dir", metavar="DIR", default="reports",
                    help="where run folders are written (default: reports)")
    group.addoption("--no-report", dest="opscheck_no_report", action="store_true",
                    help="do not write a run folder")
    group.addoption("--fail-on", dest="opscheck_fail_on", choices=SEVERITIES, default="low",
                    help="lowest severity whose failures fail the run (default: low, i.e. any failure); "
                         "failures below it are reported but do not change the exit code")
    group.addoption("--allow-errors", dest="opscheck_allow_errors", action="store_true",
                    help="checks that could not be evaluated (error) do not fail the run")
    group.addoption("--opscheck-catalog", dest="opscheck_catalog", action="store_true",
                    help=argparse.SUPPRESS)  # internal: used by `python -m opscheck catalog`


class ControllerState:
    """What only the controller holds: the run, its results and its report folder."""

    def __init__(self, run: RunInfo, folder: ReportFolder | None, cache_dir: str, waivers: list[Waiver]) -> None:
        self.run = run
        self.folder = folder
        self.cache_dir = cache_dir
        self.waivers = waivers
        self.collector = ResultCollector()
        self.all_checks: dict[str, dict[str, Any]] = {}  # every collected check, by id


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for name in CADENCES:
        config.addinivalue_line("markers", f"{name}: {CADENCE_HELP[name]}")
    if config.getoption("opscheck_catalog"):
        return
    path = config.getoption("opscheck_env") or os.environ.get(ENV_VAR)
    if not path:
        return  # no profile: fine unless checks are collected (see modifyitems)
    try:
        profile = load_profile(path)
    except ProfileError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[PROFILE_KEY] = profile
    try:
        waivers = load_waivers(profile.waivers_path) if profile.waivers_path else []
        if waivers and not is_worker(config):
            check_known(waivers, declared_check_ids(Path(config.rootpath)), profile.waivers_path)
        if profile.attestations is not None:  # a malformed attestation file stops the run too
            from opscheck.record.attestations import load_attestations

            load_attestations(profile.relative_path(profile.attestations.dir))
    except ProfileError as exc:
        raise pytest.UsageError(str(exc)) from None

    if is_worker(config):
        config.stash[CACHE_DIR_KEY] = config.workerinput["opscheck_cache_dir"]  # type: ignore[attr-defined]
        return
    cache_dir = tempfile.mkdtemp(prefix="opscheck-run-")  # 0700: may hold object data
    config.stash[CACHE_DIR_KEY] = cache_dir
    run = RunInfo(profile=profile, cadences=cadences_of(config.option.markexpr),
                  markexpr=config.option.markexpr or "")
    run.commit = git_commit(Path(config.rootpath))
    folder = None
    if not (config.getoption("opscheck_no_report") or config.option.collectonly):
        folder = ReportFolder(Path(config.getoption("opscheck_report_dir")), run.folder_name)
        # pytest-html and junitxml read these in their own pytest_configure, which runs later.
        if config.pluginmanager.hasplugin("html"):
            config.option.htmlpath = str(folder.path("report.html"))
            config.option.self_contained_html = True
        config.option.xmlpath = str(folder.path("junit.xml"))
    state = ControllerState(run, folder, cache_dir, waivers)
    config.stash[STATE_KEY] = state
    config.pluginmanager.register(RunRecorder(config, state), "opscheck-recorder")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistHooks(cache_dir, state), "opscheck-xdist")


class XdistHooks:
    def __init__(self, cache_dir: str, state: ControllerState) -> None:
        self.cache_dir = cache_dir
        self.state = state

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["opscheck_cache_dir"] = self.cache_dir

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        # Workers collect, the controller does not: they send back every check they saw.
        for c in json.loads(getattr(node, "workeroutput", {}).get("opscheck_checks", "[]")):
            self.state.all_checks.setdefault(c["id"], c)


def export_metrics(run: RunInfo, checks: list[dict[str, Any]]) -> list[str]:
    """Results as Prometheus metrics where the profile says; one line per outcome for the terminal.

    A failed export is reported but does not change the run's verdict: the checks ran, and
    the report says how; alert on a stale opscheck_run_last_timestamp_seconds for the rest.
    """
    from opscheck.record.export import push, registry_for, write_textfile

    export = run.profile.export
    if export.textfile_dir is None and export.pushgateway is None:
        return []
    data = run.as_dict()
    registry = registry_for(data, checks, run.started.timestamp(), (run.finished or utc_now()).timestamp())
    notes = []
    if export.textfile_dir is not None:
        try:
            path = write_textfile(run.profile.relative_path(export.textfile_dir), data, registry)
            notes.append(f"metrics written to {path}")
        except OSError as exc:
            notes.append(f"metrics NOT written to {export.textfile_dir}: {exc.strerror or exc}")
    if export.pushgateway is not None:
        gw = export.pushgateway
        try:
            password = gw.password.read() if gw.password else None
            push(gw.url, data, registry, timeout=gw.timeout_seconds, username=gw.username, password=password)
            notes.append(f"metrics pushed to {gw.url}")
        except (OSError, OpscheckError) as exc:  # URLError is an OSError
            notes.append(f"metrics NOT pushed to {gw.url}: {getattr(exc, 'reason', None) or exc}")
    return notes


def _html_metadata(config: pytest.Config) -> dict[str, Any] | None:
    """pytest-metadata's dict, shown by pytest-html as the Environment table."""
    try:
        from pytest_metadata.plugin import metadata_key
    except ImportError:
        return None
    return config.stash.get(metadata_key, None)


def _set_html_metadata(config: pytest.Config, run: RunInfo) -> None:
    meta = _html_metadata(config)
    if meta is None:
        return
    # pytest-metadata's defaults (Python, Platform, Packages, Plugins) stay; ours go first.
    ours = {
        "Profile": f"{run.profile.name} ({run.profile.source})",
        "Cadences": ", ".join(run.cadences) or "all",
        "Clusters": ", ".join(f"{c.name} (context {c.context or 'current'})" for c in run.profile.clusters),
        "Suite version": f"opscheck {run.suite_version} ({run.commit})",
        "User": f"{run.user}@{run.host}",
        "Started (UTC)": run.started.strftime("%Y-%m-%d %H:%M:%S"),
    }
    rest = dict(meta)
    meta.clear()
    meta.update(ours)
    meta.update(rest)


# -- collection ----------------------------------------------------------------------------
def spec_of(item: pytest.Item) -> CheckSpec | None:
    return getattr(getattr(item, "function", None), "__opscheck__", None)


def primary_cadence(item: pytest.Item) -> str | None:
    for part in Path(str(item.path)).parts:
        if part in PRIMARY_CADENCE_DIRS:
            return PRIMARY_CADENCE_DIRS[part]
    return None


def pytest_itemcollected(item: pytest.Item) -> None:
    # Runs before -m deselection, so `pytest -m daily` sees the directory's marker.
    cadence = primary_cadence(item)
    if cadence is not None:
        item.add_marker(cadence)


def item_cadences(item: pytest.Item) -> list[str]:
    names = {m.name for m in item.iter_markers()}
    return [c for c in CADENCES if c in names]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "cluster" not in metafunc.fixturenames:
        return
    profile = metafunc.config.stash.get(PROFILE_KEY, None)
    if profile is None:
        return
    names = [c.name for c in profile.clusters]
    metafunc.parametrize("cluster", names, ids=names, indirect=True)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    items_known = known_items()
    checks = 0
    all_checks = [spec.as_dict() for spec in {id(s): s for s in map(spec_of, items) if s}.values()]
    config.stash[ALL_CHECKS_KEY] = all_checks
    if STATE_KEY in config.stash:
        config.stash[STATE_KEY].all_checks.update({c["id"]: c for c in all_checks})
    for item in items:
        spec = spec_of(item)
        if primary_cadence(item) is not None and spec is None:
            raise pytest.UsageError(f"{item.nodeid}: a test under tests_* must be declared with @check(...)")
        if spec is None:
            continue
        checks += 1
        unknown = [k for k in spec.covers if k not in items_known]
        if unknown:
            raise pytest.UsageError(
                f"{item.nodeid}: check {spec.id} covers unknown runbook key(s): {', '.join(unknown)}"
            )
    if checks and PROFILE_KEY not in config.stash and not config.getoption("opscheck_catalog"):
        raise pytest.UsageError(f"no environment profile: pass --env PATH or set {ENV_VAR}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if is_worker(config) and ALL_CHECKS_KEY in config.stash:
        config.workeroutput["opscheck_checks"] = json.dumps(config.stash[ALL_CHECKS_KEY])  # type: ignore[attr-defined]


# -- running -------------------------------------------------------------------------------
@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    spec = spec_of(item)
    if spec is None:
        return
    callspec = getattr(item, "callspec", None)
    cluster = callspec.params.get("cluster") if callspec else None
    data = spec.as_dict() | {"cadences": item_cadences(item), "cluster": cluster}
    item.user_properties.append((SPEC_PROPERTY, json.dumps(data, ensure_ascii=False)))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    if spec_of(item) is None:
        return report
    if call.when == "call":
        evidence = item.stash.get(EVIDENCE_KEY, None)
        if evidence is not None:
            report.user_properties.append((EVIDENCE_PROPERTY, json.dumps(evidence.as_dict(), ensure_ascii=False, default=str)))
    excinfo = call.excinfo
    if excinfo is None:
        return report
    if excinfo.errisinstance(CheckFailure):
        report.longrepr = str(excinfo.value)
        if call.when == "setup":
            report.user_properties.append((SETUP_FAILURE_PROPERTY, "true"))
    elif excinfo.errisinstance(OpscheckError):
        # Could not evaluate (dependency down, secret missing): an error, not a failure.
        report.longrepr = f"could not evaluate: {excinfo.value}"
        report.user_properties.append((ERROR_PROPERTY, "true"))
    return report


@pytest.fixture(scope="session")
def profile(request: pytest.FixtureRequest) -> Profile:
    """The environment profile of this run."""
    return request.config.stash[PROFILE_KEY]


@pytest.fixture(scope="session")
def run_cache(request: pytest.FixtureRequest) -> RunCache:
    """The per-run cache shared by every check and xdist worker."""
    return RunCache(request.config.stash[CACHE_DIR_KEY])


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> Evidence:
    """What the check measured; recorded in the report whatever the outcome."""
    ev = Evidence()
    request.node.stash[EVIDENCE_KEY] = ev
    return ev


# -- reporting (controller only) -------------------------------------------------------------
class RunRecorder:
    """Registered on the controller only: gathers results, writes the audit record."""

    def __init__(self, config: pytest.Config, state: ControllerState) -> None:
        self.config = config
        self.state = state
        self.exitstatus: int | None = None
        self.other_failures = 0  # failed tests that are not checks (never gated away)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # pytest-metadata fills its table in its own pytest_configure, after ours.
        _set_html_metadata(self.config, self.state.run)
        run, folder = self.state.run, self.state.folder
        reports_dir = folder.reports_dir if folder else Path(self.config.getoption("opscheck_report_dir"))
        self.history = History(previous_results(reports_dir, run.profile.name, run.cadences))

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        result = self.state.collector.add_report(report)
        if result is None and report.failed:
            self.other_failures += 1
        if result is None or report.when != "teardown":
            return
        if result.outcome == "failed":
            today = self.state.run.started.date()
            waiver = applicable(self.state.waivers, result.spec["id"], result.cluster, result.offenders(), today)
            if waiver is not None:
                result.outcome, result.waiver = "waived", waiver.as_dict(today)
        result.change = self.history.change(result.spec["id"], result.cluster, result.outcome, iso(self.state.run.started))
        try:
            from pytest_html import extras
        except ImportError:
            return
        # pytest-html shows html extras inline under the row: nothing to click through.
        report.extras = list(getattr(report, "extras", [])) + [extras.html(evidence_html(result))]

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells.insert(1, "<th>Check</th>")
        cells.insert(2, "<th>Severity</th>")
        cells.insert(3, "<th>Runbook items</th>")

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        spec = user_property(report, SPEC_PROPERTY) or {}
        e = html.escape
        cells.insert(1, f'<td class="col-checkId">{e(spec.get("id", ""))}</td>')
        cells.insert(2, f'<td>{e(spec.get("severity", ""))}</td>')
        cells.insert(3, f'<td>{e(", ".join(spec.get("covers", [])))}</td>')
        if (user_property(report, EVIDENCE_PROPERTY) or {}).get("attested"):
            # Signed off by a person, not measured: the row says Attested. pytest-html filters rows
            # by the first cell's text and knows only its own outcomes: a hidden "Passed" keeps it listed.
            cells[0] = '<td class="col-result" hidden>Passed</td><td class="col-attested">Attested</td>'

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_report_title(self, report: Any) -> None:
        run = self.state.run
        report.title = f"opscheck — {', '.join(run.cadences) or 'all'} — {run.profile.name}"

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(self, prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session) -> None:
        s = self.state.collector.summary()
        lines = [f"{cadence}: " + ", ".join(f"{n} {o}" for o, n in sorted(counts.items()))
                 for cadence, counts in s["by_cadence"].items()]
        lines += [f"severity {sev}: " + ", ".join(f"{n} {o}" for o, n in sorted(counts.items()))
                  for sev, counts in s["by_severity"].items()]
        if len(s["by_cluster"]) > 1:
            lines += [f"cluster {name}: " + ", ".join(f"{n} {o}" for o, n in sorted(counts.items()))
                      for name, counts in s["by_cluster"].items()]
        prefix.append("<p><b>Checklist summary</b><br>" + "<br>".join(html.escape(x) for x in lines) + "</p>")
        if self.state.waivers:
            today = self.state.run.started.date()
            items = "".join(
                f"<li>{html.escape(w.check)}{' ' + html.escape(', '.join(w.objects)) if w.objects else ''}: "
                f"<b>{html.escape(w.as_dict(today)['state'])}</b> until {w.expires} — {html.escape(w.justification)} "
                f"(approved by {html.escape(w.approver)}, {html.escape(w.ticket)})</li>" for w in self.state.waivers)
            prefix.append(f"<p><b>Waivers</b></p><ul>{items}</ul>")
        postfix.append(self.trace_html(session))

    def trace_html(self, session: pytest.Session) -> str:
        """The traceability matrix: this run's outcomes first, then earlier sealed runs'."""
        from opscheck.record.trace import latest_outcomes, matrix, render_html, sealed_results

        entries = list(self.state.all_checks.values())
        current = {"run": self.state.run.as_dict(),
                   "checks": [r.as_dict() for r in self.state.collector.results.values()]}
        earlier = sealed_results(self.state.folder.reports_dir) if self.state.folder else []
        catalog = {e["id"]: e for e in entries}
        for data in earlier:  # checks not selected in this run still belong to the matrix
            for c in data.get("checks", []):
                catalog.setdefault(c["id"], {"id": c["id"], "covers": [k["key"] for k in c["runbook"]]})
        return render_html(matrix(catalog.values(), latest_outcomes([current, *earlier])))

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.exitstatus = int(exitstatus)
        gate = self.gate()
        if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) and not self.other_failures:
            # The run's verdict follows the gate, not pytest's count of failed tests.
            session.exitstatus = pytest.ExitCode.TESTS_FAILED if gate["failing"] else pytest.ExitCode.OK
        state, run = self.state, self.state.run
        run.finished = utc_now()
        run.workers = int(getattr(self.config.option, "numprocesses", 0) or 0)
        cache = RunCache(state.cache_dir)
        for c in run.profile.clusters:
            version = cache.peek(f"{c.name}/version") or {}
            run.clusters[c.name] = {
                "context": c.context,
                "kubeconfig": str(c.kubeconfig_path),
                "server_version": version.get("gitVersion", "not contacted"),
            }
        meta = _html_metadata(self.config)
        if meta is not None:
            meta["Finished (UTC)"] = run.finished.strftime("%Y-%m-%d %H:%M:%S")
            meta["Cluster versions"] = ", ".join(f"{n}: {v['server_version']}" for n, v in run.clusters.items())
        checks = [r.as_dict() for r in state.collector.results.values()]
        if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) and not self.config.option.collectonly:
            self.export_notes = export_metrics(run, checks)
        if state.folder is None:
            return
        write_json(state.folder.path("results.json"), {
            "schema_version": RESULTS_SCHEMA_VERSION,
            "run": run.as_dict(),
            "summary": state.collector.summary(),
            "gate": gate,
            "waivers": [w.as_dict(run.started.date()) for w in state.waivers],
            "checks": checks,
        })

    def gate(self) -> dict[str, Any]:
        """Which results fail the run under --fail-on and --allow-errors."""
        fail_on = self.config.getoption("opscheck_fail_on")
        allow_errors = self.config.getoption("opscheck_allow_errors")
        gating = SEVERITIES[: SEVERITIES.index(fail_on) + 1]
        failing, reported = [], []
        for r in self.state.collector.results.values():
            if r.outcome == "failed":
                (failing if r.spec["severity"] in gating else reported).append(r.spec["id"])
            elif r.outcome == "error":
                (reported if allow_errors else failing).append(r.spec["id"])
        return {"fail_on": fail_on, "allow_errors": allow_errors,
                "failing": sorted(set(failing)), "not_gating": sorted(set(reported))}

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        for line in getattr(self, "export_notes", []):
            terminalreporter.write_line(f"opscheck: {line}")
        today = self.state.run.started.date()
        for r in self.state.collector.results.values():
            if r.waiver:
                terminalreporter.write_line(f"opscheck: waived: {r.spec['id']} ({r.waiver['ticket']}, "
                                            f"approved by {r.waiver['approver']}, until {r.waiver['expires']})")
            if r.outcome == "attested":
                terminalreporter.write_line(f"opscheck: attested: {r.spec['id']}: {r.message}")
        for w in self.state.waivers:
            if w.expired(today) or w.expiring_soon(today):
                state = "EXPIRED, no longer applies" if w.expired(today) else "expires soon"
                terminalreporter.write_line(f"opscheck: waiver for {w.check} ({w.ticket}) {state}: {w.expires}")
        gate = self.gate()
        if gate["not_gating"]:
            terminalreporter.write_line(
                f"opscheck: not failing the run (--fail-on={gate['fail_on']}"
                f"{', --allow-errors' if gate['allow_errors'] else ''}): {', '.join(gate['not_gating'])}")

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        shutil.rmtree(self.state.cache_dir, ignore_errors=True)
        folder = self.state.folder
        if folder is None:
            return
        # A run is recorded only if it ran to its end (checks passed or failed) and every
        # file was written; an interrupted or refused run leaves nothing half-done.
        expected = ["results.json", "junit.xml"]
        if config.pluginmanager.hasplugin("html"):
            expected.append("report.html")
        completed = self.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)
        if completed and all(folder.path(f).exists() for f in expected):
            final = folder.commit()
            tr = config.pluginmanager.get_plugin("terminalreporter")
            if tr is not None:
                tr.write_line(f"opscheck: report written to {final}/")
        else:
            folder.discard()
