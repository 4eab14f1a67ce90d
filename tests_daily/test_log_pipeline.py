"""Daily: logs reach the log store (Titanium 003 Loki 로그 수집 안 될 때: Promtail DaemonSet, Loki)."""

from opscheck.check import check
from opscheck.rules.health import loki_ready
from opscheck.rules.objects import find
from opscheck.rules.workloads import daemonset_findings, node_problems


@check("daily.log-pipeline", severity="high", covers=["003.monitoring.log-pipeline"])
def test_log_pipeline(cluster, log_pipeline, http, evidence):
    """The log shipper DaemonSet runs a ready pod on every node, and the log store is ready

    kubectl get ds,pods -n monitoring -l app.kubernetes.io/name=promtail -o wide
    kubectl logs -n monitoring -l app.kubernetes.io/name=promtail
    kubectl logs -n monitoring -l app.kubernetes.io/name=loki
    A node without a ready shipper loses its logs: describe that pod (resources, a node taint it
    does not tolerate, a crash); Loki not ready: its ring/ingester (GET /ready), storage, limits.
    """
    ns, name = log_pipeline.namespace, log_pipeline.daemonset
    ds = find(cluster.list("daemonsets"), ns, name)
    evidence.require(ds, f"DaemonSet {ns}/{name} not found")
    counts, offenders, ready_nodes = daemonset_findings(ds, cluster.in_namespaces("pods", [ns]))
    evidence.table([counts])
    down_nodes = {r["object"] for r in node_problems(cluster.list("nodes"))}
    evidence.note(
        f"nodes with a ready {name} pod: {', '.join(sorted(n for n in ready_nodes if n)) or 'none'}"
        + (f"; nodes not Ready (not judged): {', '.join(sorted(down_nodes))}" if down_nodes else "")
    )
    if log_pipeline.loki_url is None:
        evidence.note("log_pipeline.loki_url not set: Loki's readiness was not checked")
    else:
        url = log_pipeline.loki_url.rstrip("/") + "/ready"
        answer = http.probe(url, log_pipeline.timeout_seconds)
        ok, detail = loki_ready(answer.status, answer.text, answer.error)
        evidence.table([{"object": url, "detail": detail}])
        if not ok:
            offenders.append({"object": url, "detail": f"Loki not ready: {detail}"})
    evidence.expect_none(offenders, "log pipeline problems", table=False)
