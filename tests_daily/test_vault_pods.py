"""Daily: Vault in each cluster that runs it (multi-cluster 004 Vault 문제: kubectl exec -it
vault-0 -n vault -- vault status)."""

from opscheck.check import check, component_absent, configured
from opscheck.errors import DependencyError
from opscheck.rules.objects import find
from opscheck.rules.vault_status import vault_status
from opscheck.rules.workloads import statefulset_pod_findings


@check("daily.vault-pods", severity="critical", covers=["004.troubleshoot.vault"])
def test_vault_pods(cluster, profile, vault, evidence):
    """In each cluster running Vault: its pods Running and Ready, none labelled sealed, and Vault unsealed

    kubectl exec -it vault-0 -n vault -- vault status
    kubectl get pods -n vault -l app.kubernetes.io/name=vault -L vault-sealed,vault-active
    Sealed: kubectl exec -it vault-0 -n vault -- vault operator unseal <key> (the threshold of key
    holders), then check the External Secrets that depend on it: kubectl get externalsecrets -A.
    A pod not Running/Ready: kubectl describe pod -n vault vault-0; kubectl logs -n vault vault-0.
    """
    where = configured(
        profile.vault.kubernetes,
        profile.required,
        "vault",
        "vault.kubernetes is not set (Vault does not run in the clusters)",
    )
    sts = find(cluster.list("statefulsets"), where.namespace, where.statefulset)
    if sts is None:
        component_absent(
            profile.required,
            "vault",
            f"cluster {cluster.name} does not run Vault (no StatefulSet {where.namespace}/{where.statefulset})",
        )
    rows, offenders = statefulset_pod_findings(sts, cluster.in_namespaces("pods", [where.namespace]))
    # the service in front of the pods: vault status through the API; unreachable is one of
    # the problems listed (with the pods'), so this check catches it rather than declaring availability
    try:
        row, offender = vault_status(vault.config.address, vault.health())
    except DependencyError as exc:
        row, offender = None, {"object": vault.config.address, "detail": str(exc)}
    rows += [row] if row else []
    offenders += [offender] if offender else []
    evidence.table(rows)
    evidence.expect_none(offenders, f"Vault problems in cluster {cluster.name}", table=False)
