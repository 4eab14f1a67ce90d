"""The pytest plugin: cadence markers, the profile, evidence, and each check's record.

Runs in every process (the controller and each xdist worker). Where a check runs, its
`CheckRecord` (opscheck/record/results.py) is created at setup, filled from each phase's
report and shipped once, on the teardown report. The controller's side, which gathers the
records into the audit record, is opscheck/plugin/recorder.py.

A check's outcome is decided here, once, waivers included; the one report that settles it
carries it (`SHOWS`), and pytest's terminal counts and lists each check by that outcome
(pytest_report_teststatus), so the terminal says what results.json says.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import tempfile
import threading
import time
from collections.abc import Generator, Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest

from opscheck.check import CADENCES, PRIMARY_CADENCE_DIRS, SEVERITIES, CheckFailure, CheckSpec, Evidence
from opscheck.errors import CatalogError, DependencyError, OpscheckError, ProfileError, RunDeadlineReached
from opscheck.profile import ENV_VAR, Profile, check_secrets, load_profile
from opscheck.record.outcomes import TERMINAL_STATUS
from opscheck.record.results import CHECK_PROPERTY, CatalogEntry, CheckRecord, Failure, short_message
from opscheck.record.waivers import Waiver, check_known, declared_check_ids, load_waivers
from opscheck.redact import printable
from opscheck.runbook import known_items, unknown_key_message, use_suite
from opscheck.sources.runcache import RunCache

PROFILE_KEY = pytest.StashKey[Profile]()
CACHE_DIR_KEY = pytest.StashKey[str]()
EVIDENCE_KEY = pytest.StashKey[Evidence]()
RECORD_KEY = pytest.StashKey[CheckRecord]()
WAIVERS_KEY = pytest.StashKey[list[Waiver]]()
# The day the run started (on the controller): the day waivers are judged on, in every process.
RUN_DATE_KEY = pytest.StashKey[date]()
# On an item: one of its reports already carries the check's outcome.
SHOWN_KEY = pytest.StashKey[bool]()
# The report attribute naming the check's outcome on the one report that settles it ("" on
# the check's other reports): what the terminal counts. xdist ships it with the report.
SHOWS = "opscheck_shows"
RUN_DATE_INPUT = "opscheck_run_date"
# What a worker sends back to the controller: every check it collected (xdist's workeroutput).
CATALOG_OUTPUT = "opscheck_catalog"
CACHE_DIR_INPUT = "opscheck_cache_dir"
# The run-wide deadline: (its length in seconds, when it passes as UNIX time), the same in
# every process (the controller's start).
DEADLINE_KEY = pytest.StashKey[tuple[float, float] | None]()
DEADLINE_INPUT = "opscheck_deadline"
RECORDER_NAME = "opscheck-recorder"
# The run cache's directory under the temporary directory: opscheck-run-XXXXXXXX (0700).
CACHE_PREFIX = "opscheck-run-"

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
    group.addoption(
        "--env", dest="opscheck_env", metavar="PATH", help=f"environment profile (YAML); default: ${ENV_VAR}"
    )
    group.addoption(
        "--report-dir",
        dest="opscheck_report_dir",
        metavar="DIR",
        default="reports",
        help="where run folders are written (default: reports)",
    )
    group.addoption("--no-report", dest="opscheck_no_report", action="store_true", help="do not write a run folder")
    group.addoption(
        "--fail-on",
        dest="opscheck_fail_on",
        choices=SEVERITIES,
        default="low",
        help="lowest severity whose failures fail the run (default: low, i.e. any failure); "
        "failures below it are reported but do not change the exit code",
    )
    group.addoption(
        "--allow-errors",
        dest="opscheck_allow_errors",
        action="store_true",
        help="checks that could not be evaluated (error) do not fail the run",
    )
    group.addoption(
        "--release",
        dest="opscheck_release",
        metavar="ID",
        help="the release the deployment gates check the release's files against (overrides the profile's release.id)",
    )
    group.addoption(
        "--deadline",
        dest="opscheck_deadline",
        metavar="SECONDS",
        type=float,
        help="run-wide deadline: checks not finished this many seconds after the start are errors "
        "(overrides the profile's run.deadline)",
    )
    group.addoption(
        "--opscheck-catalog", dest="opscheck_catalog", action="store_true", help=argparse.SUPPRESS
    )  # internal: used by `python -m opscheck catalog`


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def load_run_inputs(
    path: str | os.PathLike[str], root: Path, *, release: str | None = None, controller: bool = True
) -> tuple[Profile, list[Waiver]]:
    """Every validation a run does at start, without running a check or contacting a server:
    the profile (model, `required:`, windows vs cadences), its secrets' variables, the waivers
    (known check ids under `root`) and attestation files it names. ProfileError: one line.

    `controller`: the run's main process (workers skip what the controller already checked)."""
    profile = load_profile(path)
    if controller:
        check_secrets(profile)
    release_id = (release or "").strip()
    if release_id:  # the command line names the release being gated
        profile = profile.model_copy(update={"release": profile.release.model_copy(update={"id": release_id})})
    from opscheck.record.attestations import input_verifier, load_attestations
    from opscheck.record.signing import require_signed

    verifier = input_verifier(profile)
    waivers = []
    if profile.waivers_path:
        if verifier is not None:
            require_signed(profile.waivers_path, verifier, "waivers file")
        waivers = load_waivers(profile.waivers_path, max_days=profile.waivers_max_days, today=date.today())
    if waivers and controller:
        check_known(waivers, declared_check_ids(root), profile.waivers_path)
    if profile.attestations is not None:  # a malformed (or unsigned) attestation file stops the run too
        load_attestations(profile.relative_path(profile.attestations.dir), verifier)
    return profile, waivers


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for name in CADENCES:
        config.addinivalue_line("markers", f"{name}: {CADENCE_HELP[name]}")
    # The suite's runbook items (runbooks/*.yaml under the rootdir): what covers= keys and
    # attestation items name. A broken runbook file stops the run like a broken profile.
    use_suite(Path(config.rootpath))
    try:
        known_items()
    except CatalogError as exc:
        raise pytest.UsageError(str(exc)) from None
    if config.getoption("opscheck_catalog"):
        return
    path = config.getoption("opscheck_env") or os.environ.get(ENV_VAR)
    if not path:
        return  # no profile: fine unless checks are collected (see modifyitems)
    try:
        profile, waivers = load_run_inputs(
            path, Path(config.rootpath), release=config.getoption("opscheck_release"), controller=not is_worker(config)
        )
    except ProfileError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[PROFILE_KEY] = profile
    config.stash[WAIVERS_KEY] = waivers

    if is_worker(config):
        config.stash[CACHE_DIR_KEY] = config.workerinput[CACHE_DIR_INPUT]  # type: ignore[attr-defined]
        config.stash[RUN_DATE_KEY] = date.fromisoformat(config.workerinput[RUN_DATE_INPUT])  # type: ignore[attr-defined]
        deadline = config.workerinput.get(DEADLINE_INPUT)  # type: ignore[attr-defined]
        config.stash[DEADLINE_KEY] = tuple(deadline) if deadline else None  # type: ignore[assignment]
        return
    seconds = config.getoption("opscheck_deadline") or profile.run.deadline
    if seconds is not None and seconds <= 0:
        raise pytest.UsageError(f"--deadline: must be a number of seconds above 0, not {seconds:g}")
    config.stash[DEADLINE_KEY] = (seconds, time.time() + seconds) if seconds else None
    from opscheck.plugin.recorder import start_recording
    from opscheck.record.run import LiveDir

    # A killed run's cache (it may hold object data) is removed by the next run: its lock is gone.
    tmp = Path(tempfile.gettempdir())
    LiveDir.reap(tmp, CACHE_PREFIX)
    cache = LiveDir(tmp, CACHE_PREFIX)
    config.stash[CACHE_DIR_KEY] = str(cache.path)
    try:
        start_recording(config, profile, waivers, cache)
    except BaseException:
        cache.remove()
        raise


# -- collection ----------------------------------------------------------------------------
def spec_of(item: pytest.Item) -> CheckSpec | None:
    return getattr(getattr(item, "function", None), "__opscheck__", None)


def primary_cadence(item: pytest.Item) -> str | None:
    for part in Path(str(item.path)).parts:
        if part in PRIMARY_CADENCE_DIRS:
            return PRIMARY_CADENCE_DIRS[part]
    return None


def item_cadences(item: pytest.Item) -> list[str]:
    names = {m.name for m in item.iter_markers()}
    return [c for c in CADENCES if c in names]


def check_items(items: Iterable[pytest.Item]) -> Iterator[tuple[pytest.Item, CheckSpec]]:
    for item in items:
        spec = spec_of(item)
        if spec is not None:
            yield item, spec


def catalog_of(items: Iterable[pytest.Item]) -> list[CatalogEntry]:
    """The checks among `items`, one entry per item: the one way to list the collected checks
    (the run's traceability matrix, and `python -m opscheck catalog|coverage|trace`)."""
    return [CatalogEntry(spec, item_cadences(item), item.nodeid) for item, spec in check_items(items)]


def pytest_itemcollected(item: pytest.Item) -> None:
    # Runs before -m deselection, so `pytest -m daily` sees the directory's marker.
    cadence = primary_cadence(item)
    if cadence is not None:
        item.add_marker(cadence)


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
    for item in items:
        spec = spec_of(item)
        if primary_cadence(item) is not None and spec is None:
            raise pytest.UsageError(f"{item.nodeid}: a test under tests_* must be declared with @check(...)")
        unknown = [k for k in spec.covers if k not in items_known] if spec else []
        if unknown:
            raise pytest.UsageError(f"{item.nodeid}: check {spec.id} {unknown_key_message(unknown)}")
    catalog = catalog_of(items)  # before -m/-k deselection: the traceability matrix needs them all
    if catalog and PROFILE_KEY not in config.stash and not config.getoption("opscheck_catalog"):
        raise pytest.UsageError(f"no environment profile: pass --env PATH or set {ENV_VAR}")
    if is_worker(config):
        # Workers collect, the controller does not: they send back every check they saw.
        config.workeroutput[CATALOG_OUTPUT] = json.dumps([e.as_dict() for e in catalog])  # type: ignore[attr-defined]
        return
    recorder = config.pluginmanager.get_plugin(RECORDER_NAME)
    if recorder is not None:
        recorder.audit.add_catalog(catalog)


# -- running -------------------------------------------------------------------------------
@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None]:
    """A check's record is created before anything of it runs; past the run's deadline it
    does not start, and before, its fixtures are set up within the deadline."""
    spec = spec_of(item)
    if spec is None:
        return (yield)
    callspec = getattr(item, "callspec", None)
    cluster = callspec.params.get("cluster") if callspec else None
    item.stash[RECORD_KEY] = CheckRecord(item.nodeid, spec, item_cadences(item), cluster)
    deadline = item.config.stash.get(DEADLINE_KEY, None)
    if deadline is not None and time.time() >= deadline[1]:
        raise RunDeadlineReached(deadline_message(deadline[0]))
    with run_deadline(item):
        return (yield)


def deadline_message(seconds: float) -> str:
    return f"run deadline of {seconds:g} s reached"


@contextmanager
def run_deadline(item: pytest.Item) -> Generator[None]:
    """Interrupt the check (SIGALRM in the main thread, where pytest runs it) when the run's
    deadline passes: a check blocked anywhere ends as an error then."""
    deadline = item.config.stash.get(DEADLINE_KEY, None)
    if (
        deadline is None
        or item.stash.get(RECORD_KEY, None) is None
        or not hasattr(signal, "setitimer")
        or threading.current_thread() is not threading.main_thread()
    ):
        yield
        return
    seconds, at = deadline

    def reached(signum: int, frame: object) -> None:
        raise RunDeadlineReached(deadline_message(seconds))

    previous = signal.signal(signal.SIGALRM, reached)
    signal.setitimer(signal.ITIMER_REAL, max(at - time.time(), 0.001))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None]:
    with run_deadline(item):
        return (yield)


def failure_of(excinfo: pytest.ExceptionInfo[BaseException] | None) -> Failure | None:
    if excinfo is None:
        return None
    if excinfo.errisinstance(CheckFailure):
        return "check"
    if excinfo.errisinstance(OpscheckError):
        return "dependency"
    return "other"


def server_version(item: pytest.Item) -> str | None:
    """The version of the cluster this check reached through the `cluster` fixture."""
    from opscheck.sources.kube import KubeCluster  # loaded already: the item has a cluster parameter

    kube = (getattr(item, "funcargs", None) or {}).get("cluster")
    if not isinstance(kube, KubeCluster):
        return None
    try:
        return kube.version().get("gitVersion")  # the fixture's probe, from the run cache
    except DependencyError:
        return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    record = item.stash.get(RECORD_KEY, None)
    if record is None:
        return report
    failure = failure_of(call.excinfo)
    if failure == "check":
        report.longrepr = str(call.excinfo.value)  # type: ignore[union-attr]
    elif failure == "dependency":
        # Could not evaluate (dependency down, secret missing): an error, not a failure.
        report.longrepr = f"could not evaluate: {printable(str(call.excinfo.value))}"  # type: ignore[union-attr]
    mask_report(report)
    evidence = item.stash.get(EVIDENCE_KEY, None) if call.when == "call" else None
    if evidence is not None:
        evidence = Evidence(**evidence.as_dict())  # as it stood when the check ended
    message = short_message(report) if report.outcome != "passed" else ""
    record.add_phase(call.when, report.outcome, message, report.duration, failure, evidence)  # type: ignore[arg-type]
    if record.outcome == "failed" and call.when != "teardown":
        config = item.config
        record.apply_waivers(config.stash.get(WAIVERS_KEY, []), config.stash.get(RUN_DATE_KEY, date.today()))
    show_outcome(item, report, record)
    if call.when == "setup" and record.cluster is not None:
        record.server_version = server_version(item)
    if call.when == "teardown":
        report.user_properties.append((CHECK_PROPERTY, record.to_json()))
    return report


def mask_report(report: pytest.TestReport) -> None:
    """A check's failure text and captured output as every output shows them: credentials
    masked, control characters neutralised (the terminal, report.html's log, the record's
    message all read them from here). A traceback becomes its masked text."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # a skip: (path, line, reason)
        report.longrepr = (longrepr[0], longrepr[1], printable(str(longrepr[2])))
    elif longrepr is not None:
        text = longrepr if isinstance(longrepr, str) else report.longreprtext
        report.longrepr = printable(text)
    report.sections = [(printable(header), printable(content)) for header, content in report.sections]


# After the call, these outcomes are final (a teardown's failure changes only a pass).
FINAL_AFTER_CALL = ("failed", "error", "waived", "not applicable")


def show_outcome(item: pytest.Item, report: pytest.TestReport, record: CheckRecord) -> None:
    """Mark the report that settles the check's outcome with it, the check's others with "".

    A failed or skipped setup settles it; else a call that failed, errored, was waived or
    skipped; else the teardown (a pass, an attestation, or an error while tearing down).
    """
    if item.stash.get(SHOWN_KEY, False):
        setattr(report, SHOWS, "")
        return
    when = report.when
    settles = (
        (when == "setup" and report.outcome != "passed")
        or (when == "call" and record.outcome in FINAL_AFTER_CALL)
        or when == "teardown"
    )
    if not settles:
        setattr(report, SHOWS, "")
        return
    item.stash[SHOWN_KEY] = True
    setattr(report, SHOWS, record.outcome)
    if record.outcome == "waived" and record.waiver is not None:
        # Accepted, not failing: a skip to pytest (no -x stop, no failure count), with the waiver.
        report.outcome = "skipped"
        lineno = item.location[1] + 1 if item.location[1] is not None else 0
        report.longrepr = (str(item.path), lineno, f"waived ({record.waiver['ticket']}): {record.message}")


@pytest.hookimpl(tryfirst=True)
def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, str] | None:
    """The terminal counts and lists a check by its outcome, once (opscheck/record/outcomes.py)."""
    shown = getattr(report, SHOWS, None)
    if shown is None:
        return None  # not a check: pytest's own status
    if not shown:
        return "", "", ""
    return TERMINAL_STATUS[shown]


@pytest.fixture(scope="session")
def run_profile(request: pytest.FixtureRequest) -> Profile:
    """The environment profile of this run, whole (for what is read once per session)."""
    return request.config.stash[PROFILE_KEY]


@pytest.fixture
def profile(request: pytest.FixtureRequest, run_profile: Profile) -> Profile:
    """The environment profile as this check sees it: for a check run per cluster, that
    cluster's view (its own namespaces and Vault where its clusters[] entry sets them)."""
    callspec = getattr(request.node, "callspec", None)
    cluster = callspec.params.get("cluster") if callspec else None
    return run_profile if cluster is None else run_profile.for_cluster(cluster)


@pytest.fixture(scope="session")
def run_cache(request: pytest.FixtureRequest) -> RunCache:
    """The per-run cache shared by every check and xdist worker (kept in memory only when
    there are no workers)."""
    return RunCache(request.config.stash[CACHE_DIR_KEY], shared=is_worker(request.config))


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> Evidence:
    """What the check measured; recorded in the report whatever the outcome."""
    ev = Evidence()
    request.node.stash[EVIDENCE_KEY] = ev
    return ev
