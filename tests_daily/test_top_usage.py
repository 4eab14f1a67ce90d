"""Daily: what `kubectl top` shows, per cluster (SmartSensor 002 리소스 사용량 확인,
multi-cluster 004 리소스 사용량 확인)."""
from opscheck.check import check
from opscheck.rules.resources import node_usage_percent, top_pods
from opscheck.rules.workloads import node_problems


@check(
    id="daily.top-usage",
    title="kubectl top nodes / top pods: usage reported for every node, the heaviest pods within their memory limits",
    severity="medium",
    covers=["002.daily.top-usage", "004.daily.resource-usage"],
    remediation="""\
kubectl top nodes; kubectl top pods -A --sort-by=memory | head -10; kubectl get pvc -A
A node without usage: metrics-server cannot scrape its kubelet (kubectl -n kube-system logs deploy/metrics-server).
A pod near its memory limit (high_memory_usage): find it with kubectl top pods -A --sort-by=memory,
scale out (kubectl patch hpa api-server-hpa -p '{"spec":{"minReplicas":5}}') or raise the limit
(kubectl set resources deployment -n <namespace> <name> --limits=memory=1Gi), then look for a leak.""",
)
def test_top_usage(cluster, profile, evidence):
    nodes = cluster.list("nodes")
    node_rows = node_usage_percent(cluster.list("node-metrics"), nodes, "cpu")
    memory = {r["object"]: r for r in node_usage_percent(cluster.list("node-metrics"), nodes, "memory")}
    reported = {r["object"] for r in node_rows}
    unhealthy = {r["object"] for r in node_problems(nodes)}
    offenders = [{"object": f"node/{n['metadata']['name']}", "detail": "no usage reported (metrics-server has none)"}
                 for n in nodes if n["metadata"]["name"] not in reported | unhealthy]
    # one table, as the two commands print it: nodes against allocatable, pods against limits
    evidence.table({"object": f"node/{r['object']}", "cpu": r["used"], "memory": memory.get(r["object"], {}).get("used", ""),
                    "cpu %": r["percent"], "memory %": memory.get(r["object"], {}).get("percent", ""),
                    "of": f"allocatable {r['allocatable']} / {memory.get(r['object'], {}).get('allocatable', '')}"}
                   for r in node_rows)
    top = top_pods(cluster.list("pod-metrics"), cluster.list("pods"), profile.thresholds.top_pods)
    evidence.table({"object": r["object"], "cpu": r["cpu"], "memory": r["memory"], "cpu %": r["cpu_percent"],
                    "memory %": r["memory_percent"], "of": f"limit {r['cpu_limit']} / {r['memory_limit']}"}
                   for r in top)
    limit = profile.thresholds.memory_percent
    offenders += [{"object": r["object"], "detail": f"memory {r['memory']} is {r['memory_percent']:g}% of its "
                                                    f"{r['memory_limit']} limit"}
                  for r in top if r["memory_percent"] is not None and r["memory_percent"] > limit]
    pvcs = cluster.list("persistentvolumeclaims")
    bound = sum(1 for p in pvcs if (p.get("status") or {}).get("phase") == "Bound")
    evidence.note(f"{len(node_rows)} of {len(nodes)} nodes report usage; top {len(top)} pods by memory; "
                  f"{bound} of {len(pvcs)} PVCs Bound; a pod over {limit:g}% of its memory limit fails")
    evidence.expect_none(offenders, "nodes without usage or heavy pods near their memory limit", table=False)
