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


CADENCES = ("daily", "weekly", "monthly", "quarterly", "predeploy", "postdeploy")
# Runbook-004 results "not applicable" on one cluster because the component runs in another:
# the seed's platform services (cert-manager, Vault, External Secrets) run in mgmt
# (environments/multicluster.yaml, testenv/manifests/multicluster-mgmt.yaml), and the item
# itself is scoped to where the component runs. Each item still runs (and passes) in mgmt.
ELSEWHERE = {
    # 004 §1.3 "cert-manager 인증서 상태: kubectl get certificates -A" (cert-manager in mgmt)
    "004.daily.cert-expiry": {"app1", "app2"},
    # 004 §5.5 "kubectl exec -it vault-0 -n vault -- vault status": item "Vault unsealed in each
    # cluster that runs it"
    "004.troubleshoot.vault": {"app1", "app2"},
    # 004 §5.5 "External Secrets 동기화 상태: kubectl get externalsecrets -A" (the operator in mgmt)
    "004.troubleshoot.externalsecrets": {"app1", "app2"},
}
# Items of runbook 004 not applicable in this profile at all, with the runbook line saying the
# component is absent: none.
ABSENT: dict[str, str] = {}
# Checks of the other runbooks (000-003) that still fail on the multi-cluster manifests: none.
# The workloads run non-root (postdeploy.security-settings), keep a previous revision
# (predeploy.rollback-plan) and have two replicas on two nodes with a PDB, and each cluster
# three control-plane nodes (quarterly.spof).
OTHER_RUNBOOKS_OPEN: dict[str, str] = {}


def test_every_cadence_runs_every_runbook_004_item(runner):
    """Every checklist of environments/multicluster.yaml on the healthy system: every
    runbook-004 item runs (passes on at least one cluster, not applicable elsewhere only
    where ELSEWHERE says), none fails, and nothing else fails but OTHER_RUNBOOKS_OPEN."""
    import time

    from opscheck.runbook import known_items

    items = {k for k, i in known_items().items() if k.startswith("004.") and i.kind == "auto"}
    outcomes: dict[str, dict[str, str]] = defaultdict(dict)  # item -> cluster -> outcome
    failing: dict[str, str] = {}
    timings = {}
    for cadence in CADENCES:
        start = time.monotonic()
        proc, reports = runner.run_pytest("-m", cadence, "-n", "2")
        timings[cadence] = round(time.monotonic() - start, 1)
        (folder,) = [p for p in reports.iterdir() if p.is_dir() and not p.name.startswith(".")]
        data = json.loads((folder / "results.json").read_text())
        validate_results(data)
        for c in data["checks"]:
            if c["outcome"] in ("failed", "error"):
                failing[f"{c['id']}@{c['cluster']}"] = c["message"][:300]
            for ref in c["runbook"]:
                if ref["key"] in items:
                    seen = outcomes[ref["key"]].get(c["cluster"] or "-")
                    if seen != "passed":  # an item passed by any of its checks on that cluster
                        outcomes[ref["key"]][c["cluster"] or "-"] = c["outcome"]
    print(f"multicluster checklists: {timings} ({sum(timings.values()):.0f} s)")
    assert set(outcomes) == items, items - set(outcomes)
    bad = {
        f"{item}@{where}": outcome
        for item, per in outcomes.items()
        for where, outcome in per.items()
        if outcome != "passed"
        and not (outcome == "not applicable" and (where in ELSEWHERE.get(item, ()) or item in ABSENT))
    }
    assert bad == {}
    assert all("passed" in per.values() for per in outcomes.values()), outcomes
    unexpected = {k: v for k, v in failing.items() if k.split("@")[0] not in OTHER_RUNBOOKS_OPEN}
    assert unexpected == {}, "\n".join(f"{k}: {v}" for k, v in sorted(unexpected.items()))
