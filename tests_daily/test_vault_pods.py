"""Daily: Vault in each cluster that runs it (multi-cluster 004 Vault 문제: kubectl exec -it
vault-0 -n vault -- vault status)."""
from opscheck.check import check, component_absent, configured
from opscheck.errors import DependencyError
from opscheck.rules.workloads import pod_problem


@check(
    id="daily.vault-pods",
    title="In each cluster running Vault: its pods Running and Ready, none labelled sealed, and Vault unsealed",
    severity="critical",
    covers=["004.troubleshoot.vault"],
    remediation="""\
kubectl exec -it vault-0 -n vault -- vault status
kubectl get pods -n vault -l app.kubernetes.io/name=vault -L vault-sealed,vault-active
Sealed: kubectl exec -it vault-0 -n vault -- vault operator unseal <key> (the threshold of key
holders), then check the External Secrets that depend on it: kubectl get externalsecrets -A.
A pod not Running/Ready: kubectl describe pod -n vault vault-0; kubectl logs -n vault vault-0.""",
)
def test_vault_pods(cluster, profile, vault, evidence):
    where = configured(profile.vault.kubernetes, profile.required, "vault",
                       "vault.kubernetes is not set (Vault does not run in the clusters)")
    sts = next((s for s in cluster.in_namespaces("statefulsets", [where.namespace])
                if s["metadata"]["name"] == where.statefulset), None)
    if sts is None:
        component_absent(profile.required, "vault", f"cluster {cluster.name} does not run Vault "
                         f"(no StatefulSet {where.namespace}/{where.statefulset})")
    uid = sts["metadata"]["uid"]
    pods = [p for p in cluster.in_namespaces("pods", [where.namespace])
            if any(o.get("uid") == uid for o in p["metadata"].get("ownerReferences") or [])]
    desired = (sts.get("spec") or {}).get("replicas", 1)
    offenders, rows = [], []
    if desired == 0:
        offenders.append({"object": f"statefulset/{where.namespace}/{where.statefulset}", "detail": "scaled to 0 replicas"})
    elif len(pods) < desired:
        offenders.append({"object": f"statefulset/{where.namespace}/{where.statefulset}",
                          "detail": f"{len(pods)} of {desired} pods exist"})
    for p in sorted(pods, key=lambda p: p["metadata"]["name"]):
        labels = p["metadata"].get("labels") or {}
        # Vault's Kubernetes service registration (the Helm chart's default) keeps these up to date
        sealed = labels.get("vault-sealed")
        problem = pod_problem(p) or ("labelled vault-sealed=true" if sealed == "true" else None)
        rows.append({"object": f"{where.namespace}/{p['metadata']['name']}", "phase": (p.get("status") or {}).get("phase"),
                     "vault-sealed": sealed or "", "vault-active": labels.get("vault-active", ""), "detail": problem or "ok"})
        if problem:
            offenders.append({"object": f"{where.namespace}/{p['metadata']['name']}", "detail": problem})
    # the service in front of the pods: vault status through the API (availability is the subject)
    try:
        health = vault.health()
    except DependencyError as exc:
        health = None
        offenders.append({"object": vault.config.address, "detail": str(exc)})
    if health is not None:
        state = "sealed" if health.get("sealed") else ("not initialized" if not health.get("initialized") else "unsealed")
        rows.append({"object": vault.config.address, "detail": f"vault status: {state}",
                     "version": health.get("version", "")})
        if state != "unsealed":
            offenders.append({"object": vault.config.address, "detail": f"Vault is {state}"})
    evidence.table(rows)
    evidence.expect_none(offenders, f"Vault problems in cluster {cluster.name}", table=False)
