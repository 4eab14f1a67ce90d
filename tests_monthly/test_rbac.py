"""Monthly RBAC audit: bound subjects against the approved list, the reviewed users'
permission matrix, default ServiceAccounts without permissions (QSIGN 001 access audit,
SmartSensor 002 RBAC review and user access review, Titanium 003 RBAC check).

Permissions are computed from the Roles and Bindings (opscheck/rules/rbac.py), as
`kubectl auth can-i --list` shows them for RBAC, without any request beyond get/list.
"""

from opscheck.check import check, component_absent
from opscheck.rules.objects import present_namespaces
from opscheck.rules.rbac import access_review, custom_grants, default_sa_permissions, unapproved_bindings


@check(
    "monthly.rbac-approved-subjects",
    severity="high",
    covers=["001.monthly.access-audit", "002.monthly.clusterrolebindings"],
)
def test_rbac_approved_subjects(rbac, profile, evidence):
    """Every subject of a non-system ClusterRoleBinding or RoleBinding is on the approved list

    kubectl get clusterrolebindings -o wide | grep -v system:
    kubectl get rolebindings -A -o wide | grep -v system:
    For a subject that should not have access: kubectl delete clusterrolebinding <name> (or remove
    the subject from the binding). For a legitimate new one: have it approved and add it to
    security.rbac.approved_subjects in the profile.
    """
    approved = profile.security.rbac.approved_subjects
    if approved is None:
        component_absent(profile.required, "rbac-review", "no security.rbac.approved_subjects in this profile")
    custom = custom_grants(rbac)
    evidence.examined(custom, f"{len(custom)} grants of non-system bindings")
    rows, offenders = unapproved_bindings(custom, approved)
    evidence.table(rows)
    evidence.note(f"{len({r['object'] for r in rows})} non-system bindings; {len(approved)} approved subjects")
    evidence.expect_none(offenders, "bindings to subjects not on the approved list", table=False)


@check("monthly.access-review", severity="high", covers=["002.security.access-review"])
def test_access_review(rbac, profile, evidence):
    """Each reviewed user's permissions are reported and hold no role beyond the reviewed ones

    kubectl auth can-i --list --as=<user>          (for each reviewed user)
    kubectl get rolebindings,clusterrolebindings -A -o wide | grep <user>
    Remove the binding that grants the unexpected role, or, if the access is intended, have it
    approved and add the role to the user's security.rbac.access_review[].roles.
    """
    policy = profile.security.rbac
    if not policy.access_review:
        component_absent(profile.required, "rbac-review", "no security.rbac.access_review users in this profile")
    custom = custom_grants(rbac)
    evidence.examined(custom, f"{len(custom)} grants of non-system bindings")
    rows, offenders = access_review(rbac, policy.access_review, policy.discovery_roles)
    evidence.table(rows)
    evidence.expect_none(offenders, "unexpected role grants", table=False)


@check("monthly.default-sa-permissions", severity="high", covers=["003.security.default-sa-rbac"])
def test_default_sa_permissions(rbac, cluster, profile, evidence):
    """Default ServiceAccounts have no permission beyond discovery

    kubectl auth can-i --list --as=system:serviceaccount:<namespace>:default
    kubectl get rolebindings,clusterrolebindings -A -o json | jq '.items[] | select(.subjects[]?.name=="default")'
    Give the workload its own ServiceAccount with only the Role it needs, bind that instead,
    remove the binding to default, and set automountServiceAccountToken: false on default.
    """
    policy = profile.security.rbac
    namespaces = policy.default_sa_namespaces if policy.default_sa_namespaces is not None else profile.namespaces
    present = present_namespaces(cluster.list("namespaces"), namespaces)
    evidence.examined(
        present, f"monitored namespaces present: {', '.join(present) or 'none'} (of {', '.join(namespaces)})"
    )
    rows, offenders = default_sa_permissions(rbac, namespaces, policy.discovery_roles)
    evidence.table(rows)
    evidence.note(
        f"default ServiceAccounts of {', '.join(namespaces)}; discovery roles not counted: "
        f"{', '.join(policy.discovery_roles)}"
    )
    evidence.expect_none(offenders, "permissions of default ServiceAccounts", table=False)
