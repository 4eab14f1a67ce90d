"""Unit tests of the security library's parsing and judging (no test environment needed)."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest

from opscheck.profile import AcceptedFinding, PlaintextCredentials
from opscheck.rules import hardening, mesh, rbac
from opscheck.rules import image_scans as scan_rules
from opscheck.sources import image_scans as vulnscan
from opscheck.sources import kube_bench as kubebench


@pytest.mark.parametrize(
    "ref, expected",
    [
        ("postgres:16.4", "docker.io/library/postgres:16.4"),
        ("docker.io/library/postgres:16.4", "docker.io/library/postgres:16.4"),
        ("index.docker.io/library/postgres:16.4", "docker.io/library/postgres:16.4"),
        ("hashicorp/vault:1.17.6", "docker.io/hashicorp/vault:1.17.6"),
        ("qsign/api-server", "docker.io/qsign/api-server:latest"),
        ("localhost:5000/app:1", "localhost:5000/app:1"),
        ("registry.k8s.io/coredns/coredns:v1.12.0@sha256:abc", "registry.k8s.io/coredns/coredns:v1.12.0"),
        ("quay.io/x/y@sha256:abc", "quay.io/x/y@sha256:abc"),
    ],
)
def test_normalize_image(ref, expected):
    assert vulnscan.normalize_image(ref) == expected


def test_trivy_report_and_acceptance(tmp_path):
    doc = {
        "SchemaVersion": 2,
        "CreatedAt": "2026-11-20T03:00:00Z",
        "ArtifactName": "hashicorp/vault:1.17.6",
        "Results": [
            {
                "Target": "x",
                "Vulnerabilities": [
                    {
                        "VulnerabilityID": "CVE-1",
                        "PkgName": "a",
                        "InstalledVersion": "1",
                        "FixedVersion": "2",
                        "Severity": "CRITICAL",
                    },
                    {"VulnerabilityID": "CVE-2", "PkgName": "b", "InstalledVersion": "1", "Severity": "HIGH"},
                    {"VulnerabilityID": "CVE-3", "PkgName": "c", "InstalledVersion": "1", "Severity": "LOW"},
                ],
            },
            {"Target": "y"},
        ],
    }
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc))
    r = vulnscan.trivy_report(path)
    assert r.image == "docker.io/hashicorp/vault:1.17.6" and r.counts["CRITICAL"] == 1 and r.counts["LOW"] == 1
    today = date(2026, 11, 22)
    accepted = [AcceptedFinding(id="CVE-1", justification="not reachable", images=["hashicorp/vault:1.17.6"])]
    v = scan_rules.judge(r, ["CRITICAL", "HIGH"], accepted, today)
    assert v.blocking == 1 and v.ids == ["CVE-2 in b 1"] and v.accepted == ["CVE-1 in a (not reachable)"]
    # an expired acceptance, or one for another image, no longer applies
    expired = [AcceptedFinding(id="CVE-1", justification="x", expires=date(2026, 11, 1))]
    other = [AcceptedFinding(id="CVE-1", justification="x", images=["hashicorp/vault:1.18.0"])]
    assert scan_rules.judge(r, ["CRITICAL", "HIGH"], expired, today).blocking == 2
    assert scan_rules.judge(r, ["CRITICAL", "HIGH"], other, today).blocking == 2


def test_image_patch_level(tmp_path):
    """monthly.security-patches' images: build time, end-of-life OS, fixes public longer than
    the window; a running image without a report fails; an accepted finding does not count."""
    now = datetime(2026, 12, 5, tzinfo=UTC)

    def report(name: str, built: str, eosl: bool, vulns: list[dict]) -> vulnscan.ScanResult:
        os_info = {"Family": "alpine", "Name": "3.10.9", **({"EOSL": True} if eosl else {})}
        doc = {
            "SchemaVersion": 2,
            "CreatedAt": "2026-12-04T03:00:00Z",
            "ArtifactName": name,
            "Metadata": {"OS": os_info, "ImageConfig": {"created": built}},
            "Results": [{"Target": "t", "Vulnerabilities": vulns}],
        }
        path = tmp_path / f"{name.replace('/', '_')}.json"
        path.write_text(json.dumps(doc))
        return vulnscan.trivy_report(path)

    def vuln(vid: str, severity: str, fixed: str, published: str | None = None) -> dict:
        v = {"VulnerabilityID": vid, "PkgName": "p", "InstalledVersion": "1", "FixedVersion": fixed}
        return {**v, "Severity": severity, **({"PublishedDate": published} if published else {})}

    fresh = report("a/fresh:1", "2026-11-20T00:00:00Z", False, [vuln("CVE-NEW", "HIGH", "2", "2026-11-30T00:00:00Z")])
    assert fresh.image_created == datetime(2026, 11, 20, tzinfo=UTC) and fresh.os == "alpine 3.10.9"
    assert fresh.findings[0].published == datetime(2026, 11, 30, tzinfo=UTC)
    old = report("a/old:1", "2026-01-10T00:00:00Z", True, [])
    unfixed = report(
        "a/unfixed:1",
        "2026-11-20T00:00:00Z",
        False,
        [vuln("CVE-OLD", "CRITICAL", "2", "2025-01-01T00:00:00Z"), vuln("CVE-UNDATED", "HIGH", "3")]
        + [vuln("CVE-NOFIX", "CRITICAL", ""), vuln("CVE-LOW", "LOW", "2"), vuln("CVE-OK", "HIGH", "2")],
    )
    results = vulnscan.newest_by_image([fresh, old, unfixed])
    images = {vulnscan.normalize_image(i): i for i in ("a/fresh:1", "a/old:1", "a/unfixed:1", "a/unscanned:1")}
    accepted = [AcceptedFinding(id="CVE-OK", justification="not reachable")]
    rows, offenders = scan_rules.image_patch_findings(images, results, 90, ["CRITICAL", "HIGH"], accepted, now)
    assert offenders == [
        {"object": "a/old:1", "detail": "built 329 days ago, 2026-01-10 (at most 90); OS alpine 3.10.9 is end of life"},
        {
            "object": "a/unfixed:1",
            "detail": "2 fixes not applied: CVE-OLD in p 1 (fixed in 2, public since 2025-01-01), "
            "CVE-UNDATED in p 1 (fixed in 3)",
        },
        {"object": "a/unscanned:1", "detail": "no scan report"},
    ]
    assert [r["built"] for r in rows] == ["2026-11-20 (15 days)", "2026-01-10 (329 days)", "2026-11-20 (15 days)", ""]


def test_operator_report_counts_only():
    obj = {
        "metadata": {"name": "r", "namespace": "ns"},
        "report": {
            "registry": {"server": "index.docker.io"},
            "artifact": {"repository": "library/postgres", "tag": "16.4"},
            "updateTimestamp": "2026-11-21T00:00:00Z",
            "summary": {"criticalCount": 2, "highCount": 1},
        },
    }
    r = vulnscan.operator_report(obj)
    assert r.image == "docker.io/library/postgres:16.4" and r.findings is None
    assert r.image_created is None and r.os == "" and not r.eosl
    v = scan_rules.judge(r, ["CRITICAL", "HIGH"], [AcceptedFinding(id="CVE-1", justification="x")], date(2026, 11, 22))
    assert v.blocking == 3 and v.detail() == "2 CRITICAL, 1 HIGH"


def test_kube_bench_formats():
    control = {
        "id": "1",
        "node_type": "master",
        "tests": [
            {
                "results": [
                    {"test_number": "1.1.1", "test_desc": "d", "status": "PASS"},
                    {"test_number": "1.2.1", "test_desc": "e", "status": "FAIL", "scored": True},
                ]
            }
        ],
    }
    for text in (
        json.dumps({"Controls": [control], "Totals": {}}),
        json.dumps([control]),
        json.dumps(control) + "\n" + json.dumps(control),
    ):
        results = kubebench.parse(text)
        assert {r.number for r in results} == {"1.1.1", "1.2.1"}
        assert [r.status for r in results if r.number == "1.2.1"][0] == "FAIL"
    with pytest.raises(ValueError):
        kubebench.parse(json.dumps({"foo": 1}))


def _np(name, selector=None, types=None, ingress=None, egress=None):
    spec = {"podSelector": selector or {}}
    if types is not None:
        spec["policyTypes"] = types
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    return {"metadata": {"name": name, "namespace": "ns"}, "spec": spec}


def test_default_deny_detection():
    assert hardening.default_deny(_np("a", types=["Ingress", "Egress"])) == {"Ingress", "Egress"}
    assert hardening.default_deny(_np("b")) == {"Ingress"}  # policyTypes defaults to Ingress
    assert hardening.default_deny(_np("c", types=["Ingress", "Egress"], ingress=[{}])) == {"Egress"}
    assert hardening.default_deny(_np("d", selector={"matchLabels": {"app": "x"}}, types=["Ingress"])) == set()
    split = hardening.namespace_policies(
        ["ns", "empty"], [_np("deny-in", types=["Ingress"]), _np("deny-out", types=["Egress"])]
    )
    assert split[0].problems() == [] and split[1].problems() == ["no NetworkPolicy"]
    only_in = hardening.namespace_policies(["ns"], [_np("deny-in", types=["Ingress"])])
    assert only_in[0].problems() == ["no default-deny for Egress"]


def test_pss_levels():
    ns = {
        "metadata": {
            "labels": {
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/audit": "baseline",
            }
        }
    }
    assert hardening.pss_problems(ns, "restricted", ["enforce", "audit", "warn"]) == [
        "audit=baseline, restricted required",
        "warn not set",
    ]
    assert hardening.pss_problems(ns, "baseline", ["enforce", "audit"]) == []
    assert hardening.pss_problems(None, "restricted", ["enforce"]) == ["namespace not found"]


def test_credentials_report_key_names_never_values():
    pattern = re.compile(PlaintextCredentials().key_pattern)
    cm = {
        "metadata": {"name": "c", "namespace": "ns"},
        "data": {
            "DB_PASSWORD": "hunter2",
            "SECRET_NAME": "db-creds",
            "API_TOKEN": "${TOKEN}",
            "client-secret": "",
            "app.yaml": "db:\n  password: hunter3\n  user: app\n# token: old\napi_key: $(KEY)\n",
        },
    }
    found = list(hardening.configmap_credentials(cm, pattern))
    assert [c.location for c in found] == ["key DB_PASSWORD", "key app.yaml: password"]
    assert not any("hunter" in str(vars(c)) for c in found)
    deploy = {
        "metadata": {"name": "d", "namespace": "ns"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "env": [
                                {"name": "ADMIN_PASSWORD", "value": "x"},
                                {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "s", "key": "p"}}},
                                {"name": "TOKEN_TTL", "value": "3600"},
                            ],
                        }
                    ]
                }
            }
        },
    }
    assert [c.location for c in hardening.env_credentials("deployments", deploy, pattern)] == [
        "container app env ADMIN_PASSWORD"
    ]


def _pa(ns, name, mode, selector=None, created="2026-01-01T00:00:00Z", ports=None):
    spec = {"mtls": {"mode": mode}} if mode else {}
    if selector:
        spec["selector"] = {"matchLabels": selector}
    if ports:
        spec["portLevelMtls"] = ports
    return {"metadata": {"namespace": ns, "name": name, "creationTimestamp": created}, "spec": spec}


def test_mtls_precedence():
    mesh_strict = _pa("istio-system", "default", "STRICT")
    assert mesh.namespace_mtls("app", [mesh_strict], "istio-system") == (
        "STRICT",
        "peerauthentication/istio-system/default (mesh-wide)",
    )
    assert mesh.namespace_mtls("app", [], "istio-system")[0] == "PERMISSIVE"
    ns_permissive = _pa("app", "p", "PERMISSIVE")
    assert mesh.namespace_mtls("app", [mesh_strict, ns_permissive], "istio-system") == (
        "PERMISSIVE",
        "peerauthentication/app/p",
    )
    # UNSET inherits the mesh-wide mode
    assert mesh.namespace_mtls("app", [mesh_strict, _pa("app", "u", "UNSET")], "istio-system")[0] == "STRICT"
    workload = _pa("app", "w", "DISABLE", selector={"app": "legacy"}, ports={"8080": {"mode": "PERMISSIVE"}})
    assert mesh.workload_overrides("app", [workload]) == [
        ("peerauthentication/app/w", "DISABLE for pods app=legacy"),
        ("peerauthentication/app/w", "PERMISSIVE on port 8080"),
    ]


def test_istio_versions():
    assert mesh.image_tag("docker.io/istio/pilot:1.23.2-distroless") == "1.23.2-distroless"
    assert mesh.version_problems("1.23.2-distroless", "1.22.0", ["1.22", "1.23"]) == []
    assert mesh.version_problems("1.19.3", "1.20.1", []) == ["1.19.3 is below the minimum 1.20.1"]
    assert mesh.version_problems("1.21.0", None, ["1.22", "1.23"]) == ["1.21 is not a supported release (1.22, 1.23)"]
    assert mesh.version_problems("latest", "1.20", []) == ["version 'latest' cannot be read"]


def test_rbac_helpers():
    assert rbac.subject_key({"kind": "User", "name": "system:serviceaccount:ns:sa"}, None) == "ServiceAccount:ns/sa"
    assert rbac.subject_key({"kind": "ServiceAccount", "name": "sa"}, "ns") == "ServiceAccount:ns/sa"
    assert rbac.is_cluster_admin([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])
    assert not rbac.is_cluster_admin([{"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}])
    assert rbac.reads_secrets([{"apiGroups": [""], "resources": ["*"], "verbs": ["list"]}])
    assert not rbac.reads_secrets([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]}])
    assert rbac.wildcards({"verbs": ["get"], "resources": ["*"], "apiGroups": ["*"]}) == ["apiGroups", "resources"]
    assert rbac.is_system({"metadata": {"name": "x", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}}}, [])
    assert rbac.is_system({"metadata": {"name": "system:x"}}, ["system:"])


def test_dangerous_grants_name_exec_attach_portforward_proxy_secrets_and_wildcards():
    core = lambda resources, verbs: {"apiGroups": [""], "resources": resources, "verbs": verbs}  # noqa: E731
    assert rbac.dangerous_grants([core(["pods", "pods/log"], ["get", "list"])]) == []
    # get is enough: a WebSocket upgrade is a GET, nodes/proxy get runs commands through the kubelet
    assert rbac.dangerous_grants([core(["nodes/proxy"], ["get"])]) == ["commands in any container via nodes/proxy"]
    assert rbac.dangerous_grants([core(["pods/exec", "pods/attach", "pods/portforward"], ["create"])]) == [
        "exec into pods via pods/exec",
        "attach to containers via pods/attach",
        "port-forward into pods via pods/portforward",
    ]
    assert rbac.dangerous_grants([core(["services/proxy"], ["get"])], "qsign") == [
        "reach any service port via services/proxy in qsign"
    ]
    # the RBAC authorizer's own matching: pods/* and */exec cover pods/exec
    assert "exec into pods via pods/exec" in rbac.dangerous_grants([core(["pods/*"], ["get"])])
    assert rbac.dangerous_grants([core(["*/exec"], ["create"])]) == ["exec into pods via pods/exec"]
    # list/watch on a subresource does not open a stream; other API groups are not the core subresources
    assert rbac.dangerous_grants([core(["pods/exec"], ["list", "watch"])]) == []
    assert rbac.dangerous_grants([{"apiGroups": ["apps"], "resources": ["pods/exec"], "verbs": ["get"]}]) == []
    assert rbac.dangerous_grants([core(["secrets"], ["watch"])]) == ["reads Secrets cluster-wide"]
    assert rbac.dangerous_grants([core(["secrets"], ["get"])], "qsign") == ["reads Secrets in qsign"]
    assert rbac.dangerous_grants([core(["*"], ["get", "list"])]) == [
        "reads Secrets cluster-wide",
        "commands in any container via nodes/proxy",
        "exec into pods via pods/exec",
        "attach to containers via pods/attach",
        "port-forward into pods via pods/portforward",
        "reach any service port via services/proxy",
        "wildcard (*) in resources",
    ]
    assert rbac.dangerous_grants([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]) == [
        "cluster-admin",
        "reads Secrets",
    ]


def test_privileged_access_and_reviews_name_the_dangerous_grant():
    role = {
        "metadata": {"name": "debugger"},
        "rules": [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]}],
    }
    binding = {
        "metadata": {"name": "debug"},
        "roleRef": {"kind": "ClusterRole", "name": "debugger"},
        "subjects": [{"kind": "User", "name": "mallory"}],
    }
    model = rbac.Rbac([role], [], [binding], [], ["system:"])
    grants = rbac.custom_grants(model)
    rows, offenders = rbac.privileged_access(grants, [])
    assert offenders == [
        {
            "object": "User:mallory",
            "detail": "exec into pods via pods/exec via clusterrolebinding/debug (ClusterRole debugger)",
        }
    ]
    assert rows[0]["approved"] == "NO"
    assert rbac.privileged_access(grants, ["User:mallory"])[1] == []
    _, offenders = rbac.unapproved_bindings(grants, [])
    assert offenders[0]["detail"] == (
        "User:mallory not approved, ClusterRole debugger [dangerous: exec into pods via pods/exec]"
    )


def test_certificate_state():
    from opscheck.rules.cert_manager import certificate_state

    now = datetime(2026, 11, 22, tzinfo=UTC)
    obj = {
        "metadata": {"name": "c", "namespace": "ns"},
        "spec": {"secretName": "s"},
        "status": {
            "conditions": [{"type": "Ready", "status": "False", "reason": "Failed", "message": "issuer down"}],
            "notAfter": (now + timedelta(days=10)).isoformat(),
            "renewalTime": (now - timedelta(days=2)).isoformat(),
        },
    }
    assert certificate_state(obj).problems(now, 30) == [
        "Ready=False: Failed (issuer down)",
        "expires in 10 days (2026-12-02)",
        "renewal overdue since 2026-11-20 00:00Z",
    ]
    assert certificate_state({"metadata": {"name": "n", "namespace": "ns"}}).problems(now, 30) == [
        "Ready=missing",
        "no status.notAfter (never issued)",
    ]
