"""Predeploy: before an upgrade (multi-cluster 004 §4 업그레이드 절차: the upgrade path, Helm
releases, PodDisruptionBudgets)."""

from opscheck.check import check, component_absent
from opscheck.profile import expand_vars
from opscheck.rules.availability import pdb_findings
from opscheck.rules.platform import helm_offenders, helm_records, helm_releases
from opscheck.rules.versions import fmt, kubelet_skew_problems, parse_version, upgrade_target_problems


@check("predeploy.version-skew", severity="critical", covers=["004.upgrade.version-skew"])
def test_version_skew(kube_versions, profile, evidence):
    """The upgrade target is at most one minor version ahead, and every kubelet stays within the skew of it

    kubectl version; kubectl get nodes -o wide; sudo kubeadm upgrade plan
    Minor versions go one at a time (1.33 -> 1.34 -> 1.35): set the target to the next minor and repeat the
    procedure for each. Kubelets more than the allowed skew behind: upgrade those nodes first
    (kubectl drain <node> --ignore-daemonsets; apt-get install -y kubelet=<version>-00 kubectl=<version>-00;
    systemctl daemon-reload; systemctl restart kubelet; kubectl uncordon <node>).
    """
    cfg = profile.platform.kubernetes
    server_text, server, nodes = kube_versions()
    evidence.table({"object": n["object"], "kubelet": n["kubelet"]} for n in nodes)
    offenders = kubelet_skew_problems(server, nodes, cfg.max_kubelet_skew)
    target_text = expand_vars(cfg.target_version).strip() if cfg.target_version else ""
    if target_text:
        target = parse_version(target_text)
        evidence.require(target, f"platform.kubernetes.target_version {target_text!r} is not a version")
        offenders += upgrade_target_problems(
            server, target, nodes, cfg.max_kubelet_skew, [o["object"] for o in offenders]
        )
        evidence.note(f"API server {server_text}, upgrade target {fmt(target)}")
    else:
        evidence.note(
            f"API server {server_text}; no upgrade target (platform.kubernetes.target_version): kubelet skew only"
        )
    evidence.expect_none(offenders, "version skew problems", table=False)


@check("predeploy.helm-releases", severity="high", covers=["004.upgrade.helm-releases"])
def test_helm_releases(cluster, profile, evidence):
    """No Helm release is failed or stuck pending (helm list in the profile's Helm namespaces)

    helm list -A --all (or -n <namespace>); helm history <release> -n <namespace>; helm status <release> -n <namespace>
    failed: read why (helm history shows the description), fix it, then helm upgrade again or go back:
    helm rollback <release> <revision> -n <namespace>.
    pending-install/upgrade/rollback: a helm command was interrupted; no other upgrade can run until it is resolved:
    helm rollback <release> <last deployed revision> -n <namespace> (or, for a first install, helm uninstall).
    """
    # Release records are read where a Role lets the reader see Secrets (no cluster-wide Secret access)
    namespaces = profile.helm_namespaces or [*profile.namespaces, *profile.system_namespaces]
    releases = helm_releases(
        helm_records(cluster.in_namespaces("secrets", namespaces), cluster.in_namespaces("configmaps", namespaces))
    )
    if not releases:
        component_absent(
            profile.required, "helm", f"no Helm release in {', '.join(namespaces)} of cluster {cluster.name}"
        )
    evidence.note(f"release records (Secrets and ConfigMaps owned by helm) in {', '.join(namespaces)}")
    evidence.table({k: r[k] for k in ("object", "revision", "status")} for r in releases)
    evidence.expect_none(helm_offenders(releases), "Helm releases failed or pending", table=False)


@check("predeploy.pdb", severity="high", covers=["004.upgrade.pdb"])
def test_pdb(cluster, profile, evidence):
    """Every multi-replica workload has one PodDisruptionBudget that lets at least one pod, but not all, go

    kubectl get pdb -A; kubectl describe pdb -n <namespace> <pdb>   # Allowed disruptions
    Missing: create one (kubectl create pdb <name> -n <namespace> --selector=app=<app> --max-unavailable=1).
    Allows none (minAvailable equal to the replicas, or pods not ready): a node drain blocks on it; lower
    minAvailable or use maxUnavailable: 1, and make the pods ready first. Allows all: nothing protects the
    workload during a drain; use minAvailable >= 1.
    """
    rows, offenders = pdb_findings(
        cluster.workloads(profile.namespaces),
        cluster.in_namespaces("poddisruptionbudgets", profile.namespaces),
        profile.platform.availability.ignore,
    )
    evidence.examined(rows, f"{len(rows)} multi-replica workloads in {', '.join(profile.namespaces)}")
    evidence.table(rows)
    evidence.expect_none(offenders, "workloads without a working PodDisruptionBudget", table=False)
