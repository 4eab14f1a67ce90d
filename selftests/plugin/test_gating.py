"""--fail-on and --allow-errors: which results fail the run (pytester)."""

from __future__ import annotations

import json

from selftests.pluginsuite import run

pytest_plugins = ["pytester"]


LOW_FAILURE = """
from opscheck.check import check

@check(id="daily.low-fails", title="low", severity="low", covers=["000.daily.warning-events"], remediation="x")
def test_low(evidence):
    evidence.fail("1 Warning event")
"""


def test_fail_on_reports_lower_severities_without_failing_the_run(suite):
    (suite.path / "tests_daily" / "test_low.py").write_text(LOW_FAILURE)
    assert run(suite, "-m", "daily", "-k", "passes or low").ret == 1
    result = run(suite, "-m", "daily", "-k", "passes or low", "--fail-on=medium", "--report-dir=gated")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["opscheck: not failing the run (--fail-on=medium): daily.low-fails"])
    data = json.loads(next((suite.path / "gated").glob("*/results.json")).read_text())
    assert data["gate"] == {
        "fail_on": "medium",
        "allow_errors": False,
        "failing": [],
        "not_gating": ["daily.low-fails"],
    }
    low = next(c for c in data["checks"] if c["id"] == "daily.low-fails")
    assert low["outcome"] == "failed"  # reported as failed, never as passed
    # A critical failure still fails the run whatever --fail-on says.
    assert run(suite, "-m", "daily", "-k", "fails and not low", "--fail-on=critical", "--no-report").ret == 1


def test_errors_fail_the_run_unless_allowed(suite):
    assert run(suite, "-m", "daily", "-k", "passes or errors", "--no-report").ret == 1
    assert run(suite, "-m", "daily", "-k", "passes or errors", "--no-report", "--allow-errors").ret == 0
