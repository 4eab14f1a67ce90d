"""Fault injection on the deployment gates: the release's artifacts, the maintenance
window, and the rollout itself. Each test breaks the real input, sees the check fail
naming the fault, repairs it, and sees the check pass again."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from opscheck.rules.maintenance import DAYS
from opscheck.timeutil import utc_now
from selftests.faults.common import app_misbehaving, drop_keys, fields_replaced, rotate_log
from selftests.harness import DEMO_PROFILE, broken
from testenv import apps, release

pytestmark = pytest.mark.usefixtures("testenv_up")


def junit_written(stage: str, **kw: Any) -> AbstractContextManager[None]:
    """The stage's JUnit file written otherwise (`kw` as release.write_junit takes), then as healthy."""
    return broken(lambda: release.write_junit(stage, **kw), lambda: release.write_junit(stage))


def k6_summary_written(**kw: Any) -> AbstractContextManager[None]:
    """The load test's summary written otherwise, then as healthy."""
    return broken(lambda: release.write_k6_summary(**kw), release.write_k6_summary)


def ci_runs_written(latest: str = "success", **kw: Any) -> AbstractContextManager[None]:
    """The CI pipeline's runs written otherwise, then as healthy."""
    return broken(lambda: release.write_ci_runs(latest, **kw), release.write_ci_runs)


def junit_dir_moved() -> AbstractContextManager[None]:
    saved = release.junit_dir().with_name("junit.saved")
    return broken(lambda: release.junit_dir().rename(saved), lambda: saved.rename(release.junit_dir()))


PREVIOUS = release.RELEASE.replace("-r2", "-r1")
NOT_THIS_RELEASE = f"not results of release {release.RELEASE} from the last 7 days"
# case -> (check, the fault at `now`, the message at `now` (a regex, in full)); `now` is the
# test's start, to the second: the faults date files from it.
RELEASE_FAULTS: dict[str, tuple[str, Callable[[datetime], AbstractContextManager[None]], Callable[[datetime], str]]] = {
    "a failed e2e test": (
        "predeploy.tests-passed",
        lambda now: junit_written("e2e", failing=("test_sign_document_end_to_end",)),
        lambda now: re.escape("1 test case(s) failed: qsign.e2e.test_sign_document_end_to_end (failure)"),
    ),
    "missing results": (
        "predeploy.tests-passed",
        lambda now: junit_dir_moved(),
        lambda now: re.escape("no JUnit test results match ") + ".*" + re.escape("release/junit/*.xml") + ".*",
    ),
    "last release's results": (
        "predeploy.tests-passed",
        lambda now: junit_written("e2e", release=PREVIOUS),
        lambda now: re.escape(
            f"1 JUnit file(s) {NOT_THIS_RELEASE}: "
            f"e2e.xml (testsuite e2e states release {PREVIOUS}, expected {release.RELEASE})"
        ),
    ),
    "results past the window": (
        "predeploy.tests-passed",
        lambda now: junit_written("unit", ran_at=now - timedelta(days=10)),
        lambda now: re.escape(
            f"1 JUnit file(s) {NOT_THIS_RELEASE}: unit.xml (testsuite unit ran 10.0 days ago "
            f"({now - timedelta(days=10):%Y-%m-%d %H:%M}Z), older than the 7-day release window)"
        ),
    ),
    "a load test too slow": (
        "predeploy.perf-test",
        lambda now: k6_summary_written(p95_ms=812.5, error_rate=0.004),
        lambda now: re.escape(
            "2 load-test threshold(s) missed: P95 latency (812.5ms over 500ms), error rate (0.004 over 0.001)"
        ),
    ),
    "a load test past the window": (
        "predeploy.perf-test",
        lambda now: k6_summary_written(finished_at=now - timedelta(days=9)),
        lambda now: re.escape(
            f"not the load test of release {release.RELEASE} from the last 7 days: {release.k6_summary()} "
            f"ran 9.0 days ago ({now - timedelta(days=9):%Y-%m-%d %H:%M}Z), older than the 7-day release window"
        ),
    ),
    # `k6 run --summary-export` without the script's handleSummary fields
    "a load test without a release": (
        "predeploy.perf-test",
        lambda now: broken(
            lambda: drop_keys(release.k6_summary(), "release", "finished_at", "state"), release.write_k6_summary
        ),
        lambda now: re.escape(
            f"not the load test of release {release.RELEASE} from the last 7 days: {release.k6_summary()} "
            f"states no release (release), expected {release.RELEASE}"
        ),
    ),
    # The CI half of CI/CD: the pipeline's latest run, as `gh run list --json` says
    "the pipeline's latest run failed": (
        "daily.ci-pipeline",
        lambda now: ci_runs_written("failure", latest_at=now - timedelta(hours=2)),
        lambda now: re.escape(
            f"1 CI workflows not passing: build-scan-push (last run on main failure "
            f"({now - timedelta(hours=2):%Y-%m-%d %H:%M} UTC))"
        ),
    ),
    "the pipeline stopped running": (
        "daily.ci-pipeline",
        lambda now: ci_runs_written(latest_at=now - timedelta(days=3)),
        lambda now: re.escape(
            "1 CI workflows not passing: build-scan-push (last run on main 3.0 days ago, over 36.0 h)"
        ),
    ),
    "no record of the pipeline's runs": (
        "daily.ci-pipeline",
        lambda now: broken(release.ci_runs_file().unlink, release.write_ci_runs),
        lambda now: re.escape(f"no CI runs file at {release.ci_runs_file()} (gh run list --json ...)"),
    ),
}


@pytest.mark.parametrize("case", RELEASE_FAULTS)
def test_release_artifact_checks_fail(checks, case):
    check_id, fault, expected = RELEASE_FAULTS[case]
    now = utc_now().replace(microsecond=0)
    with checks.fails_then_recovers(check_id, fault(now)) as r:
        assert re.fullmatch(expected(now), r.message), r.message


def test_perf_test_errors_on_a_file_that_is_not_a_k6_summary(checks):
    with broken(lambda: release.k6_summary().write_text("<html>not json</html>"), release.write_k6_summary):
        r = checks.one("predeploy.perf-test")
        assert r.outcome == "error" and "not a k6 summary export" in r.message
    checks.until("predeploy.perf-test", "passed")


def test_release_gates_check_the_release_named_on_the_command_line(checks):
    # The healthy files state the demo's release: a gate for another release rejects them all.
    r = checks.one("predeploy.tests-passed", args=("--release", "1.5.0"))
    assert (r.outcome, r.message) == (
        "failed",
        "3 JUnit file(s) not results of release 1.5.0 from the last 7 days: "
        f"e2e.xml (testsuite e2e states release {release.RELEASE}, expected 1.5.0), "
        f"integration.xml (testsuite integration states release {release.RELEASE}, expected 1.5.0), "
        f"unit.xml (testsuite unit states release {release.RELEASE}, expected 1.5.0)",
    )
    r = checks.one("predeploy.perf-test", args=("--release", "1.5.0"))
    assert (r.outcome, r.message) == (
        "failed",
        f"not the load test of release 1.5.0 from the last 7 days: {release.k6_summary()} "
        f"states release {release.RELEASE}, expected 1.5.0",
    )
    assert checks.one("predeploy.perf-test", args=("--release", release.RELEASE)).outcome == "passed"


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


def _profile_with(tmp_path: Path, name: str, **changes) -> Path:
    profile = yaml.safe_load(DEMO_PROFILE.read_text())
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        node = profile
        for p in parents:
            node = node[p]
        node[leaf] = value
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(profile, sort_keys=False, allow_unicode=True))
    return path


def test_rollout_complete_fails_while_the_new_revision_crashloops(checks):
    from testenv import faults

    with faults.template_fault("qsign", "hsm-adapter", "crashloop"):
        r = checks.until(
            "postdeploy.rollout-complete",
            "failed",
            message=lambda m: "deployment/qsign/hsm-adapter (" in m and "restarted" in m,
        )
        assert r.message.startswith("1 rollout(s) not complete: deployment/qsign/hsm-adapter (")
    checks.until("postdeploy.rollout-complete", "passed", timeout=120)


def test_api_smoke_fails_when_the_api_is_not_ready(checks):
    with checks.fails_then_recovers("postdeploy.api-smoke", app_misbehaving("hsm-adapter", hsm_connected=False)) as r:
        assert r.message == (
            "2 smoke request(s) failed: GET api-server /health/ready (HTTP 503, expected 200), "
            "GET signature-service /health/ready (HTTP 503, expected 200)"
        )


def test_api_smoke_fails_when_the_api_answers_errors(checks):
    """The readiness answers stay 200: only the smoke requests that call the API see it."""

    def repair() -> None:
        apps.set_control("api-server", error_rate=None)
        rotate_log("api-server")  # the 500s' ERROR lines leave the daily error-logs window

    with checks.fails_then_recovers(
        "postdeploy.api-smoke", broken(lambda: apps.set_control("api-server", error_rate=1.0), repair)
    ) as r:
        assert r.message == "1 smoke request(s) failed: GET api-server /api/v1/documents (HTTP 500, expected 200)"


def test_logs_recorded_fails_when_an_application_goes_silent(checks, tmp_path):
    profile = _profile_with(tmp_path, "quick-logs", logs__recent_minutes=0.25)
    with app_misbehaving("hsm-adapter", requests_per_second=0):
        # both replicas stop logging, but their last lines age past the window a moment
        # apart: wait for the run that names both (a run naming one failed once in .ci/run)
        r = checks.until(
            "postdeploy.logs-recorded", "failed", profile=profile, timeout=60, message=lambda m: m.startswith("2 pod")
        )
        assert re.fullmatch(
            r"2 pod\(s\) not logging: qsign/hsm-adapter-\S+ \(no log line in 0.25 min\), "
            r"qsign/hsm-adapter-\S+ \(no log line in 0.25 min\)",
            r.message,
        ), r.message
    checks.until("postdeploy.logs-recorded", "passed", profile=profile)


POD_SECURITY = "/spec/template/spec/securityContext"
CONTAINER_SECURITY = "/spec/template/spec/containers/0/securityContext"


def test_security_settings_fail_on_a_privileged_root_container(checks):
    escalated = {POD_SECURITY: {"runAsUser": 0}, CONTAINER_SECURITY: {"privileged": True}}
    healthy = {
        POD_SECURITY: {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
        CONTAINER_SECURITY: {
            "privileged": False,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    with fields_replaced("Deployment", "qsign", "hsm-adapter", escalated, healthy):
        r = checks.until("postdeploy.security-settings", "failed")
        assert re.search(
            r"qsign/hsm-adapter-\S+ \(hsm-adapter: runs as root \(runAsUser 0\); hsm-adapter: privileged; "
            r"hsm-adapter: root filesystem writable \(read-only required\)\)",
            r.message,
        ), r.message
    checks.until("postdeploy.security-settings", "passed", timeout=120)


def test_rollback_plan_fails_when_old_revisions_are_not_kept(checks):
    from testenv import cluster

    def keep_none():
        cluster.patch("Deployment", "qsign", "hsm-adapter", {"spec": {"revisionHistoryLimit": 0}})

    def keep_five_and_release_again():
        cluster.patch("Deployment", "qsign", "hsm-adapter", {"spec": {"revisionHistoryLimit": 5}})
        # The controller deleted the old ReplicaSets: only a new release leaves one behind.
        release.roll_out("Deployment", "hsm-adapter", release=f"1.4.2-r{int(utc_now().timestamp())}")

    with checks.fails_then_recovers(
        "predeploy.rollback-plan",
        broken(keep_none, keep_five_and_release_again),
        message=lambda m: "no previous revision" in m,
    ) as r:
        assert r.message == (
            "1 workload(s) without a rollback target: deployment/qsign/hsm-adapter "
            "(revisionHistoryLimit is 0; no previous revision to roll back to)"
        )
