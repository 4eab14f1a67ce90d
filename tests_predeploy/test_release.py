"""Predeploy gate: the release's tests, its load test, and the maintenance window (QSIGN 001)."""

from datetime import timedelta

from opscheck.check import check, component_absent
from opscheck.rules.maintenance import describe, window_contains
from opscheck.rules.release import (
    NO_RELEASE_ID,
    junit_provenance,
    load_test_provenance,
    load_test_rows,
    load_test_window,
)
from opscheck.rules.workloads import not_ok, rollback_rows
from opscheck.timeutil import utc_now


@check("predeploy.tests-passed", severity="critical", covers=["001.predeploy.tests-passed"])
def test_tests_passed(profile, release, evidence):
    """The release's own test results (unit, integration, E2E) exist, are recent and show no failure

    Do not deploy. Open the failed test cases named in the evidence, fix or revert the change,
    and rerun the pipeline's test stages so fresh JUnit files are published where the profile's
    release.test_results points. Each testsuite states the release it tested
    (<properties><property name="release" value="<release id>"/></properties>) and when it ran
    (its timestamp attribute): files of another release, or older than release.max_age_days,
    are not this release's results.
    """
    pattern = profile.release.test_results
    if not pattern:
        component_absent(profile.required, "release-tests", "no release.test_results in this profile")
    files = release.junit_files(pattern)
    evidence.require(
        files, f"no JUnit test results match {pattern}: the release's tests did not run or were not published"
    )
    expected = profile.release.release_id()
    if expected is None:
        evidence.fail(NO_RELEASE_ID)
    totals = release.read_junit(files)
    evidence.note(
        f"{totals.tests} test cases in {len(files)} file(s): {totals.failures} failed, "
        f"{totals.errors} errors, {totals.skipped} skipped"
    )
    window = profile.release.max_age_days
    evidence.note(f"release {expected}: every testsuite states it and ran within {window:g} days")
    evidence.expect_none(
        junit_provenance(totals.suites, expected, utc_now(), timedelta(days=window)),
        f"JUnit file(s) not results of release {expected} from the last {window:g} days",
    )
    if totals.tests < profile.release.min_tests:
        evidence.fail(
            f"only {totals.tests} test case(s) in {len(files)} JUnit file(s), "
            f"at least {profile.release.min_tests} required"
        )
    evidence.expect_none(totals.failed_cases, "test case(s) failed")


@check("predeploy.perf-test", severity="high", covers=["001.predeploy.perf-test"])
def test_perf_test(profile, release, evidence):
    """The release's own load test is recent and meets its latency and error-rate thresholds

    Do not deploy. Compare the load test with the previous release's (k6 summary), profile the
    slow endpoints (SLA: P95 < 500 ms, signature P95 < 1 s, error rate < 0.1%), check
    database slow queries and connection pool settings, and rerun the load test. Its summary
    states the release and when it finished (top-level `release` and `finished_at`, added by
    the script's handleSummary): a summary of another release, or older than
    release.max_age_days, is not this release's load test.
    """
    path = profile.release.load_test_summary
    if not path:
        component_absent(profile.required, "load-test", "no release.load_test_summary in this profile")
    expected = profile.release.release_id()
    if expected is None:
        evidence.fail(NO_RELEASE_ID)
    summary = evidence.require(
        release.k6_summary(path),
        f"no load-test summary at {release.k6_summary_path(path)} (missing or empty): "
        "the release's load test did not run or was not published",
    )
    evidence.note(f"release {summary.release or '(none stated)'}, run {load_test_window(summary)} ({summary.path})")
    stale = load_test_provenance(summary, expected, utc_now(), timedelta(days=profile.release.max_age_days))
    if stale:
        evidence.fail(
            f"not the load test of release {expected} from the last {profile.release.max_age_days:g} days: {stale}"
        )
    if not summary.requests:
        evidence.fail(f"{summary.path}: the load test made no request (http_reqs count {summary.requests})")
    rows, missing = load_test_rows(summary, profile.release.load_test)
    if missing:
        evidence.fail(f"{summary.path}: the load-test summary has no {missing}")
    evidence.note(f"{summary.requests} requests in the load test")
    evidence.table(rows)
    evidence.expect_none(not_ok(rows), "load-test threshold(s) missed", table=False)


@check("predeploy.maintenance-window", severity="high", covers=["001.predeploy.maintenance-window"])
def test_maintenance_window(profile, evidence):
    """A planned change starts inside the maintenance window

    Wait for the maintenance window (QSIGN: Sunday 02:00-06:00 KST) or, for an emergency
    change, follow the emergency approval path (on-call engineer and tech lead) and record a
    waiver for this check with the ticket.
    """
    windows = profile.maintenance_windows
    if not windows:
        component_absent(profile.required, "maintenance-window", "no maintenance_windows in this profile")
    now = utc_now()
    described = [describe(w.days, w.start, w.end, w.timezone) for w in windows]
    evidence.record(measured=f"{now:%a %Y-%m-%d %H:%M} UTC", threshold="; ".join(described))
    if not any(window_contains(w.days, w.start, w.end, w.timezone, now) for w in windows):
        evidence.fail(f"now ({now:%a %Y-%m-%d %H:%M} UTC) is outside the maintenance window ({'; '.join(described)})")


@check("predeploy.rollback-plan", severity="high", covers=["001.predeploy.rollback-plan"])
def test_rollback_plan(cluster, profile, evidence):
    """Every workload keeps a previous revision to roll back to

    Keep revisionHistoryLimit above 0 (QSIGN: 5) so `kubectl rollout undo` has a target:
    kubectl rollout history deployment/<name> -n <namespace>
    A workload deployed once has nothing to roll back to: keep the previous release's manifest
    (or Helm revision: helm history <release>) at hand as the rollback plan.
    """
    rows = rollback_rows(
        cluster.workloads(profile.namespaces, ("Deployment", "StatefulSet", "DaemonSet")),
        cluster.in_namespaces("replicasets", profile.namespaces),
        cluster.in_namespaces("controllerrevisions", profile.namespaces),
    )
    evidence.examined(rows, f"{len(rows)} workloads in {', '.join(profile.namespaces)}")
    evidence.table(rows)
    evidence.expect_none(not_ok(rows), "workload(s) without a rollback target", table=False)
