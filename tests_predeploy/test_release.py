"""Predeploy gate: the release's tests, its load test, and the maintenance window (QSIGN 001)."""

from opscheck.check import check, component_absent
from opscheck.rules.maintenance import describe, window_contains
from opscheck.rules.release import load_test_rows
from opscheck.rules.workloads import not_ok, rollback_rows
from opscheck.timeutil import utc_now


@check("predeploy.tests-passed", severity="critical", covers=["001.predeploy.tests-passed"])
def test_tests_passed(profile, release, evidence):
    """The release's test results (unit, integration, E2E) exist and show no failure

    Do not deploy. Open the failed test cases named in the evidence, fix or revert the change,
    and rerun the pipeline's test stages so fresh JUnit files are published where the profile's
    release.test_results points.
    """
    pattern = profile.release.test_results
    if not pattern:
        component_absent(profile.required, "release-tests", "no release.test_results in this profile")
    files = release.junit_files(pattern)
    evidence.require(
        files, f"no JUnit test results match {pattern}: the release's tests did not run or were not published"
    )
    totals = release.read_junit(files)
    evidence.note(
        f"{totals.tests} test cases in {len(files)} file(s): {totals.failures} failed, "
        f"{totals.errors} errors, {totals.skipped} skipped"
    )
    if totals.tests < profile.release.min_tests:
        evidence.fail(
            f"only {totals.tests} test case(s) in {len(files)} JUnit file(s), "
            f"at least {profile.release.min_tests} required"
        )
    evidence.expect_none(totals.failed_cases, "test case(s) failed")


@check("predeploy.perf-test", severity="high", covers=["001.predeploy.perf-test"])
def test_perf_test(profile, release, evidence):
    """The release's load test meets its latency and error-rate thresholds

    Do not deploy. Compare the load test with the previous release's (k6 summary), profile the
    slow endpoints (SLA: P95 < 500 ms, signature P95 < 1 s, error rate < 0.1%), check
    database slow queries and connection pool settings, and rerun the load test.
    """
    path = profile.release.load_test_summary
    if not path:
        component_absent(profile.required, "load-test", "no release.load_test_summary in this profile")
    summary = release.k6_summary(path)
    rows, missing = load_test_rows(summary, profile.release.load_test)
    if missing:
        evidence.fail(f"{summary.path}: the load-test summary has no {missing}")
    evidence.note(f"{summary.requests} requests in the load test ({summary.path})")
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
