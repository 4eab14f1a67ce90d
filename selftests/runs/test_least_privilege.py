"""Least privilege, proven on the real API server, for the production identity of deploy/rbac/.

- The demo cluster's reader is exactly deploy/rbac/ (the files are applied here as
  `testenv up` applies them, and no other binding names the identity).
- Every cadence of environments/demo.yaml runs as that identity with 0 Forbidden: every
  request it sent is in kube-apiserver's audit log with its response code.
- The API server itself (SubjectAccessReview, asked with the admin identity) says the
  identity may create, update, patch, delete, watch, exec, attach, port-forward, proxy,
  escalate, bind and impersonate nothing, across a representative set of resources and
  namespaces, and may read no Secret outside the namespaces of its Roles; and, so the
  denials mean something, that it may read what the checks read.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from itertools import product
from typing import Any

import pytest

from opscheck.rules import rbac
from selftests.harness import validate_results
from testenv import cluster

pytestmark = pytest.mark.usefixtures("testenv_up")

READER = cluster.READER_USER
READER_GROUPS = ["system:serviceaccounts", f"system:serviceaccounts:{cluster.READER_NAMESPACE}", "system:authenticated"]
EVERY_CADENCE = "daily or weekly or monthly or quarterly or predeploy or postdeploy"

# (API group, resource, namespaced) a write would matter on: workloads, config, identity,
# RBAC, cluster objects, the platform's custom resources.
RESOURCES: list[tuple[str, str, bool]] = [
    ("", "pods", True),
    ("", "secrets", True),
    ("", "configmaps", True),
    ("", "services", True),
    ("", "serviceaccounts", True),
    ("", "persistentvolumeclaims", True),
    ("", "events", True),
    ("", "nodes", False),
    ("", "namespaces", False),
    ("", "persistentvolumes", False),
    ("apps", "deployments", True),
    ("apps", "statefulsets", True),
    ("apps", "daemonsets", True),
    ("batch", "cronjobs", True),
    ("batch", "jobs", True),
    ("networking.k8s.io", "networkpolicies", True),
    ("networking.k8s.io", "ingresses", True),
    ("rbac.authorization.k8s.io", "roles", True),
    ("rbac.authorization.k8s.io", "rolebindings", True),
    ("rbac.authorization.k8s.io", "clusterroles", False),
    ("rbac.authorization.k8s.io", "clusterrolebindings", False),
    ("apiextensions.k8s.io", "customresourcedefinitions", False),
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations", False),
    ("cert-manager.io", "certificates", True),
    ("velero.io", "backups", True),
    ("external-secrets.io", "externalsecrets", True),
    ("argoproj.io", "applications", True),
]
WRITE_VERBS = ["create", "update", "patch", "delete", "deletecollection", "watch"]
# "" is every namespace (a cluster-wide request); the others: an application namespace with
# a Secret Role, the system namespace, opscheck's own, one the reader has no Role in
NAMESPACES = ["", "qsign", "kube-system", cluster.READER_NAMESPACE, "default"]
# (group, resource, subresource, verbs): what runs commands in, attaches to, tunnels into
# or proxies to what it names; `get` reaches them as a WebSocket upgrade
STREAMS: list[tuple[str, str, str, list[str]]] = [
    ("", "pods", "exec", ["create", "get"]),
    ("", "pods", "attach", ["create", "get"]),
    ("", "pods", "portforward", ["create", "get"]),
    ("", "pods", "proxy", ["create", "get"]),
    ("", "nodes", "proxy", ["create", "get"]),
    ("", "services", "proxy", ["create", "get"]),
    ("", "serviceaccounts", "token", ["create"]),
    ("", "pods", "eviction", ["create"]),
    ("apps", "deployments", "scale", ["update", "patch"]),
]
# identity changes: escalate/bind on roles, impersonation
ESCALATIONS: list[tuple[str, str, str, bool]] = [
    ("rbac.authorization.k8s.io", "clusterroles", "escalate", False),
    ("rbac.authorization.k8s.io", "clusterroles", "bind", False),
    ("rbac.authorization.k8s.io", "roles", "escalate", True),
    ("rbac.authorization.k8s.io", "roles", "bind", True),
    ("", "users", "impersonate", False),
    ("", "groups", "impersonate", False),
    ("", "serviceaccounts", "impersonate", True),
    ("authentication.k8s.io", "userextras", "impersonate", False),
    ("certificates.k8s.io", "certificatesigningrequests", "create", False),
]


def _review(namespace: str, verb: str, group: str, resource: str, subresource: str = "") -> dict[str, Any]:
    attrs: dict[str, Any] = {"verb": verb, "group": group, "resource": resource}
    if namespace:
        attrs["namespace"] = namespace
    if subresource:
        attrs["subresource"] = subresource
    return attrs


def _forbidden_questions() -> Iterator[dict[str, Any]]:
    for (group, resource, namespaced), verb in product(RESOURCES, WRITE_VERBS):
        for ns in NAMESPACES if namespaced else [""]:
            yield _review(ns, verb, group, resource)
    for group, resource, sub, verbs in STREAMS:
        namespaced = resource not in ("nodes",)
        for ns, verb in product(NAMESPACES if namespaced else [""], verbs):
            yield _review(ns, verb, group, resource, sub)
    for group, resource, verb, namespaced in ESCALATIONS:
        for ns in NAMESPACES if namespaced else [""]:
            yield _review(ns, verb, group, resource)
    # Secrets outside the Roles: cluster-wide, and namespaces without one
    without_role = ["", "default", cluster.READER_NAMESPACE, "qsign-gateway", "opscheck-autoscaling", "cert-manager"]
    assert not set(without_role) & set(cluster.DEMO.secret_namespaces)
    for ns, verb in product(without_role, ["get", "list", "watch"]):
        yield _review(ns, verb, "", "secrets")


def _allowed_questions() -> Iterator[dict[str, Any]]:
    """What the checks need: a review that denies everything would prove nothing."""
    yield _review("", "list", "", "pods")
    yield _review("", "list", "apps", "deployments")
    yield _review("", "list", "rbac.authorization.k8s.io", "clusterrolebindings")
    yield _review("", "get", "", "nodes")
    yield _review("qsign", "get", "", "pods", "log")
    for ns in cluster.DEMO.secret_namespaces:
        yield _review(ns, "list", "", "secrets")


def _allowed(attrs: dict[str, Any]) -> bool:
    answer = cluster.DEMO.api.request(
        "POST",
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {"user": READER, "groups": READER_GROUPS, "resourceAttributes": attrs},
        },
    )
    return bool(answer["status"].get("allowed"))


def requests_since(offset: int, user: str = READER) -> list[dict[str, Any]]:
    """Every request `user` completed since byte `offset` of kube-apiserver's audit log."""
    time.sleep(1)  # the audit backend writes asynchronously in batches
    with open(cluster.audit_log(), "rb") as f:
        f.seek(offset)
        events = [json.loads(ln) for ln in f.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    return [e for e in events if e.get("user", {}).get("username") == user and e.get("stage") == "ResponseComplete"]


def forbidden_requests(events: list[dict[str, Any]]) -> list[str]:
    """`verb URI` of every request among `events` the API server answered 403 Forbidden."""
    return sorted({f"{e['verb']} {e['requestURI']}" for e in events if e.get("responseStatus", {}).get("code") == 403})


@pytest.fixture(scope="module")
def production_rbac() -> None:
    """The demo cluster's reader is deploy/rbac/ and nothing more (as `testenv up` leaves it)."""
    cluster.ensure_reader_rbac(cluster.DEMO)
    api = cluster.DEMO.api
    model = rbac.Rbac(
        api.list_("ClusterRole"), api.list_("Role"), api.list_("ClusterRoleBinding"), api.list_("RoleBinding"), []
    )
    grants = model.grants_to(rbac.service_account_identities(cluster.READER_NAMESPACE, cluster.READER_SA))
    mine = sorted((g.role_ref, g.scope) for g in grants if g.subject.startswith("ServiceAccount:"))
    assert mine == sorted(
        [("ClusterRole opscheck-reader", "cluster")]
        + [("Role opscheck-secret-reader", ns) for ns in cluster.DEMO.secret_namespaces]
    )
    wanted = next(o for o in cluster.reader_rbac([]) if o["kind"] == "ClusterRole")
    assert api.get("ClusterRole", None, "opscheck-reader")["rules"] == wanted["rules"]


def test_every_cadence_runs_as_the_production_identity_with_no_forbidden_request(checks, production_rbac):
    offset = cluster.audit_log().stat().st_size
    proc, reports = checks.run_pytest("-m", EVERY_CADENCE, "-n", "2")
    (folder,) = [p for p in reports.iterdir() if p.is_dir() and not p.name.startswith(".")]
    data = json.loads((folder / "results.json").read_text())
    validate_results(data)
    assert set(data["run"]["cadences"]) == {"daily", "weekly", "monthly", "quarterly", "predeploy", "postdeploy"}
    mine = requests_since(offset)
    codes = Counter(e.get("responseStatus", {}).get("code") for e in mine)
    forbidden = forbidden_requests(mine)
    print(
        f"least privilege: {len(mine)} requests as {READER}, response codes {dict(codes)}, {len(forbidden)} Forbidden"
    )
    assert len(mine) >= 40, codes
    assert forbidden == []
    assert {e["verb"] for e in mine} <= {"get", "list"}
    # Secrets were read, namespace by namespace, never cluster-wide
    secret_reads = {
        e["requestURI"].partition("?")[0] for e in mine if e["requestURI"].partition("?")[0].endswith("/secrets")
    }
    assert secret_reads and all(uri.startswith("/api/v1/namespaces/") for uri in secret_reads), secret_reads
    # no check saw a permission problem (401/403 or a missing Role) in any other way
    denied = {c["id"]: c["message"] for c in data["checks"] if "forbidden" in c["message"].lower()}
    assert denied == {}


def test_the_api_server_denies_every_write_exec_attach_portforward_proxy_and_secret_outside_the_roles(
    production_rbac,
):
    questions = list(_forbidden_questions())
    allowed = [q for q in questions if _allowed(q)]
    controls = list(_allowed_questions())
    refused_controls = [q for q in controls if not _allowed(q)]
    print(
        f"SubjectAccessReview: {len(questions)} questions of write/exec/attach/port-forward/proxy/escalation/"
        f"Secret access asked, {len(questions) - len(allowed)} denied; {len(controls)} read controls, "
        f"{len(controls) - len(refused_controls)} allowed"
    )
    assert len(questions) >= 500
    assert allowed == []
    assert refused_controls == []
