"""Quarterly security audit: privileged access against the approved list, RBAC policy
(QSIGN 000 quarterly: 접근 권한 리뷰, RBAC 정책 점검)."""
from opscheck.check import check, component_absent
from opscheck.rules.rbac import Rbac, privileges, subject_key, wildcards


@check(
    id="quarterly.privileged-access",
    title="Subjects with cluster-admin or Secret read access are all approved for it",
    severity="critical",
    covers=["000.quarterly.access-review"],
    remediation="""\
kubectl get clusterrolebindings -o json | jq -r '.items[] | select(.roleRef.name=="cluster-admin") | .metadata.name'
kubectl auth can-i --list --as=<subject> | grep -E '^\\*|secrets'
Remove the binding (or narrow its role to what the subject needs, without secrets), or have
the access approved and add the subject to security.rbac.privileged_subjects.""",
)
def test_privileged_access(cluster, profile, evidence):
    policy = profile.security.rbac
    if policy.privileged_subjects is None:
        component_absent(profile.required, "rbac-review", "no security.rbac.privileged_subjects in this profile")
    approved = set(policy.privileged_subjects)
    rows, offenders = [], []
    for g in Rbac(cluster, policy.system_prefixes).grants():
        access = privileges(g)
        if g.system or not access:
            continue
        ok = g.subject in approved
        rows.append({"object": g.subject, "access": ", ".join(access), "role": g.role_ref, "via": g.binding,
                     "approved": "yes" if ok else "NO"})
        if not ok:
            offenders.append({"object": g.subject, "detail": f"{', '.join(access)} via {g.binding} ({g.role_ref})"})
    evidence.table(rows)
    evidence.note("system bindings (bootstrap-labelled or named " + ", ".join(policy.system_prefixes) + "*) not counted")
    evidence.expect_none(offenders, "privileged subjects not approved", table=False)


@check(
    id="quarterly.rbac-policy",
    title="No wildcard roles and no bindings to default ServiceAccounts outside the allowed lists",
    severity="high",
    covers=["000.quarterly.rbac-policy"],
    remediation="""\
kubectl get clusterroles,roles -A -o json | jq '.items[] | select(.rules[]? | (.verbs+.resources+.apiGroups) | index("*"))'
Replace "*" with the verbs, resources and API groups the role needs; bind workloads to their
own ServiceAccounts instead of default. Intended exceptions go to
security.rbac.allowed_wildcard_roles / allowed_default_sa_bindings.""",
)
def test_rbac_policy(cluster, profile, evidence):
    policy = profile.security.rbac
    rbac = Rbac(cluster, policy.system_prefixes)
    offenders, allowed = [], []
    for obj, name, role in rbac.custom_roles():
        fields = sorted({f for rule in role.get("rules") or [] for f in wildcards(rule)})
        if not fields:
            continue
        detail = "* in " + ", ".join(fields)
        (allowed if name in policy.allowed_wildcard_roles else offenders).append({"object": obj, "detail": detail})
    for b, scope in [(b, None) for b in rbac.cluster_bindings] + [(b, b["metadata"]["namespace"]) for b in rbac.bindings]:
        defaults = sorted({subject_key(s, scope) for s in b.get("subjects") or []
                           if subject_key(s, scope).startswith("ServiceAccount:") and subject_key(s, scope).endswith("/default")})
        if not defaults:
            continue
        name = b["metadata"]["name"] if scope is None else f"{scope}/{b['metadata']['name']}"
        obj = ("clusterrolebinding/" if scope is None else "rolebinding/") + name
        row = {"object": obj, "detail": f"binds {', '.join(defaults)} to {b['roleRef']['kind']} {b['roleRef']['name']}"}
        (allowed if name in policy.allowed_default_sa_bindings else offenders).append(row)
    evidence.table([{**r, "allowed": "yes"} for r in allowed] + [{**r, "allowed": "NO"} for r in offenders])
    evidence.expect_none(offenders, "wildcard roles or default ServiceAccount bindings outside the allowed lists",
                         table=False)
