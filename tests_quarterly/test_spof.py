"""Quarterly: single points of failure (QSIGN 000 아키텍처 리뷰: 단일 장애점 분석)."""

from opscheck.check import check
from opscheck.rules.availability import spof_findings


@check("quarterly.spof", severity="medium", covers=["000.quarterly.spof"])
def test_spof(cluster, profile, evidence):
    """No single point of failure: every workload has 2+ replicas on 2+ nodes and a PDB; the control plane is not one
    node

    kubectl get deploy,sts -n <namespace> -o wide; kubectl get pods -n <namespace> -o wide   # NODE column
    One replica: kubectl scale deployment -n <namespace> <name> --replicas=2 (or an HPA with minReplicas 2).
    All replicas on one node: spread them (topologySpreadConstraints on kubernetes.io/hostname, or
    podAntiAffinity), then kubectl rollout restart. No PDB: kubectl create pdb ... --max-unavailable=1.
    One control-plane node: add control-plane nodes (kubeadm join --control-plane) behind a load balancer.
    """
    rows, offenders, control = spof_findings(
        cluster.workloads(profile.namespaces),
        cluster.in_namespaces("pods", profile.namespaces),
        cluster.in_namespaces("poddisruptionbudgets", profile.namespaces),
        cluster.list("nodes"),
        profile.platform.availability.ignore,
    )
    evidence.examined(rows, f"{len(rows)} workloads in {', '.join(profile.namespaces)}")
    evidence.table(rows)
    evidence.note(
        f"{len(rows)} workloads in {', '.join(profile.namespaces)}; "
        + (
            f"{len(control)} control-plane nodes"
            if control
            else "no control-plane node visible (a managed or external control plane)"
        )
    )
    evidence.expect_none(offenders, "single points of failure", table=False)
