"""Fault injection on the deployment gates: the release's artifacts, the maintenance
window, and the rollout itself. Each test breaks the real input, sees the check fail
naming the fault, repairs it, and sees the check pass again."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from opscheck.maintenance import DAYS
from opscheck.timeutil import utc_now
from selftests.harness import DEMO_PROFILE, broken
from testenv import release

pytestmark = pytest.mark.usefixtures("testenv_up")


def test_tests_passed_fails_on_a_failed_e2e_test_and_on_missing_results(checks):
    with broken(lambda: release.write_junit("e2e", failing=("test_sign_document_end_to_end",)),
                lambda: release.write_junit("e2e")):
        r = checks.until("predeploy.tests-passed", "failed")
        assert r.message == "1 test case(s) failed: qsign.e2e.test_sign_document_end_to_end (failure)"
    checks.until("predeploy.tests-passed", "passed")
    saved = release.junit_dir().with_name("junit.saved")
    with broken(lambda: release.junit_dir().rename(saved), lambda: saved.rename(release.junit_dir())):
        r = checks.until("predeploy.tests-passed", "failed")
        assert r.message.startswith("no JUnit test results match ") and "release/junit/*.xml" in r.message
    checks.until("predeploy.tests-passed", "passed")


def test_perf_test_fails_when_the_load_test_is_too_slow(checks):
    with broken(lambda: release.write_k6_summary(p95_ms=812.5, error_rate=0.004), release.write_k6_summary):
        r = checks.until("predeploy.perf-test", "failed")
        assert r.message == "2 load-test threshold(s) missed: P95 latency (812.5ms over 500ms), error rate (0.004 over 0.001)"
    checks.until("predeploy.perf-test", "passed")


def test_perf_test_errors_on_a_file_that_is_not_a_k6_summary(checks):
    with broken(lambda: release.k6_summary().write_text("<html>not json</html>"), release.write_k6_summary):
        r = checks.one("predeploy.perf-test")
        assert r.outcome == "error" and "not a k6 summary export" in r.message
    checks.until("predeploy.perf-test", "passed")


def test_maintenance_window_fails_outside_the_window(checks, tmp_path: Path):
    # The fault is the clock being outside the window: a window that opens tomorrow.
    tomorrow = DAYS[(utc_now() + timedelta(days=1)).weekday()]
    profile = yaml.safe_load(DEMO_PROFILE.read_text())
    profile["maintenance_windows"] = [{"days": [tomorrow], "start": "02:00", "end": "06:00", "timezone": "UTC"}]
    closed = tmp_path / "closed.yaml"
    closed.write_text(yaml.safe_dump(profile, sort_keys=False, allow_unicode=True))
    r = checks.until("predeploy.maintenance-window", "failed", profile=closed)
    assert r.message.endswith(f"UTC) is outside the maintenance window ({tomorrow.capitalize()} 02:00-06:00 UTC)")
    checks.until("predeploy.maintenance-window", "passed")
