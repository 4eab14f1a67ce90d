"""Quarterly security audit: privileged access against the approved list, RBAC policy
(QSIGN 000 quarterly: 접근 권한 리뷰, RBAC 정책 점검)."""

from opscheck.check import check, component_absent
from opscheck.rules.rbac import custom_grants, policy_exceptions, privileged_access


@check("quarterly.privileged-access", severity="critical", covers=["000.quarterly.access-review"])
def test_privileged_access(rbac, profile, evidence):
    r"""Subjects with cluster-admin, Secret reads, exec/attach/port-forward/proxy or wildcards are all approved for it

    kubectl get clusterrolebindings -o json | jq -r '.items[] | select(.roleRef.name=="cluster-admin") | .metadata.name'
    kubectl auth can-i --list --as=<subject> | grep -E '^\*|secrets|pods/exec|pods/attach|pods/portforward|/proxy'
    `get` is enough on those subresources: pods/exec, attach and portforward open over a WebSocket GET, and
    nodes/proxy get runs commands in any container of the node through the kubelet.
    Remove the binding (or narrow its role to the resources and verbs the subject needs, without secrets
    and those subresources), or have the access approved and add the subject to
    security.rbac.privileged_subjects.
    """
    policy = profile.security.rbac
    if policy.privileged_subjects is None:
        component_absent(profile.required, "rbac-review", "no security.rbac.privileged_subjects in this profile")
    custom = custom_grants(rbac)
    evidence.examined(custom, f"{len(custom)} grants of non-system bindings")
    rows, offenders = privileged_access(custom, policy.privileged_subjects)
    evidence.table(rows)
    evidence.note(
        "system bindings (bootstrap-labelled or named " + ", ".join(policy.system_prefixes) + "*) not counted"
    )
    evidence.expect_none(offenders, "privileged subjects not approved", table=False)


@check("quarterly.rbac-policy", severity="high", covers=["000.quarterly.rbac-policy"])
def test_rbac_policy(rbac, profile, evidence):
    """No wildcard roles and no bindings to default ServiceAccounts outside the allowed lists

    kubectl get clusterroles,roles -A -o json | jq '.items[] | select(.rules[]? | (.verbs+.resources+.apiGroups) | index("*"))'
    Replace "*" with the verbs, resources and API groups the role needs; bind workloads to their
    own ServiceAccounts instead of default. Intended exceptions go to
    security.rbac.allowed_wildcard_roles / allowed_default_sa_bindings.
    """
    policy = profile.security.rbac
    custom = custom_grants(rbac)
    evidence.examined(custom, f"{len(custom)} grants of non-system bindings")
    allowed, offenders = policy_exceptions(rbac, policy.allowed_wildcard_roles, policy.allowed_default_sa_bindings)
    evidence.table([{**r, "allowed": "yes"} for r in allowed] + [{**r, "allowed": "NO"} for r in offenders])
    evidence.expect_none(
        offenders, "wildcard roles or default ServiceAccount bindings outside the allowed lists", table=False
    )
