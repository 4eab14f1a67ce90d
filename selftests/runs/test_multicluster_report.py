"""A profile with several clusters: one run, one report, each check's outcome per cluster."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

from selftests.harness import REPO, CheckRunner, broken, validate_results
from testenv import multicluster

PROFILE = REPO / "environments" / "multicluster.yaml"


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> CheckRunner:
    # idempotent: seconds when the three clusters are up; waits for the metrics API (the
    # whole daily checklist runs: without it the resource-usage checks fail on a cold start)
    multicluster.up()
    return CheckRunner(tmp_path_factory.mktemp("multicluster-report"), profile=PROFILE)


def test_one_run_one_report_with_an_outcome_per_cluster(runner):
    with broken(
        lambda: multicluster.set_node_ready("app2", "app2-worker-1", False),
        lambda: multicluster.set_node_ready("app2", "app2-worker-1", True),
    ):
        deadline_runs = 0
        while True:
            proc, reports = runner.run_pytest("-m", "daily", "-n", "2")
            folders = [p for p in reports.iterdir() if p.is_dir() and not p.name.startswith(".")]
            assert len(folders) == 1, proc.stdout[-2000:]  # one run folder for the three clusters
            data = json.loads((folders[0] / "results.json").read_text())
            nodes = {c["cluster"]: c for c in data["checks"] if c["id"] == "daily.nodes-ready"}
            if nodes["app2"]["outcome"] == "failed" or deadline_runs > 15:
                break
            deadline_runs += 1
    validate_results(data)
    assert set(data["run"]["clusters"]) == {"mgmt", "app1", "app2"}
    assert all(v["server_version"].startswith("v1.33") for v in data["run"]["clusters"].values())
    by_check: dict[str, dict[str, str]] = defaultdict(dict)
    for c in data["checks"]:
        if c["cluster"] is not None:
            by_check[c["id"]][c["cluster"]] = c["outcome"]
    # Every Kubernetes check has one outcome per cluster, in the same run.
    assert by_check and all(set(v) == {"mgmt", "app1", "app2"} for v in by_check.values())
    assert by_check["daily.nodes-ready"] == {"mgmt": "passed", "app1": "passed", "app2": "failed"}
    assert "app2-worker-1" in nodes["app2"]["message"]
    summary = data["summary"]["by_cluster"]
    assert set(summary) == {"mgmt", "app1", "app2"} and summary["app2"].get("failed", 0) >= 1
    healthy_failed = {
        f"{c['id']}@{c['cluster']}": c["message"]
        for c in data["checks"]
        if c["cluster"] in ("mgmt", "app1") and c["outcome"] == "failed"
    }
    assert healthy_failed == {}, "\n".join(f"{k}: {v}" for k, v in sorted(healthy_failed.items()))
    page = (folders[0] / "report.html").read_text()
    assert "test_nodes_ready[app2]" in page and "test_nodes_ready[mgmt]" in page
    assert "cluster app2: " in page and "cluster mgmt: " in page
    assert proc.returncode == 1
