"""Fault injection on the multi-cluster system of runbook 004 (mgmt, app1, app2).

The checks run with environments/multicluster.yaml: one outcome per cluster. A fault in
one cluster must fail that cluster's outcome, naming what is wrong, and leave the other
clusters' outcomes passed. The three clusters are started on demand (not by a plain
`python -m testenv up`); the `multicluster_up` fixture starts them, or finds them up (2 s).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from selftests.harness import REPO, CheckRunner, broken
from testenv import multicluster

PROFILE = REPO / "environments" / "multicluster.yaml"


@pytest.fixture(scope="module")
def multicluster_up() -> Iterator[None]:
    """The three clusters, started if need be (cold ~55 s) and then stopped again: they
    run on demand, so the environment is left as it was found."""
    was_running = multicluster.status()["running"]
    # no wait for the metrics API: these tests read no resource usage
    multicluster.up(metrics=False)
    yield
    if not was_running:
        multicluster.down()


@pytest.fixture(scope="module")
def checks(multicluster_up: None, tmp_path_factory: pytest.TempPathFactory) -> CheckRunner:
    """The harness, running the checks against the three clusters."""
    return CheckRunner(tmp_path_factory.mktemp("multicluster-checkruns"), profile=PROFILE)


def outcomes(checks: CheckRunner, check_id: str) -> dict[str, str]:
    return {cluster: r.outcome for cluster, r in checks.per_cluster(check_id).items()}


def test_nodes_all_contexts_fails_on_the_cluster_with_a_not_ready_node(checks):
    with broken(
        lambda: multicluster.set_node_ready("app2", "app2-worker-1", False),
        lambda: multicluster.set_node_ready("app2", "app2-worker-1", True),
    ):
        r = checks.until("daily.nodes-ready", "failed", cluster="app2")
        assert re.match(r"1 nodes not Ready: app2-worker-1 \(NotReady \(KubeletNotReady\)", r.message), r.message
        assert outcomes(checks, "daily.nodes-ready") == {"mgmt": "passed", "app1": "passed", "app2": "failed"}
    assert outcomes(checks, "daily.nodes-ready") == {"mgmt": "passed", "app1": "passed", "app2": "passed"}


def test_nodes_all_contexts_fails_on_an_unreachable_cluster(checks):
    """The runbook's loop over the contexts: a cluster that does not answer fails its
    outcome (reachability is what this check watches), naming it; the others still pass."""
    with broken(lambda: multicluster.stop_apiserver("app1"), lambda: multicluster.start_apiserver("app1")):
        r = checks.until("daily.nodes-ready", "failed", cluster="app1")
        assert r.message == "cluster app1 (https://127.0.0.1:16445) unreachable: connection refused", r.message
        assert outcomes(checks, "daily.nodes-ready") == {"mgmt": "passed", "app1": "failed", "app2": "passed"}
        # checks that only read through the cluster cannot evaluate: errors, not failures
        r = checks.one("daily.pods-running", cluster="app1")
        assert (r.outcome, r.message) == (
            "error",
            "could not evaluate: cluster app1 (https://127.0.0.1:16445) unreachable: connection refused",
        )
    assert outcomes(checks, "daily.nodes-ready") == {"mgmt": "passed", "app1": "passed", "app2": "passed"}


def test_replicas_fail_only_in_the_cluster_that_is_short(checks):
    with broken(
        lambda: multicluster.scale("app1", "Deployment", "app", "web", 1),
        lambda: multicluster.scale("app1", "Deployment", "app", "web", 2),
    ):
        r = checks.until("daily.replicas", "failed", cluster="app1")
        assert r.message == "1 workloads short of replicas: deployment/app/web (1 desired, minimum is 2)", r.message
        assert outcomes(checks, "daily.replicas") == {"mgmt": "passed", "app1": "failed", "app2": "passed"}
    assert outcomes(checks, "daily.replicas") == {"mgmt": "passed", "app1": "passed", "app2": "passed"}


def test_a_namespace_lost_in_one_cluster_fails_that_cluster(checks):
    """Each cluster is checked for its own namespaces (clusters[].namespaces): velero lost in
    app2 alone fails app2, though mgmt still has a velero namespace."""
    with broken(
        lambda: multicluster.delete_namespace("app2", "velero"),
        lambda: multicluster.up(("app2",), metrics=False),
    ):
        r = checks.until("daily.pods-running", "failed", cluster="app2")
        assert r.message == "1 namespaces missing in cluster app2: velero", r.message
        assert outcomes(checks, "daily.pods-running") == {"mgmt": "passed", "app1": "passed", "app2": "failed"}
    assert outcomes(checks, "daily.pods-running") == {"mgmt": "passed", "app1": "passed", "app2": "passed"}
