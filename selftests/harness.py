"""Self-test harness: run real checks against the running test environment.

A check is run the way an operator runs it (`pytest <check> --env=environments/demo.yaml`)
in a subprocess, and its outcome read back from the run's results.json, so each self-test
covers the whole path: profile, fixtures, check, plugin, report.

Faults take a moment to show through the API (a rollout, a metrics scrape, a Prometheus
rate window), so `CheckRunner.until` re-runs the check until it reaches the expected
outcome, with a deadline, instead of sleeping a guessed time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selftests.forkserver import ForkServer

REPO = Path(__file__).resolve().parents[1]
# Every check run is `python -m pytest ...`, forked from one process that imported the
# libraries once (selftests/forkserver.py): the same run, without 2 s of imports each time.
_FORK_SERVER = ForkServer()
DEMO_PROFILE = REPO / "environments" / "demo.yaml"


def validate_results(data: dict[str, Any]) -> None:
    """results.json must match its published schema (opscheck/data/results.schema.json)."""
    from importlib import resources

    import jsonschema

    schema = json.loads(resources.files("opscheck.data").joinpath("results.schema.json").read_text())
    jsonschema.validate(data, schema, format_checker=jsonschema.FormatChecker())


JUNIT_SCHEMA = Path(__file__).resolve().parent / "data" / "junit-10.xsd"


def validate_junit(path: Path) -> None:
    """junit.xml must match the JUnit schema Jenkins and GitLab read (selftests/data/junit-10.xsd)."""
    import xmlschema

    xmlschema.XMLSchema(str(JUNIT_SCHEMA)).validate(str(path))


def assert_records_agree(
    run_dir: Path, terminal: str | None = None, exit_code: int | None = None, metrics: str | None = None
) -> None:
    """Every record of the run (junit.xml, report.html, the terminal, the exit code, the
    metrics) shows the outcomes of its results.json; junit.xml is valid JUnit."""
    import xmlschema

    from opscheck.record.agreement import disagreements

    found = disagreements(run_dir, terminal=terminal, exit_code=exit_code, metrics=metrics)
    try:
        validate_junit(run_dir / "junit.xml")
    except xmlschema.XMLSchemaValidationError as exc:
        found.append(f"junit.xml is not valid JUnit (selftests/data/junit-10.xsd): {exc.reason} at {exc.path}")
    assert not found, f"the records of {run_dir.name} disagree:\n" + "\n".join(found)


def new_run_folders(reports: Path, before: set[Path]) -> list[Path]:
    """Run folders (sealed) that appeared in `reports` since `before` was listed."""
    if not reports.is_dir():
        return []
    return sorted(p for p in reports.iterdir() if p.is_dir() and not p.name.startswith(".") and p not in before)


@dataclass
class Outcome:
    id: str
    outcome: str
    message: str
    evidence: dict[str, Any] | None
    raw: dict[str, Any]


class CheckRunner:
    def __init__(self, workdir: Path, profile: Path = DEMO_PROFILE) -> None:
        self.workdir = workdir
        self.profile = profile
        self._runs = 0
        from opscheck.cli import catalog

        self.nodeids = {e["id"]: e["nodeid"].split("[")[0] for e in catalog(REPO)}

    def run_pytest(
        self, *args: str, profile: Path | None = None, env: dict[str, str] | None = None
    ) -> tuple[subprocess.CompletedProcess[str], Path]:
        self._runs += 1
        reports = self.workdir / f"run{self._runs}"
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            f"--env={profile or self.profile}",
            f"--report-dir={reports}",
            "-q",
            *args,
        ]
        run_env = {**os.environ, **(env or {})}
        if os.environ.get("OPSCHECK_SELFTEST_FORK", "1") == "0":  # the plain way, to compare
            proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600, env=run_env)
        else:
            proc = _FORK_SERVER.run(cmd[3:], cwd=REPO, env=run_env, timeout=600)
        # Every run a self-test makes: its records must agree with its results.json.
        for folder in new_run_folders(reports, set()):
            assert_records_agree(folder, terminal=proc.stdout, exit_code=proc.returncode)
        return proc, reports

    def run(
        self,
        *check_ids: str,
        profile: Path | None = None,
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> dict[str, Outcome]:
        return {
            c["id"]: Outcome(c["id"], c["outcome"], c["message"], c["evidence"], c)
            for c in self._results(*check_ids, profile=profile, args=args, env=env)
        }

    def per_cluster(
        self, check_id: str, profile: Path | None = None, args: tuple[str, ...] = (), env: dict[str, str] | None = None
    ) -> dict[str | None, Outcome]:
        """One run of `check_id`: its outcome on each cluster of the profile (a check that
        reads no cluster: under None)."""
        return {
            c["cluster"]: Outcome(c["id"], c["outcome"], c["message"], c["evidence"], c)
            for c in self._results(check_id, profile=profile, args=args, env=env)
            if c["id"] == check_id
        }

    def _results(
        self, *check_ids: str, profile: Path | None, args: tuple[str, ...], env: dict[str, str] | None
    ) -> list[dict[str, Any]]:
        """Run the checks; their entries of the run's results.json (one per check and cluster)."""
        nodeids = sorted({self.nodeids[c] for c in check_ids})
        proc, reports = self.run_pytest(*nodeids, *args, profile=profile, env=env)
        folders = list(reports.glob("*/results.json")) if reports.exists() else []
        if len(folders) != 1:
            raise AssertionError(
                f"no run folder written (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            )
        data = json.loads(folders[0].read_text())
        validate_results(data)
        return data["checks"]

    def one(self, check_id: str, cluster: str | None = None, **kw: Any) -> Outcome:
        """The check's outcome; with `cluster`, its outcome on that cluster of the profile."""
        if cluster is not None:
            return self.per_cluster(check_id, **kw)[cluster]
        return self.run(check_id, **kw)[check_id]

    def until(
        self,
        check_id: str,
        outcome: str,
        timeout: float = 90,
        interval: float = 1,
        message: Callable[[str], bool] | None = None,
        **kw: Any,
    ) -> Outcome:
        """Re-run `check_id` until its outcome is `outcome` (and `message` accepts its text);
        `cluster=NAME` (passed on to `one`) watches the outcome on that cluster."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.one(check_id, **kw)
            if result.outcome == outcome and (message is None or message(result.message)):
                return result
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{check_id}: still {result.outcome} after {timeout:.0f}s (wanted {outcome}): {result.message}"
                )
            time.sleep(interval)

    @contextmanager
    def fails_then_recovers(
        self,
        check_id: str,
        fault: AbstractContextManager[Any],
        message: Callable[[str], bool] | None = None,
        recovers_to: str = "passed",
        **kw: Any,
    ) -> Iterator[Outcome]:
        """The shape of most fault tests: under `fault`, wait until `check_id` fails (and
        `message` accepts its text) and hand the failed Outcome to the with-block, which
        asserts on it while the fault holds; after the block the fault is repaired and
        the check must pass again (reach `recovers_to`: an attestation check's pass is
        "attested"). `kw` (timeout, profile, cluster, ...) go to both waits. A failed
        assertion in the block repairs the fault and skips the wait for the pass."""
        with fault:
            yield self.until(check_id, "failed", message=message, **kw)
        self.until(check_id, recovers_to, **kw)


@contextmanager
def broken(break_it: Callable[[], Any], repair: Callable[[], Any]) -> Iterator[None]:
    """Apply a fault, and always repair it, even when the test fails half-way."""
    break_it()
    try:
        yield
    finally:
        repair()
