"""Fault injection on the deployment gates: the release's artifacts, the maintenance
window, and the rollout itself. Each test breaks the real input, sees the check fail
naming the fault, repairs it, and sees the check pass again."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from opscheck.rules.maintenance import DAYS
from opscheck.timeutil import utc_now
from selftests.harness import DEMO_PROFILE, broken
from testenv import release

pytestmark = pytest.mark.usefixtures("testenv_up")


def test_tests_passed_fails_on_a_failed_e2e_test_and_on_missing_results(checks):
    with checks.fails_then_recovers(
        "predeploy.tests-passed",
        broken(
            lambda: release.write_junit("e2e", failing=("test_sign_document_end_to_end",)),
            lambda: release.write_junit("e2e"),
        ),
    ) as r:
        assert r.message == "1 test case(s) failed: qsign.e2e.test_sign_document_end_to_end (failure)"
    saved = release.junit_dir().with_name("junit.saved")
    with checks.fails_then_recovers(
        "predeploy.tests-passed",
        broken(lambda: release.junit_dir().rename(saved), lambda: saved.rename(release.junit_dir())),
    ) as r:
        assert r.message.startswith("no JUnit test results match ") and "release/junit/*.xml" in r.message


def test_perf_test_fails_when_the_load_test_is_too_slow(checks):
    with checks.fails_then_recovers(
        "predeploy.perf-test",
        broken(lambda: release.write_k6_summary(p95_ms=812.5, error_rate=0.004), release.write_k6_summary),
    ) as r:
        assert (
            r.message
            == "2 load-test threshold(s) missed: P95 latency (812.5ms over 500ms), error rate (0.004 over 0.001)"
        )


def test_perf_test_errors_on_a_file_that_is_not_a_k6_summary(checks):
    with broken(lambda: release.k6_summary().write_text("<html>not json</html>"), release.write_k6_summary):
        r = checks.one("predeploy.perf-test")
        assert r.outcome == "error" and "not a k6 summary export" in r.message
    checks.until("predeploy.perf-test", "passed")


def test_tests_passed_fails_on_last_releases_results_and_on_results_past_the_window(checks):
    previous = release.RELEASE.replace("-r2", "-r1")
    with checks.fails_then_recovers(
        "predeploy.tests-passed",
        broken(lambda: release.write_junit("e2e", release=previous), lambda: release.write_junit("e2e")),
    ) as r:
        assert r.message == (
            f"1 JUnit file(s) not results of release {release.RELEASE} from the last 7 days: "
            f"e2e.xml (testsuite e2e states release {previous}, expected {release.RELEASE})"
        )
    ran_at = (utc_now() - timedelta(days=10)).replace(microsecond=0)
    with checks.fails_then_recovers(
        "predeploy.tests-passed",
        broken(lambda: release.write_junit("unit", ran_at=ran_at), lambda: release.write_junit("unit")),
    ) as r:
        assert r.message == (
            f"1 JUnit file(s) not results of release {release.RELEASE} from the last 7 days: unit.xml "
            f"(testsuite unit ran 10.0 days ago ({ran_at:%Y-%m-%d %H:%M}Z), older than the 7-day release window)"
        )


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


def test_perf_test_fails_on_a_load_test_past_the_window_and_without_a_release(checks):
    finished = (utc_now() - timedelta(days=9)).replace(microsecond=0)
    with checks.fails_then_recovers(
        "predeploy.perf-test",
        broken(lambda: release.write_k6_summary(finished_at=finished), release.write_k6_summary),
    ) as r:
        assert r.message == (
            f"not the load test of release {release.RELEASE} from the last 7 days: {release.k6_summary()} "
            f"ran 9.0 days ago ({finished:%Y-%m-%d %H:%M}Z), older than the 7-day release window"
        )

    def k6_export_only():  # `k6 run --summary-export` without the script's handleSummary fields
        doc = json.loads(release.k6_summary().read_text())
        for key in ("release", "finished_at", "state"):
            del doc[key]
        release.k6_summary().write_text(json.dumps(doc))

    with checks.fails_then_recovers("predeploy.perf-test", broken(k6_export_only, release.write_k6_summary)) as r:
        assert r.message == (
            f"not the load test of release {release.RELEASE} from the last 7 days: {release.k6_summary()} "
            f"states no release (release), expected {release.RELEASE}"
        )


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
    from testenv import apps

    with checks.fails_then_recovers(
        "postdeploy.api-smoke",
        broken(
            lambda: apps.set_control("hsm-adapter", hsm_connected=False),
            lambda: apps.set_control("hsm-adapter", hsm_connected=None),
        ),
    ) as r:
        assert r.message == (
            "2 smoke request(s) failed: GET api-server /health/ready (HTTP 503, expected 200), "
            "GET signature-service /health/ready (HTTP 503, expected 200)"
        )


def test_logs_recorded_fails_when_an_application_goes_silent(checks, tmp_path):
    from testenv import apps

    profile = _profile_with(tmp_path, "quick-logs", logs__recent_minutes=0.25)
    with broken(
        lambda: apps.set_control("hsm-adapter", requests_per_second=0),
        lambda: apps.set_control("hsm-adapter", requests_per_second=None),
    ):
        r = checks.until("postdeploy.logs-recorded", "failed", profile=profile, timeout=60)
        assert re.fullmatch(
            r"2 pod\(s\) not logging: qsign/hsm-adapter-\S+ \(no log line in 0.25 min\), "
            r"qsign/hsm-adapter-\S+ \(no log line in 0.25 min\)",
            r.message,
        ), r.message
    checks.until("postdeploy.logs-recorded", "passed", profile=profile)


def test_security_settings_fail_on_a_privileged_root_container(checks):
    from testenv import cluster

    def escalate():
        cluster.patch(
            "Deployment",
            "qsign",
            "hsm-adapter",
            [
                {"op": "replace", "path": "/spec/template/spec/securityContext", "value": {"runAsUser": 0}},
                {
                    "op": "replace",
                    "path": "/spec/template/spec/containers/0/securityContext",
                    "value": {"privileged": True},
                },
            ],
            kind_of_patch="json",
        )

    def restore():
        cluster.patch(
            "Deployment",
            "qsign",
            "hsm-adapter",
            [
                {
                    "op": "replace",
                    "path": "/spec/template/spec/securityContext",
                    "value": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
                },
                {
                    "op": "replace",
                    "path": "/spec/template/spec/containers/0/securityContext",
                    "value": {
                        "privileged": False,
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                },
            ],
            kind_of_patch="json",
        )

    with broken(escalate, restore):
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
