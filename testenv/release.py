"""The demo release: its artifacts, as a CI pipeline publishes them for the deployment
gate, and a second rollout of every QSIGN workload so each has a revision to roll back to.

JUnit XML files of the unit, integration and E2E stages, and a k6 load-test summary
(`k6 run --summary-export` plus what the script's handleSummary adds: `release`,
`finished_at`), under <state>/release/, each stating the release RELEASE (the demo
profile's release.id) and when it ran. `up()` writes a passing release when none is there
or it is a day old; the self-tests write failing or stale ones with the functions below
and restore.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import quoteattr

from testenv.paths import state_dir, under

if TYPE_CHECKING:
    from testenv.kubeapi import KubeApi

STAGES = {
    "unit": ["test_sign_request_validation", "test_certificate_chain", "test_token_parser"],
    "integration": ["test_api_to_signature_service", "test_vault_secret_read", "test_postgres_migration"],
    "e2e": ["test_sign_document_end_to_end", "test_verify_signature_end_to_end"],
}


release_dir = under(state_dir, "release")
junit_dir = under(release_dir, "junit")
k6_summary = under(release_dir, "k6-summary.json")
# What a CI job refreshes before the checklist runs: `gh run list --json workflowName,
# headBranch,status,conclusion,createdAt,url` of the pipeline (runbook 003: Trivy scan, image
# build, push), one run a day.
ci_runs_file = under(release_dir, "ci-runs.json")
CI_WORKFLOW = "build-scan-push"


def write_junit(
    stage: str,
    failing: tuple[str, ...] = (),
    *,
    release: str | None = None,
    ran_at: dt.datetime | None = None,
    directory: Path | None = None,
) -> Path:
    """A JUnit file for `stage`, with the named test cases failing, stating the release it
    tested (default: RELEASE) and when it ran (default: now), in `directory` (default:
    junit_dir())."""
    ran_at = ran_at or _now()
    cases = []
    for name in STAGES[stage]:
        body = '<failure message="AssertionError">assert 500 == 200</failure>' if name in failing else ""
        cases.append(
            f'<testcase classname={quoteattr("qsign." + stage)} name={quoteattr(name)} time="0.12">{body}</testcase>'
        )
    xml = (
        f'<?xml version="1.0" encoding="utf-8"?>\n<testsuites><testsuite name={quoteattr(stage)} '
        f'tests="{len(cases)}" failures="{len(failing)}" errors="0" skipped="0" '
        f'timestamp="{ran_at:%Y-%m-%dT%H:%M:%S}" hostname="ci-runner">'
        f'<properties><property name="release" value={quoteattr(release or RELEASE)}/></properties>'
        f"{''.join(cases)}</testsuite></testsuites>\n"
    )
    path = (directory or junit_dir()) / f"{stage}.xml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(xml)
    return path


def write_k6_summary(
    p95_ms: float = 182.4,
    p99_ms: float = 341.0,
    error_rate: float = 0.0004,
    *,
    release: str | None = None,
    finished_at: dt.datetime | None = None,
    path: Path | None = None,
) -> Path:
    """A k6 summary with the given figures, with what the load test's handleSummary adds:
    the release (default: RELEASE) and when it finished (default: now)."""
    finished_at = finished_at or _now()
    data: dict[str, Any] = {
        "release": release or RELEASE,
        "finished_at": finished_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "state": {"isStdOutTTY": False, "isStdErrTTY": False, "testRunDurationMs": 300000.0},
        "metrics": {
            "http_reqs": {"count": 120000, "rate": 400.0},
            "http_req_duration": {
                "avg": 96.1,
                "min": 3.2,
                "med": 80.5,
                "max": 1203.9,
                "p(90)": 150.2,
                "p(95)": p95_ms,
                "p(99)": p99_ms,
            },
            "http_req_failed": {
                "passes": int(120000 * error_rate),
                "fails": 120000 - int(120000 * error_rate),
                "value": error_rate,
            },
        },
        "root_group": {"name": "", "path": "", "checks": {}},
    }
    path = path or k6_summary()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
    return path


def write_ci_runs(latest: str = "success", *, latest_at: dt.datetime | None = None, days: int = 3) -> Path:
    """The pipeline's runs on main, one a day for `days` days, all successful but the latest,
    which ended with `latest` (e.g. "failure") and started at `latest_at` (default: an hour ago)."""
    latest_at = latest_at or _now() - dt.timedelta(hours=1)
    runs = [
        {
            "workflowName": CI_WORKFLOW,
            "headBranch": "main",
            "status": "completed",
            "conclusion": latest if n == 0 else "success",
            "createdAt": (latest_at - dt.timedelta(days=n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "url": f"https://github.com/example/qsign/actions/runs/{9000 - n}",
        }
        for n in range(days)
    ]
    path = ci_runs_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(runs, indent=2))
    return path


def write_passing_release() -> None:
    for stage in STAGES:
        write_junit(stage)
    write_k6_summary()
    write_ci_runs()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def release_current(max_age: dt.timedelta = dt.timedelta(days=1)) -> bool:
    """The published files state RELEASE and ran within `max_age` (the profile allows 7 days:
    a day old at most leaves an environment that stays up for days passing)."""
    import xml.etree.ElementTree as ET

    try:
        stamps = []
        for stage in STAGES:
            suite = ET.parse(junit_dir() / f"{stage}.xml").getroot().find("testsuite")
            prop = suite.find("properties/property[@name='release']")
            stamps.append((prop.get("value"), dt.datetime.fromisoformat(suite.get("timestamp") + "+00:00")))
        doc = json.loads(k6_summary().read_text())
        stamps.append((doc["release"], dt.datetime.fromisoformat(doc["finished_at"])))
        latest = json.loads(ci_runs_file().read_text())[0]
        if latest["conclusion"] != "success":
            return False
        stamps.append((RELEASE, dt.datetime.fromisoformat(latest["createdAt"])))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, SyntaxError):
        return False  # missing, unreadable or of the old format: not current
    return all(release == RELEASE and _now() - ran_at < max_age for release, ran_at in stamps)


RELEASE_ANNOTATION = "qsign.io/release"
RELEASE = "1.4.2-r2"


WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")


def _owned_revisions(api: KubeApi, kind: str, obj: dict) -> int:
    """How many revisions the workload keeps: its ReplicaSets (a Deployment) or
    ControllerRevisions (a StatefulSet or DaemonSet), as `kubectl rollout history` lists."""
    child = "ReplicaSet" if kind == "Deployment" else "ControllerRevision"
    uid = obj["metadata"]["uid"]
    return sum(
        1
        for c in api.list_(child, obj["metadata"]["namespace"])
        if any(o.get("uid") == uid for o in c["metadata"].get("ownerReferences") or [])
    )


def roll_out(
    kind: str,
    name: str,
    release: str = RELEASE,
    timeout: float = 120,
    *,
    api: KubeApi | None = None,
    namespace: str | None = None,
) -> None:
    """A new revision of a workload (a template annotation naming the release), waited
    until rolled out; by default a QSIGN workload of the demo cluster."""
    from testenv import cluster, readiness
    from testenv.procs import wait_for

    api = api or cluster.DEMO.api
    namespace = namespace or cluster.NAMESPACE
    api.patch(
        kind, namespace, name, {"spec": {"template": {"metadata": {"annotations": {RELEASE_ANNOTATION: release}}}}}
    )
    done = {
        "Deployment": readiness.deployment_done,
        "StatefulSet": readiness.statefulset_done,
        "DaemonSet": readiness.daemonset_done,
    }[kind]
    wait_for(lambda: done(api.get(kind, namespace, name)), timeout, f"{kind} {namespace}/{name} rolled out")


def ensure_previous_revisions(api: KubeApi | None = None, namespaces: Iterable[str] | None = None) -> None:
    """Every workload in `namespaces` (default: QSIGN's in the demo cluster) has been
    released twice, so there is a revision to roll back to (the predeploy rollback-plan
    check reads it): one with a single revision is rolled out once more. Idempotent."""
    import time

    from testenv import cluster

    api = api or cluster.DEMO.api
    rolled = set()
    for namespace in namespaces or (cluster.NAMESPACE,):
        for kind in WORKLOAD_KINDS:
            for obj in api.list_(kind, namespace):
                if _owned_revisions(api, kind, obj) < 2:
                    roll_out(kind, obj["metadata"]["name"], api=api, namespace=namespace)
                    rolled.add(namespace)
    if rolled:
        # kwok removes a replaced StatefulSet pod before the controller's own delete, which
        # leaves a FailedDelete Warning: a simulator artifact of this setup, not a fault.
        time.sleep(3)
        for namespace in rolled:
            api.clear_events(namespace, "Warning")


def up() -> dict[str, Any]:
    if not release_current():
        write_passing_release()
    ensure_previous_revisions()
    return status()


def down() -> None:
    """Files only: nothing runs."""


def status() -> dict[str, Any]:
    return {
        "running": k6_summary().exists(),
        "junit": sorted(p.name for p in junit_dir().glob("*.xml")),
        "k6_summary": str(k6_summary()),
        "ci_runs": str(ci_runs_file()),
    }
