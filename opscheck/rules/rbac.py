"""RBAC as the authorizer sees it, computed from the listed Roles and Bindings.

Effective permissions are worked out from the RBAC objects opscheck already lists (one
LIST per kind per run) instead of asking the API server (SubjectAccessReview would need
a `create` permission and answers one verb/resource at a time, so it cannot list what a
subject may do). RBAC is purely additive, so the union of the rules of every binding
that names a subject, one of its groups or `system:authenticated` is exactly what
`kubectl auth can-i --list --as=<subject>` shows for RBAC. Other authorizers a cluster
may chain (webhook, Node, ABAC) are not seen here.

Subjects are written `User:alice`, `Group:ops`, `ServiceAccount:namespace/name`; a User
named `system:serviceaccount:<ns>:<name>` is that ServiceAccount.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]
Row = dict[str, Any]

BOOTSTRAP_LABEL = "kubernetes.io/bootstrapping"
READ_VERBS = {"get", "list", "watch", "*"}
# Subresources of the core group that run commands in, attach to or tunnel into what they
# name. `get` reaches them as well as `create`: a WebSocket upgrade is a GET (pods/exec,
# attach, portforward before Kubernetes 1.35), and nodes/proxy `get` runs commands in any
# container on the node through the kubelet's API (exec, run).
DANGEROUS_SUBRESOURCES: dict[str, str] = {
    "nodes/proxy": "commands in any container via nodes/proxy",
    "pods/exec": "exec into pods via pods/exec",
    "pods/attach": "attach to containers via pods/attach",
    "pods/portforward": "port-forward into pods via pods/portforward",
    "services/proxy": "reach any service port via services/proxy",
}
DANGEROUS_VERBS = {"get", "create", "*"}


def subject_key(subject: dict[str, Any], binding_namespace: str | None) -> str:
    kind, name = subject.get("kind", ""), subject.get("name", "")
    if kind == "ServiceAccount":
        return f"ServiceAccount:{subject.get('namespace') or binding_namespace}/{name}"
    if kind == "User" and name.startswith("system:serviceaccount:") and name.count(":") == 3:
        _, _, ns, sa = name.split(":")
        return f"ServiceAccount:{ns}/{sa}"
    return f"{kind}:{name}"


def service_account_identities(namespace: str, name: str) -> set[str]:
    """Everything a ServiceAccount's token authenticates as."""
    return {
        f"ServiceAccount:{namespace}/{name}",
        "Group:system:serviceaccounts",
        f"Group:system:serviceaccounts:{namespace}",
        "Group:system:authenticated",
    }


def is_system(obj: dict[str, Any], prefixes: Iterable[str]) -> bool:
    """The cluster's own RBAC objects: bootstrap-labelled, or named with a system prefix."""
    meta = obj.get("metadata") or {}
    if (meta.get("labels") or {}).get(BOOTSTRAP_LABEL) == "rbac-defaults":
        return True
    return any(meta.get("name", "").startswith(p) for p in prefixes)


def wildcards(rule: dict[str, Any]) -> list[str]:
    """The fields of a policy rule that hold "*"."""
    return [f for f in ("verbs", "apiGroups", "resources", "nonResourceURLs") if "*" in (rule.get(f) or [])]


def is_cluster_admin(rules: list[dict[str, Any]]) -> bool:
    """Some rule grants every verb on every resource of every API group."""
    return any(
        {"*"} <= set(r.get("verbs") or []) and "*" in (r.get("apiGroups") or []) and "*" in (r.get("resources") or [])
        for r in rules
    )


def reads_secrets(rules: list[dict[str, Any]]) -> bool:
    """Some rule lets the holder read Secrets (get/list/watch, any of them or "*")."""
    for r in rules:
        groups = set(r.get("apiGroups") or [])
        resources = set(r.get("resources") or [])
        if (groups & {"", "*"}) and (resources & {"secrets", "*"}) and (set(r.get("verbs") or []) & READ_VERBS):
            return True
    return False


def _matches_resource(granted: Iterable[str], resource: str) -> bool:
    """Whether a rule's resources cover `resource` (`pods/exec`) as the RBAC authorizer
    matches them: itself, "*", "pods/*" or "*/exec"."""
    base, _, sub = resource.partition("/")
    return any(g in ("*", resource) or (sub and g in (f"{base}/*", f"*/{sub}")) for g in granted)


def dangerous_subresources(rules: list[dict[str, Any]]) -> list[str]:
    """What the rules let the holder run or reach through a subresource (DANGEROUS_SUBRESOURCES)."""
    found = []
    for resource, what in DANGEROUS_SUBRESOURCES.items():
        for r in rules:
            if (
                set(r.get("apiGroups") or []) & {"", "*"}
                and set(r.get("verbs") or []) & DANGEROUS_VERBS
                and _matches_resource(r.get("resources") or [], resource)
            ):
                found.append(what)
                break
    return found


def dangerous_grants(rules: list[dict[str, Any]], scope: str = "cluster") -> list[str]:
    """Everything that makes rules more than read-only over ordinary objects, in words:
    cluster-admin, Secret reads, exec/attach/port-forward/proxy subresources, wildcards.
    `scope` is "cluster" (a ClusterRoleBinding) or the RoleBinding's namespace."""
    where = "" if scope == "cluster" else f" in {scope}"
    if is_cluster_admin(rules):
        # everything, the items below included
        return ["cluster-admin" if scope == "cluster" else f"admin of everything in {scope}", f"reads Secrets{where}"]
    out = []
    if reads_secrets(rules):
        out.append("reads Secrets" + (" cluster-wide" if scope == "cluster" else where))
    out += [f"{what}{where}" for what in dangerous_subresources(rules)]
    fields = sorted({f for r in rules for f in wildcards(r)})
    if fields:
        out.append(f"wildcard (*) in {', '.join(fields)}{where}")
    return out


def describe_rules(rules: list[dict[str, Any]], limit: int = 6) -> str:
    """`get,list pods,services; * *` — a compact can-i style summary."""
    parts = []
    for r in rules:
        verbs = ",".join(r.get("verbs") or [])
        if r.get("nonResourceURLs"):
            what = ",".join(r["nonResourceURLs"])
        else:
            groups = [g or "core" for g in r.get("apiGroups") or []]
            what = ",".join(r.get("resources") or [])
            if groups and groups != ["core"]:
                what += f" ({','.join(groups)})"
            if r.get("resourceNames"):
                what += f" [{','.join(r['resourceNames'])}]"
        parts.append(f"{verbs} {what}")
    more = len(parts) - limit
    return "; ".join(parts[:limit]) + (f"; and {more} more rules" if more > 0 else "")


@dataclass(frozen=True)
class Grant:
    """One subject of one binding, with the rules of the role it binds."""

    binding: str  # clusterrolebinding/<name> or rolebinding/<ns>/<name>
    binding_name: str  # <name> or <ns>/<name> (as the profile's allow lists write it)
    system: bool  # the binding is one of the cluster's own
    subject: str
    role_kind: str
    role_name: str
    scope: str  # "cluster" or the RoleBinding's namespace
    rules: tuple[dict[str, Any], ...]

    @property
    def role(self) -> str:
        return f"{self.role_kind.lower()}/{self.role_name}"

    @property
    def role_ref(self) -> str:
        return f"{self.role_kind} {self.role_name}"


class Rbac:
    """The cluster's Roles, ClusterRoles and their bindings (one LIST of each)."""

    def __init__(
        self,
        cluster_roles: Iterable[Obj],
        roles: Iterable[Obj],
        cluster_bindings: Iterable[Obj],
        bindings: Iterable[Obj],
        system_prefixes: Iterable[str],
    ) -> None:
        self.prefixes = list(system_prefixes)
        self.cluster_roles = {r["metadata"]["name"]: r for r in cluster_roles}
        self.roles = {(r["metadata"]["namespace"], r["metadata"]["name"]): r for r in roles}
        self.cluster_bindings = list(cluster_bindings)
        self.bindings = list(bindings)

    def _rules(self, ref: dict[str, Any], namespace: str | None) -> tuple[dict[str, Any], ...]:
        if ref.get("kind") == "ClusterRole":
            role = self.cluster_roles.get(ref.get("name", ""))
        else:
            role = self.roles.get((namespace or "", ref.get("name", "")))
        return tuple((role or {}).get("rules") or [])

    def grants(self) -> Iterator[Grant]:
        for b in self.cluster_bindings:
            name = b["metadata"]["name"]
            for s in b.get("subjects") or []:
                yield Grant(
                    f"clusterrolebinding/{name}",
                    name,
                    is_system(b, self.prefixes),
                    subject_key(s, None),
                    b["roleRef"]["kind"],
                    b["roleRef"]["name"],
                    "cluster",
                    self._rules(b["roleRef"], None),
                )
        for b in self.bindings:
            ns, name = b["metadata"]["namespace"], b["metadata"]["name"]
            for s in b.get("subjects") or []:
                yield Grant(
                    f"rolebinding/{ns}/{name}",
                    f"{ns}/{name}",
                    is_system(b, self.prefixes),
                    subject_key(s, ns),
                    b["roleRef"]["kind"],
                    b["roleRef"]["name"],
                    ns,
                    self._rules(b["roleRef"], ns),
                )

    def grants_to(self, identities: set[str]) -> list[Grant]:
        return [g for g in self.grants() if g.subject in identities]

    def custom_roles(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(object, allow-list name, role) of every role that is not the cluster's own."""
        for name, r in sorted(self.cluster_roles.items()):
            if not is_system(r, self.prefixes):
                yield f"clusterrole/{name}", name, r
        for (ns, name), r in sorted(self.roles.items()):
            if not is_system(r, self.prefixes):
                yield f"role/{ns}/{name}", f"{ns}/{name}", r


def privileges(grant: Grant) -> list[str]:
    """What makes a grant privileged: cluster-admin, Secret read access, exec/attach/
    port-forward/proxy subresources, wildcards (dangerous_grants)."""
    rules = list(grant.rules)
    if grant.role_name == "cluster-admin" and not is_cluster_admin(rules):
        rules = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]  # its rules not listed
    return dangerous_grants(rules, grant.scope)


# ----------------------------------------------------------------- the checks' judgments


def custom_grants(rbac: Rbac) -> list[Grant]:
    """The grants of bindings outside the system's own: what an RBAC review judges. None at
    all means the review has nothing to judge (an empty or wrong cluster)."""
    return [g for g in rbac.grants() if not g.system]


def unapproved_bindings(grants: Iterable[Grant], approved: Iterable[str]) -> tuple[list[Row], list[Row]]:
    """(a row per non-system grant, offenders: subjects not on the approved list)."""
    approved = set(approved)
    mine = [g for g in grants if not g.system]
    rows = [
        {
            "object": g.binding,
            "role": g.role_ref,
            "subject": g.subject,
            "approved": "yes" if g.subject in approved else "NO",
        }
        for g in mine
    ]
    offenders = [
        {"object": g.binding, "detail": f"{g.subject} not approved, {g.role_ref}" + _naming(privileges(g))}
        for g in mine
        if g.subject not in approved
    ]
    return rows, offenders


def _naming(dangers: list[str]) -> str:
    return f" [dangerous: {'; '.join(dangers)}]" if dangers else ""


def access_review(
    rbac: Rbac, reviewed_users: Iterable[Any], discovery_roles: Iterable[str]
) -> tuple[list[Row], list[Row]]:
    """(each reviewed user's grants beyond discovery, offenders: roles not among its reviewed ones)."""
    discovery = set(discovery_roles)
    rows, offenders = [], []
    for reviewed in reviewed_users:
        identities = {reviewed.subject, "Group:system:authenticated", *(f"Group:{g}" for g in reviewed.groups)}
        grants = [g for g in rbac.grants_to(identities) if g.role_name not in discovery]
        if not grants:
            rows.append(
                {"object": reviewed.subject, "role": "", "scope": "", "via": "", "can": "nothing beyond discovery"}
            )
        for g in grants:
            rows.append(
                {
                    "object": reviewed.subject,
                    "role": g.role_ref,
                    "scope": g.scope,
                    "via": g.binding,
                    "can": describe_rules(list(g.rules)),
                }
            )
            if g.role_name not in reviewed.roles:
                offenders.append(
                    {
                        "object": reviewed.subject,
                        "detail": f"{g.role_ref} in {g.scope} via {g.binding}, not among its reviewed roles: "
                        f"{', '.join(reviewed.roles) or 'none'}" + _naming(privileges(g)),
                    }
                )
    return rows, offenders


def default_sa_permissions(
    rbac: Rbac, namespaces: Iterable[str], discovery_roles: Iterable[str]
) -> tuple[list[Row], list[Row]]:
    """(rows, offenders): what each namespace's default ServiceAccount may do beyond discovery."""
    discovery = set(discovery_roles)
    rows, offenders = [], []
    for ns in namespaces:
        for g in rbac.grants_to(service_account_identities(ns, "default")):
            if g.role_name in discovery or not g.rules:
                continue
            # a ClusterRoleBinding grants everywhere; a RoleBinding only in its own namespace
            can = describe_rules(list(g.rules))
            rows.append(
                {
                    "object": f"serviceaccount/{ns}/default",
                    "as": g.subject,
                    "role": g.role_ref,
                    "scope": g.scope,
                    "via": g.binding,
                    "can": can,
                }
            )
            offenders.append(
                {
                    "object": f"{ns}/default",
                    "detail": f"{can} in {g.scope} via {g.binding} ({g.role_ref}, bound to {g.subject})"
                    + _naming(privileges(g)),
                }
            )
    return rows, offenders


def privileged_access(grants: Iterable[Grant], approved: Iterable[str]) -> tuple[list[Row], list[Row]]:
    """(a row per non-system privileged grant, offenders: subjects not approved for it)."""
    approved = set(approved)
    rows, offenders = [], []
    for g in grants:
        access = privileges(g)
        if g.system or not access:
            continue
        ok = g.subject in approved
        rows.append(
            {
                "object": g.subject,
                "access": ", ".join(access),
                "role": g.role_ref,
                "via": g.binding,
                "approved": "yes" if ok else "NO",
            }
        )
        if not ok:
            offenders.append({"object": g.subject, "detail": f"{', '.join(access)} via {g.binding} ({g.role_ref})"})
    return rows, offenders


def policy_exceptions(
    rbac: Rbac, allowed_wildcard_roles: Iterable[str], allowed_default_sa_bindings: Iterable[str]
) -> tuple[list[Row], list[Row]]:
    """(allowed, offenders): roles with wildcards and bindings to default ServiceAccounts,
    split by the allow lists."""
    wildcard_ok, default_ok = set(allowed_wildcard_roles), set(allowed_default_sa_bindings)
    offenders: list[Row] = []
    allowed: list[Row] = []
    for obj, name, role in rbac.custom_roles():
        fields = sorted({f for rule in role.get("rules") or [] for f in wildcards(rule)})
        if not fields:
            continue
        detail = "* in " + ", ".join(fields)
        reaches = dangerous_subresources(role.get("rules") or [])
        if reaches:
            detail += " [dangerous: " + "; ".join(reaches) + "]"
        (allowed if name in wildcard_ok else offenders).append({"object": obj, "detail": detail})
    for b, scope in [(b, None) for b in rbac.cluster_bindings] + [
        (b, b["metadata"]["namespace"]) for b in rbac.bindings
    ]:
        defaults = sorted(
            {
                subject_key(s, scope)
                for s in b.get("subjects") or []
                if subject_key(s, scope).startswith("ServiceAccount:") and subject_key(s, scope).endswith("/default")
            }
        )
        if not defaults:
            continue
        name = b["metadata"]["name"] if scope is None else f"{scope}/{b['metadata']['name']}"
        obj = ("clusterrolebinding/" if scope is None else "rolebinding/") + name
        row = {"object": obj, "detail": f"binds {', '.join(defaults)} to {b['roleRef']['kind']} {b['roleRef']['name']}"}
        (allowed if name in default_ok else offenders).append(row)
    return allowed, offenders
