"""Daily: platform services (SmartSensor 002 `velero backup get`, multi-cluster 004 backups,
External Secrets, `cilium status`; Titanium 003's CI/CD through Argo CD)."""
from datetime import datetime, timedelta, timezone

from opscheck.check import check, component_absent
from opscheck.rules.platform import (
    application_problems, cni_problems, custom_objects, external_secret_problems, ref, velero_backup_findings,
)


@check(
    id="daily.velero-backups",
    title="The newest Velero backup of every Schedule Completed without errors, within the backup age threshold",
    severity="critical",
    covers=["002.daily.velero-backups", "004.backup.velero"],
    remediation="""\
velero backup get; velero backup describe <backup> --details; velero backup logs <backup>
PartiallyFailed or Failed: the describe output names the items that failed (a volume snapshot, a resource
a plugin could not back up); check the storage location (velero backup-location get) and its credentials,
fix the cause, then take a backup now: velero backup create --from-schedule <schedule> --wait
No recent backup: the Schedule is paused or Velero is down (kubectl -n velero get pods;
kubectl -n velero logs deploy/velero).""",
)
def test_velero_backups(cluster, profile, evidence):
    cfg = profile.platform.velero
    schedules = [s for s in custom_objects(cluster, profile.required, ["velero-schedules"], "velero", "Velero Schedule")
                 if s["metadata"]["namespace"] == cfg.namespace]
    backups = [b for b in cluster.list("velero-backups") if b["metadata"]["namespace"] == cfg.namespace]
    if not schedules and not backups:
        evidence.fail(f"no Velero Schedule and no Backup in namespace {cfg.namespace}: nothing is backed up")
    max_age = timedelta(hours=cfg.max_age_hours or profile.thresholds.backup_max_age_hours)
    newest, offenders = velero_backup_findings(schedules, backups, max_age)
    evidence.table(newest)
    evidence.note(f"{len(schedules)} Schedules, {len(backups)} Backups in {cfg.namespace}; the newest of each "
                  f"Schedule must be Completed without errors and within {max_age.total_seconds() / 3600:g} h")
    evidence.expect_none(offenders, "Velero backups not in order", table=False)


@check(
    id="daily.externalsecrets",
    title="Every ExternalSecret is Ready (SecretSynced), refreshed on time, with its target Secret",
    severity="high",
    covers=["004.troubleshoot.externalsecrets"],
    remediation="""\
kubectl get externalsecrets -A; kubectl describe externalsecret -n <namespace> <name>   # the SecretSyncedError message
Check the store it reads: kubectl get clustersecretstores,secretstores -A (Ready?); a sealed Vault:
kubectl exec -it vault-0 -n vault -- vault status, then vault operator unseal <key>; a wrong remoteRef key or a
token without the policy for it. Force a refresh once fixed:
kubectl annotate externalsecret -n <namespace> <name> force-sync=$(date +%s) --overwrite""",
)
def test_externalsecrets(cluster, profile, evidence):
    cfg = profile.platform.external_secrets
    items = custom_objects(cluster, profile.required, ["externalsecrets", "externalsecrets-v1beta1"],
                           "external-secrets", "External Secrets ExternalSecret")
    secrets = {(s["metadata"]["namespace"], s["metadata"]["name"]) for s in cluster.list("secrets")}
    now = datetime.now(timezone.utc)
    rows, offenders = [], []
    for es in items:
        if ref(es) in cfg.ignore:
            continue
        problems = external_secret_problems(es, secrets, now, cfg.stale_after_intervals)
        status = es.get("status") or {}
        rows.append({"object": ref(es), "refreshInterval": (es.get("spec") or {}).get("refreshInterval", "1h"),
                     "refreshTime": status.get("refreshTime", ""), "problems": "; ".join(problems) or "ok"})
        if problems:
            offenders.append({"object": ref(es), "detail": "; ".join(problems)})
    evidence.table(rows)
    if not rows:
        component_absent(profile.required, "external-secrets", f"no ExternalSecret in cluster {cluster.name}")
    evidence.expect_none(offenders, "ExternalSecrets not synced", table=False)


@check(
    id="daily.argocd-apps",
    title="Argo CD Applications are Synced and Healthy (the in-cluster result of the CI/CD pipeline)",
    severity="high",
    covers=["003.daily.cicd-success"],
    remediation="""\
kubectl get applications -n argocd; kubectl describe application <app> -n argocd
kubectl logs -n argocd deployment/argocd-server; kubectl logs -n argocd deployment/argocd-application-controller
argocd app get <app>; argocd app sync <app>; to go back: argocd app rollback <app> <revision-id>, or revert the
manifest commit in Git (Argo CD syncs it).
A run that failed in GitHub Actions (Trivy scan, Docker build, Docker Hub push) never reaches Argo CD: read the
workflow's logs in the repository's Actions tab.""",
)
def test_argocd_apps(cluster, profile, evidence):
    apps = custom_objects(cluster, profile.required, ["argocd-applications"], "argocd", "Argo CD Application")
    evidence.note("CI/CD pipeline success: the CI runs (GitHub Actions) are outside the cluster; what reaches it "
                  "is Argo CD's sync of each Application, checked here")
    rows, offenders = [], []
    for app in apps:
        if ref(app) in profile.platform.argocd.ignore:
            continue
        status = app.get("status") or {}
        op = status.get("operationState") or {}
        rows.append({"object": ref(app), "sync": (status.get("sync") or {}).get("status", "Unknown"),
                     "health": (status.get("health") or {}).get("status", "Unknown"),
                     "revision": ((status.get("sync") or {}).get("revision") or "")[:12],
                     "last_sync": f"{op.get('phase', '')} {op.get('finishedAt', '')}".strip()})
        problems = application_problems(app)
        if problems:
            offenders.append({"object": ref(app), "detail": ", ".join(problems)})
    evidence.table(rows)
    if not rows:
        component_absent(profile.required, "argocd", f"no Argo CD Application in cluster {cluster.name}")
    evidence.expect_none(offenders, "Argo CD Applications not Synced and Healthy", table=False)


@check(
    id="daily.cni-status",
    title="The CNI agent runs ready and up to date on every node, its operator is available, at the agreed version",
    severity="critical",
    covers=["004.daily.cni-status"],
    remediation="""\
cilium status; kubectl -n kube-system get ds cilium -o wide; kubectl -n kube-system get pods -l k8s-app=cilium -o wide
kubectl -n kube-system describe pod <agent>; kubectl -n kube-system logs <agent> --previous
cilium connectivity test; kubectl get ciliumendpoints -A
An old or mixed version: cilium upgrade --version <version>, then cilium status (runbook 004 §4.3).""",
)
def test_cni_status(cluster, profile, evidence):
    cfg = profile.platform.cni
    if cfg is None:
        component_absent(profile.required, "cni", "no platform.cni in this profile")
    find = lambda kind, name: next((o for o in cluster.list(kind)  # noqa: E731
                                    if (o["metadata"]["namespace"], o["metadata"]["name"]) == (cfg.namespace, name)), None)
    ds = find("daemonsets", cfg.daemonset)
    if ds is None:
        evidence.fail(f"CNI agent DaemonSet {cfg.namespace}/{cfg.daemonset} not found")
    operator = find("deployments", cfg.operator) if cfg.operator else None
    problems, facts = cni_problems(ds, operator, cfg.operator, cfg.min_version)
    evidence.table([{"object": f"{cfg.namespace}/{cfg.daemonset}", **facts}])
    evidence.note(f"{len(cluster.list('nodes'))} nodes in the cluster")
    evidence.note("cluster mesh: `cilium clustermesh status` asks the agents themselves; the Kubernetes API does "
                  "not show it, so it is not checked here")
    evidence.record(measured="; ".join(problems) or "ok",
                    threshold="all agents ready and updated" + (f", version >= {cfg.min_version}" if cfg.min_version else ""))
    if problems:
        evidence.fail(f"CNI {cfg.namespace}/{cfg.daemonset}: {'; '.join(problems)}")

