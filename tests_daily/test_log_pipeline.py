"""Daily: logs reach the log store (Titanium 003 Loki 로그 수집 안 될 때: Promtail DaemonSet, Loki)."""
import requests

from opscheck.check import check
from opscheck.rules.workloads import node_problems, pod_problem


@check(
    id="daily.log-pipeline",
    title="The log shipper DaemonSet runs a ready pod on every node, and the log store is ready",
    severity="high",
    covers=["003.monitoring.log-pipeline"],
    remediation="""\
kubectl get ds,pods -n monitoring -l app.kubernetes.io/name=promtail -o wide
kubectl logs -n monitoring -l app.kubernetes.io/name=promtail
kubectl logs -n monitoring -l app.kubernetes.io/name=loki
A node without a ready shipper loses its logs: describe that pod (resources, a node taint it
does not tolerate, a crash); Loki not ready: its ring/ingester (GET /ready), storage, limits.""",
)
def test_log_pipeline(cluster, log_pipeline, http, evidence):
    ns, name = log_pipeline.namespace, log_pipeline.daemonset
    ds = next((d for d in cluster.in_namespaces("daemonsets", [ns]) if d["metadata"]["name"] == name), None)
    if ds is None:
        evidence.fail(f"DaemonSet {ns}/{name} not found")
    st = ds.get("status") or {}
    counts = {k: st.get(k, 0) for k in ("desiredNumberScheduled", "currentNumberScheduled", "numberReady",
                                        "numberAvailable", "updatedNumberScheduled", "numberMisscheduled")}
    evidence.table([{"object": f"daemonset/{ns}/{name}", **counts}])
    offenders = []
    desired = counts["desiredNumberScheduled"]
    if desired == 0:
        offenders.append({"object": f"daemonset/{ns}/{name}", "detail": "schedules no pod on any node"})
    short = [k for k in ("currentNumberScheduled", "numberReady", "numberAvailable") if counts[k] < desired]
    if short:
        offenders.append({"object": f"daemonset/{ns}/{name}",
                          "detail": ", ".join(f"{k} {counts[k]}" for k in short) + f" of {desired} desired"})
    # which nodes lack a ready shipper pod (only nodes that are themselves Ready count)
    uid = ds["metadata"]["uid"]
    pods = [p for p in cluster.in_namespaces("pods", [ns])
            if any(o.get("uid") == uid for o in p["metadata"].get("ownerReferences") or [])]
    ready_nodes = {p["spec"].get("nodeName") for p in pods if pod_problem(p) is None}
    down_nodes = {r["object"] for r in node_problems(cluster.list("nodes"))}
    for p in pods:
        problem = pod_problem(p)
        if problem and p["spec"].get("nodeName") not in ready_nodes:
            offenders.append({"object": f"{ns}/{p['metadata']['name']}",
                              "detail": f"on {p['spec'].get('nodeName', '?')}: {problem}"})
    evidence.note(f"nodes with a ready {name} pod: {', '.join(sorted(n for n in ready_nodes if n)) or 'none'}"
                  + (f"; nodes not Ready (not judged): {', '.join(sorted(down_nodes))}" if down_nodes else ""))
    if log_pipeline.loki_url is None:
        evidence.note("log_pipeline.loki_url not set: Loki's readiness was not checked")
    else:
        url = log_pipeline.loki_url.rstrip("/") + "/ready"
        try:
            resp = http.get(url, timeout=log_pipeline.timeout_seconds)
            body = resp.text.strip()
            ok = resp.status_code == 200 and body == "ready"
            detail = "ready" if ok else f"HTTP {resp.status_code}: {body[:160]}"
        except requests.RequestException as exc:
            ok, detail = False, "connection refused" if "refused" in str(exc).lower() else exc.__class__.__name__
        evidence.table([{"object": url, "detail": detail}])
        if not ok:
            offenders.append({"object": url, "detail": f"Loki not ready: {detail}"})
    evidence.expect_none(offenders, "log pipeline problems", table=False)
