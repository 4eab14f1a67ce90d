"""Daily: what `kubectl top` shows, per cluster (SmartSensor 002 리소스 사용량 확인,
multi-cluster 004 리소스 사용량 확인)."""

from opscheck.check import check
from opscheck.rules.resources import top_usage_findings, unbound_claims
from opscheck.rules.workloads import node_problems


@check("daily.top-usage", severity="medium", covers=["002.daily.top-usage", "004.daily.resource-usage"])
def test_top_usage(cluster, profile, evidence):
    """kubectl top nodes / top pods: usage reported for every node, the heaviest pods within their memory limits

    kubectl top nodes; kubectl top pods -A --sort-by=memory | head -10; kubectl get pvc -A
    A node without usage: metrics-server cannot scrape its kubelet (kubectl -n kube-system logs deploy/metrics-server).
    A pod near its memory limit (high_memory_usage): find it with kubectl top pods -A --sort-by=memory,
    scale out (kubectl patch hpa api-server-hpa -p '{"spec":{"minReplicas":5}}') or raise the limit
    (kubectl set resources deployment -n <namespace> <name> --limits=memory=1Gi), then look for a leak.
    """
    nodes = cluster.list("nodes")
    evidence.examined(nodes, f"{len(nodes)} nodes")
    limit = profile.thresholds.memory_percent
    table, top, offenders, reporting = top_usage_findings(
        nodes,
        cluster.list("node-metrics"),
        cluster.list("pod-metrics"),
        cluster.list("pods"),
        profile.thresholds.top_pods,
        limit,
        {r["object"] for r in node_problems(nodes)},
    )
    evidence.table(table)
    pvcs = cluster.list("persistentvolumeclaims")
    evidence.note(
        f"{len(reporting)} of {len(nodes)} nodes report usage; top {len(top)} pods by memory; "
        f"{len(pvcs) - len(unbound_claims(pvcs))} of {len(pvcs)} PVCs Bound; "
        f"a pod over {limit:g}% of its memory limit fails"
    )
    evidence.require(top, "the metrics API reports no pod usage: nothing to rank")
    evidence.expect_none(offenders, "nodes without usage or heavy pods near their memory limit", table=False)
