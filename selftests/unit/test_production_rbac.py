"""The production RBAC (deploy/rbac/) against what opscheck reads: every kind of
opscheck/sources/kube.py KINDS with get/list, pods/log with get, Secrets only through the
namespaced Role, and nothing the suite's own RBAC checks call dangerous."""

from __future__ import annotations

from pathlib import Path

import yaml

from opscheck.rules import rbac
from opscheck.sources.kube import KINDS, PER_NAMESPACE

RBAC_DIR = Path(__file__).resolve().parents[2] / "deploy" / "rbac"


def _docs(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((RBAC_DIR / name).read_text()) if d]


def _cluster_role() -> dict:
    return next(d for d in _docs("reader.yaml") if d["kind"] == "ClusterRole")


def _group_resource(path: str) -> tuple[str, str]:
    parts = path.strip("/").split("/")
    return ("" if parts[0] == "api" else parts[1]), parts[-1]


def test_the_cluster_role_grants_exactly_the_listed_kinds_with_get_and_list():
    rules = _cluster_role()["rules"]
    granted = {(g, r): tuple(rule["verbs"]) for rule in rules for g in rule["apiGroups"] for r in rule["resources"]}
    wanted = {_group_resource(path) for kind, path in KINDS.items() if kind not in PER_NAMESPACE}
    wanted_verbs = {gr: ("get", "list") for gr in wanted} | {("", "pods/log"): ("get",)}
    assert granted == wanted_verbs
    assert not any("nonResourceURLs" in r or "resourceNames" in r for r in rules)


def test_nothing_in_the_production_rbac_is_dangerous():
    assert rbac.dangerous_grants(_cluster_role()["rules"]) == []
    role = next(d for d in _docs("secret-reader.yaml") if d["kind"] == "Role")
    # Secrets only, get/list only, in the namespace the Role is applied to
    assert rbac.dangerous_grants(role["rules"], "qsign") == ["reads Secrets in qsign"]
    assert role["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]
    for name in ("reader.yaml", "secret-reader.yaml"):
        for doc in _docs(name):
            for rule in doc.get("rules") or []:
                assert not rbac.wildcards(rule), (name, rule)
                assert set(rule["verbs"]) <= {"get", "list"}, (name, rule)


def test_the_bindings_name_the_one_service_account_and_the_secret_role_has_no_namespace():
    subject = [{"kind": "ServiceAccount", "name": "opscheck", "namespace": "opscheck-system"}]
    bindings = [d for n in ("reader.yaml", "secret-reader.yaml") for d in _docs(n) if d["kind"].endswith("Binding")]
    assert len(bindings) == 2 and all(b["subjects"] == subject for b in bindings)
    # `kubectl apply -n <namespace>` places it: no namespace written in the file
    assert all("namespace" not in d["metadata"] for d in _docs("secret-reader.yaml"))
