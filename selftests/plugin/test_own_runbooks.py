"""A team's own runbook: a file in the suite's runbooks/ and a check covering its key, with
no change to the package; the key is covered in `coverage` and traced to its outcome."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from selftests.pluginsuite import run

pytest_plugins = ["pytester"]

OUR_RUNBOOK = """\
id: "900"
title: Our platform runbook
items:
  - {key: 900.daily.backup-done, cadence: daily, kind: auto, text: "Nightly backup finished", what: "the nightly backup ran"}
  - {key: 900.weekly.restore-drill, cadence: weekly, kind: attest, text: "Restore drill", what: "a person ran a restore"}
"""

OUR_CHECK = """
from opscheck.check import check

@check(id="daily.our-backup", title="our backup", severity="high", covers=["900.daily.backup-done"], remediation="x")
def test_our_backup(evidence):
    evidence.expect_none([], "backups missing")
"""


def opscheck_cli(suite: pytest.Pytester, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opscheck", *args, "--root", str(suite.path)], capture_output=True, text=True
    )


@pytest.fixture
def our_suite(suite: pytest.Pytester) -> pytest.Pytester:
    (suite.path / "runbooks" / "900-our-runbook.yaml").write_text(OUR_RUNBOOK)
    (suite.path / "tests_daily" / "test_ours.py").write_text(textwrap.dedent(OUR_CHECK))
    return suite


def test_a_check_for_our_own_runbook_runs_and_is_covered_and_traced(our_suite: pytest.Pytester) -> None:
    result = run(our_suite, "-m", "daily", "-k", "our_backup")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()

    coverage = opscheck_cli(our_suite, "coverage", "--format", "json")
    assert coverage.returncode == 1, coverage.stderr  # other items stay uncovered
    books = {b["seed"]: b for b in json.loads(coverage.stdout)["runbooks"]}
    assert books["900"]["runbook"] == "Our platform runbook"
    ours = {i["key"]: i for c in books["900"]["cadences"] for i in c["items"]}
    assert ours["900.daily.backup-done"]["checks"] == ["daily.our-backup"]
    assert ours["900.weekly.restore-drill"]["covered"] is False
    text = opscheck_cli(our_suite, "coverage").stdout
    assert "900 Our platform runbook: 1/2 covered" in text, text

    trace = opscheck_cli(our_suite, "trace", "--reports", str(our_suite.path / "reports"), "--format", "json")
    assert trace.returncode == 0, trace.stderr
    rows = {r["key"]: r for r in json.loads(trace.stdout)}
    assert rows["900.daily.backup-done"]["checks"][0]["id"] == "daily.our-backup"
    assert rows["900.daily.backup-done"]["checks"][0]["outcome"] == "passed"


def test_an_unknown_key_names_the_check_file_and_the_runbooks(our_suite: pytest.Pytester) -> None:
    check = our_suite.path / "tests_daily" / "test_ours.py"
    check.write_text(check.read_text().replace("900.daily.backup-done", "900.daily.backup-dnoe"))
    result = run(our_suite, "-m", "daily")
    lines = [line for line in result.stderr.str().splitlines() if line.strip()]
    assert result.ret == 4 and len(lines) == 1, result.stderr.str()
    assert "tests_daily/test_ours.py" in lines[0] and "900.daily.backup-dnoe" in lines[0], lines[0]
    assert f"{our_suite.path}/runbooks/*.yaml" in lines[0], lines[0]


def test_a_broken_runbook_file_stops_the_run_naming_it(our_suite: pytest.Pytester) -> None:
    (our_suite.path / "runbooks" / "900-our-runbook.yaml").write_text(OUR_RUNBOOK.replace("900.daily", "901.daily"))
    result = run(our_suite, "-m", "daily")
    lines = [line for line in result.stderr.str().splitlines() if line.strip()]
    assert result.ret == 4 and len(lines) == 1, result.stderr.str()
    assert "900-our-runbook.yaml: items[0]: key 901.daily.backup-done" in lines[0], lines[0]
