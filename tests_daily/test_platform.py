"""Daily: platform services (SmartSensor 002 `velero backup get`, multi-cluster 004 backups,
External Secrets, `cilium status`; Titanium 003's CI/CD: the CI system's runs and Argo CD)."""

from datetime import UTC, datetime, timedelta

from opscheck.check import check, component_absent, configured
from opscheck.rules.ci import pipeline_findings
from opscheck.rules.objects import find, in_namespace
from opscheck.rules.platform import (
    application_findings,
    clustermesh_findings,
    cni_problems,
    external_secret_findings,
    velero_backup_findings,
)


@check("daily.velero-backups", severity="critical", covers=["002.daily.velero-backups", "004.backup.velero"])
def test_velero_backups(cluster, profile, evidence):
    """The newest Velero backup of every Schedule Completed without errors, within the backup age threshold

    velero backup get; velero backup describe <backup> --details; velero backup logs <backup>
    PartiallyFailed or Failed: the describe output names the items that failed (a volume snapshot, a resource
    a plugin could not back up); check the storage location (velero backup-location get) and its credentials,
    fix the cause, then take a backup now: velero backup create --from-schedule <schedule> --wait
    No recent backup: the Schedule is paused or Velero is down (kubectl -n velero get pods;
    kubectl -n velero logs deploy/velero).
    """
    cfg = profile.platform.velero
    schedules = cluster.list_served("velero-schedules")
    if schedules is None:
        component_absent(profile.required, "velero", f"no Velero Schedule CRD in cluster {cluster.name}")
    schedules = in_namespace(schedules, cfg.namespace)
    backups = in_namespace(cluster.list("velero-backups"), cfg.namespace)
    if not schedules and not backups:
        evidence.fail(f"no Velero Schedule and no Backup in namespace {cfg.namespace}: nothing is backed up")
    max_age = timedelta(hours=cfg.max_age_hours or profile.thresholds.backup_max_age_hours)
    newest, offenders = velero_backup_findings(schedules, backups, max_age)
    evidence.table(newest)
    evidence.note(
        f"{len(schedules)} Schedules, {len(backups)} Backups in {cfg.namespace}; the newest of each "
        f"Schedule must be Completed without errors and within {max_age.total_seconds() / 3600:g} h"
    )
    evidence.expect_none(offenders, "Velero backups not in order", table=False)


@check("daily.externalsecrets", severity="high", covers=["004.troubleshoot.externalsecrets"])
def test_externalsecrets(cluster, profile, evidence):
    """Every ExternalSecret is Ready (SecretSynced), refreshed on time, with its target Secret

    kubectl get externalsecrets -A; kubectl describe externalsecret -n <namespace> <name>   # the SecretSyncedError message
    Check the store it reads: kubectl get clustersecretstores,secretstores -A (Ready?); a sealed Vault:
    kubectl exec -it vault-0 -n vault -- vault status, then vault operator unseal <key>; a wrong remoteRef key or a
    token without the policy for it. Force a refresh once fixed:
    kubectl annotate externalsecret -n <namespace> <name> force-sync=$(date +%s) --overwrite
    """
    cfg = profile.platform.external_secrets
    items = cluster.list_served("externalsecrets", "externalsecrets-v1beta1")
    if items is None:
        component_absent(
            profile.required, "external-secrets", f"no External Secrets ExternalSecret CRD in cluster {cluster.name}"
        )
    # target Secrets are read in the ExternalSecrets' own namespaces only (a Role there, deploy/rbac/)
    namespaces = sorted({es["metadata"]["namespace"] for es in items})
    rows, offenders = external_secret_findings(
        items, cluster.in_namespaces("secrets", namespaces), datetime.now(UTC), cfg.stale_after_intervals, cfg.ignore
    )
    evidence.table(rows)
    if not rows:
        component_absent(profile.required, "external-secrets", f"no ExternalSecret in cluster {cluster.name}")
    evidence.expect_none(offenders, "ExternalSecrets not synced", table=False)


@check("daily.argocd-apps", severity="high", covers=["003.daily.cicd-success"])
def test_argocd_apps(cluster, profile, evidence):
    """Argo CD Applications are Synced and Healthy (the in-cluster result of the CI/CD pipeline)

    kubectl get applications -n argocd; kubectl describe application <app> -n argocd
    kubectl logs -n argocd deployment/argocd-server; kubectl logs -n argocd deployment/argocd-application-controller
    argocd app get <app>; argocd app sync <app>; to go back: argocd app rollback <app> <revision-id>, or revert the
    manifest commit in Git (Argo CD syncs it).
    A run that failed in GitHub Actions (Trivy scan, Docker build, Docker Hub push) never reaches Argo CD: read the
    workflow's logs in the repository's Actions tab.
    """
    apps = cluster.list_served("argocd-applications")
    if apps is None:
        component_absent(profile.required, "argocd", f"no Argo CD Application CRD in cluster {cluster.name}")
    evidence.note("CI/CD pipeline success: Argo CD's sync of each Application here; the CI runs: daily.ci-pipeline")
    rows, offenders = application_findings(apps, profile.platform.argocd.ignore)
    evidence.table(rows)
    if not rows:
        component_absent(profile.required, "argocd", f"no Argo CD Application in cluster {cluster.name}")
    evidence.expect_none(offenders, "Argo CD Applications not Synced and Healthy", table=False)


@check("daily.ci-pipeline", severity="high", covers=["003.daily.cicd-success"])
def test_ci_pipeline(ci_runs, profile, evidence):
    """The CI pipeline's workflows last succeeded on the deployed branch, recently (the CI half of CI/CD)

    gh run list --branch <branch> --workflow <workflow>; gh run view <run-id> --log-failed
    A failed build, Trivy scan or image push never reaches Argo CD: fix the cause, then gh run rerun <run-id>.
    No recent run: is the workflow disabled (gh workflow list) or its trigger broken?
    """
    where = ci_runs.path
    runs = ci_runs.runs
    if runs is None:
        evidence.fail(f"no CI runs file at {where} (gh run list --json ...)")
    evidence.examined(runs, f"{len(runs)} CI runs in {where}", empty=f"the CI runs file {where} lists no run")
    ci = profile.ci
    rows, offenders = pipeline_findings(
        runs, ci.workflows, ci.branch, datetime.now(UTC), timedelta(hours=ci.max_age_hours)
    )
    evidence.table(rows)
    evidence.expect_none(offenders, "CI workflows not passing", table=False)


@check("daily.cni-status", severity="critical", covers=["004.daily.cni-status"])
def test_cni_status(cluster, profile, clustermesh, evidence):
    """The CNI agent runs ready and up to date on every node, its operator is available, at the agreed version; where a cluster mesh is configured, every agent has every other member cluster ready

    cilium status; kubectl -n kube-system get ds cilium -o wide; kubectl -n kube-system get pods -l k8s-app=cilium -o wide
    kubectl -n kube-system describe pod <agent>; kubectl -n kube-system logs <agent> --previous
    cilium connectivity test; kubectl get ciliumendpoints -A
    An old or mixed version: cilium upgrade --version <version>, then cilium status (runbook 004 §4.3).
    A remote cluster not ready or missing: cilium clustermesh status --context <cluster>; in an agent,
    cilium-dbg troubleshoot clustermesh <remote> (etcd reachable? certificates valid?); the
    clustermesh-apiserver of the remote: kubectl --context <remote> -n kube-system get pods -l k8s-app=clustermesh-apiserver;
    missing from an agent's configuration: cilium clustermesh connect --context <cluster> --destination-context <remote>.
    """
    cfg = configured(profile.platform.cni, profile.required, "cni", "no platform.cni in this profile")
    ds = find(cluster.list("daemonsets"), cfg.namespace, cfg.daemonset)
    evidence.require(ds, f"CNI agent DaemonSet {cfg.namespace}/{cfg.daemonset} not found")
    operator = find(cluster.list("deployments"), cfg.namespace, cfg.operator) if cfg.operator else None
    problems, facts = cni_problems(ds, operator, cfg.operator, cfg.min_version)
    evidence.table([{"object": f"{cfg.namespace}/{cfg.daemonset}", **facts}])
    evidence.note(f"{len(cluster.list('nodes'))} nodes in the cluster")
    threshold = "all agents ready and updated" + (f", version >= {cfg.min_version}" if cfg.min_version else "")
    if clustermesh is None:
        evidence.note(
            "cluster mesh: none configured for this cluster (platform.cni.clustermesh): only the agents are judged"
        )
    else:
        remotes = cfg.clustermesh.remotes_of(cluster.name)
        rows, mesh_problems = clustermesh_findings(
            remotes, clustermesh.readiness, clustermesh.last_failure, datetime.now(UTC)
        )
        evidence.note(f"cluster mesh of {cluster.name}: expects {', '.join(remotes)} ready ({clustermesh.query})")
        evidence.table(rows)
        problems += [f"cluster mesh: {p}" for p in mesh_problems]
        threshold += f"; remote clusters {', '.join(remotes)} ready on every agent"
    evidence.record(measured="; ".join(problems) or "ok", threshold=threshold)
    if problems:
        evidence.fail(f"CNI {cfg.namespace}/{cfg.daemonset}: {'; '.join(problems)}")
