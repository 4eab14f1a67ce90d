"""Quarterly: single points of failure (QSIGN 000 아키텍처 리뷰: 단일 장애점 분석)."""
from opscheck.rules.availability import control_plane_nodes, pdbs_for, spof_problems, workload_pods
from opscheck.check import check


@check(
    id="quarterly.spof",
    title="No single point of failure: every workload has 2+ replicas on 2+ nodes and a PDB; the control plane is not one node",
    severity="medium",
    covers=["000.quarterly.spof"],
    remediation="""\
kubectl get deploy,sts -n <namespace> -o wide; kubectl get pods -n <namespace> -o wide   # NODE column
One replica: kubectl scale deployment -n <namespace> <name> --replicas=2 (or an HPA with minReplicas 2).
All replicas on one node: spread them (topologySpreadConstraints on kubernetes.io/hostname, or
podAntiAffinity), then kubectl rollout restart. No PDB: kubectl create pdb ... --max-unavailable=1.
One control-plane node: add control-plane nodes (kubeadm join --control-plane) behind a load balancer.""",
)
def test_spof(cluster, profile, evidence):
    pods = cluster.in_namespaces("pods", profile.namespaces)
    pdbs = cluster.in_namespaces("poddisruptionbudgets", profile.namespaces)
    rows, offenders = [], []
    for kind, plural in (("Deployment", "deployments"), ("StatefulSet", "statefulsets")):
        for w in cluster.in_namespaces(plural, profile.namespaces):
            name = f"{w['metadata']['namespace']}/{w['metadata']['name']}"
            if name in profile.platform.availability.ignore:
                continue
            running = workload_pods(w, pods)
            problems = spof_problems(w, pods, pdbs)
            rows.append({"object": f"{kind.lower()}/{name}", "replicas": (w.get("spec") or {}).get("replicas", 1),
                         "nodes": ", ".join(sorted({(p.get("spec") or {}).get("nodeName", "?") for p in running})),
                         "pdb": ", ".join(p["metadata"]["name"] for p in pdbs_for(w, pdbs)) or "none",
                         "problems": "; ".join(problems) or "ok"})
            if problems:
                offenders.append({"object": f"{kind.lower()}/{name}", "detail": "; ".join(problems)})
    nodes = cluster.list("nodes")
    control = control_plane_nodes(nodes)
    if len(control) == 1:
        offenders.append({"object": f"node/{control[0]}", "detail": "the only control-plane node"})
    evidence.table(rows)
    evidence.note(f"{len(rows)} workloads in {', '.join(profile.namespaces)}; "
                  + (f"{len(control)} control-plane nodes" if control else
                     "no control-plane node visible (a managed or external control plane)"))
    evidence.expect_none(offenders, "single points of failure", table=False)
