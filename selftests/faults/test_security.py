"""Fault injection for the Kubernetes security checks: each test breaks the real thing in
the demo cluster (through the API server, as a person or a controller would) or in the
report files the scanners write, asserts the check fails naming it, repairs, and asserts
the check passes again. Objects made here carry opscheck.testenv/injected=true, so
testenv/security.py's up() removes any a crashed test left behind.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from opscheck.timeutil import utc_now
from selftests.faults.common import drop_keys, fails_with, fields_replaced
from selftests.harness import broken
from testenv import cluster, demo, security
from testenv.procs import wait_for
from testenv.readiness import deployment_done

pytestmark = pytest.mark.usefixtures("testenv_up")

INJECTED = {"opscheck.testenv/injected": "true"}
RBAC = "rbac.authorization.k8s.io/v1"


def _create(obj: dict) -> None:
    obj["metadata"].setdefault("labels", {}).update(INJECTED)
    cluster.DEMO.api.create(obj)


def _made(*objs: dict):
    """broken() arguments that create `objs` in order (a role before its binding) and delete
    them again in reverse."""

    def make() -> None:
        for obj in objs:
            _create(obj)

    def drop() -> None:
        for obj in reversed(objs):
            md = obj["metadata"]
            cluster.delete(obj["kind"], md.get("namespace"), md["name"])

    return make, drop


def _manifest(kind: str, namespace: str | None, name: str) -> dict:
    return next(
        d
        for d in demo.load_manifest("security.yaml")
        if d["kind"] == kind and d["metadata"].get("namespace") == namespace and d["metadata"]["name"] == name
    )


def _role(kind: str, name: str, rules: list[dict], namespace: str | None = None) -> dict:
    """A Role or ClusterRole made by a test."""
    return {"apiVersion": RBAC, "kind": kind, "metadata": _metadata(name, namespace), "rules": rules}


def _binding(kind: str, name: str, role: tuple[str, str], subject: dict, namespace: str | None = None) -> dict:
    """A RoleBinding or ClusterRoleBinding made by a test; `role` is (kind, name)."""
    return {
        "apiVersion": RBAC,
        "kind": kind,
        "metadata": _metadata(name, namespace),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role[0], "name": role[1]},
        "subjects": [subject],
    }


def _metadata(name: str, namespace: str | None) -> dict:
    return {"name": name} if namespace is None else {"name": name, "namespace": namespace}


def _user(name: str) -> dict:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}


# ------------------------------------------------------------------ certificates


def test_monthly_cert_expiry_fails_on_an_hsm_certificate_expiring_in_ten_days(checks):
    with checks.fails_then_recovers(
        "monthly.cert-expiry",
        broken(
            lambda: security.write_hsm_certificate(days_valid=10),
            lambda: security.write_hsm_certificate(days_valid=365),
        ),
    ) as r:
        path = re.escape(str(security.hsm_certificate_file()))
        assert re.fullmatch(
            rf"1 certificates unreadable or expiring within 30 days: hsm-adapter:{path} "
            r"\(expires in (9|10) days \(\d{4}-\d\d-\d\d\)\)",
            r.message,
        ), r.message
        # the TLS Secrets are still listed with their dates
        assert any(row[0] == "qsign/api-server-tls" for row in r.evidence["rows"])


# ------------------------------------------------------------------ RBAC

INTRUDER = _binding(
    "ClusterRoleBinding", "opscheck-selftest-intruder", ("ClusterRole", "cluster-admin"), _user("mallory")
)


DEBUGGER_ROLE = _role(
    "ClusterRole",
    "opscheck-selftest-debugger",
    # read-looking verbs only: get opens exec and port-forward streams (WebSocket) and runs
    # commands through the kubelet's API (nodes/proxy)
    [
        {"apiGroups": [""], "resources": ["pods", "pods/exec", "pods/portforward"], "verbs": ["get", "list"]},
        {"apiGroups": [""], "resources": ["nodes/proxy"], "verbs": ["get"]},
    ],
)
DEBUGGER_BINDING = _binding(
    "ClusterRoleBinding",
    "opscheck-selftest-debugger",
    ("ClusterRole", "opscheck-selftest-debugger"),
    # an approved subject (monthly.rbac-approved-subjects passes), not approved for privileged access
    _user("operator"),
)
DEBUGGER_GRANTS = (
    "commands in any container via nodes/proxy, exec into pods via pods/exec, "
    "port-forward into pods via pods/portforward"
)


def test_rbac_checks_name_exec_portforward_and_nodes_proxy_granted_with_get(checks):
    with broken(*_made(dict(DEBUGGER_ROLE), dict(DEBUGGER_BINDING))):
        r = checks.until("quarterly.privileged-access", "failed")
        assert r.message == (
            f"1 privileged subjects not approved: User:operator ({DEBUGGER_GRANTS} via "
            "clusterrolebinding/opscheck-selftest-debugger (ClusterRole opscheck-selftest-debugger))"
        ), r.message
        r = checks.until("monthly.access-review", "failed")
        assert r.message == (
            "1 unexpected role grants: User:operator (ClusterRole opscheck-selftest-debugger in cluster via "
            "clusterrolebinding/opscheck-selftest-debugger, not among its reviewed roles: qsign-operator "
            f"[dangerous: {DEBUGGER_GRANTS.replace(', ', '; ')}])"
        ), r.message
        assert checks.one("monthly.rbac-approved-subjects").outcome == "passed"
    checks.until("quarterly.privileged-access", "passed")
    checks.until("monthly.access-review", "passed")


def test_access_review_fails_when_a_reviewed_user_gets_a_role_beyond_review(checks):
    escalation = _binding(
        "RoleBinding", "opscheck-selftest-escalation", ("ClusterRole", "edit"), _user("viewer"), namespace="qsign"
    )
    with checks.fails_then_recovers("monthly.access-review", broken(*_made(escalation))) as r:
        assert r.message.startswith(
            "1 unexpected role grants: User:viewer (ClusterRole edit in qsign via "
            "rolebinding/qsign/opscheck-selftest-escalation, not among its reviewed roles: view [dangerous: "
            "reads Secrets in qsign; "
        ), r.message
        # edit lets its holder into the pods of the namespace: named
        for grant in ("exec into pods via pods/exec", "attach to containers via pods/attach"):
            assert f"{grant} in qsign" in r.message, r.message


# ------------------------------------------------------------------ network and pod security


def test_plaintext_credentials_fail_on_a_password_in_a_configmap_and_an_env_literal(checks):
    password, token = "S3cr3t-selftest-pw-4711", "tok-selftest-0815"
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "opscheck-selftest-app-config", "namespace": "qsign"},
        "data": {
            "DATABASE_PASSWORD": password,
            "SECRET_NAME": "qsign-db-credentials",
            "application.properties": f"spring.datasource.url=jdbc:postgresql://db/qsign\n"
            f"spring.datasource.password={password}\n",
        },
    }
    make_cm, drop_cm = _made(cm)
    env_path = "/spec/template/spec/containers/0/env"

    def leak() -> None:
        make_cm()
        cluster.patch(
            "Deployment",
            "qsign-gateway",
            "gateway",
            [{"op": "add", "path": env_path, "value": [{"name": "API_TOKEN", "value": token}]}],
            kind_of_patch="json",
        )

    def clean() -> None:
        drop_cm()
        if (cluster.get("Deployment", "qsign-gateway", "gateway")["spec"]["template"]["spec"]["containers"][0]).get(
            "env"
        ):
            cluster.patch(
                "Deployment", "qsign-gateway", "gateway", [{"op": "remove", "path": env_path}], kind_of_patch="json"
            )

    with checks.fails_then_recovers("monthly.plaintext-credentials", broken(leak, clean)) as r:
        assert r.message == (
            "3 credentials in plain text (key names shown, values withheld): "
            "configmap/qsign/opscheck-selftest-app-config (key DATABASE_PASSWORD), "
            "configmap/qsign/opscheck-selftest-app-config (key application.properties: spring.datasource.password), "
            "deployment/qsign-gateway/gateway (container gateway env API_TOKEN)"
        ), r.message
        # key names only: neither value is anywhere in what the run recorded
        recorded = json.dumps(r.raw)
        assert password not in recorded and token not in recorded


# ------------------------------------------------------------------ scans and benchmark

CRITICAL_OPENSSL = (
    "CVE-2024-5535",
    "libssl3",
    "3.3.0-r2",
    "3.3.1-r1",
    "CRITICAL",
    "openssl: SSL_select_next_proto buffer overread",
)


def image_checks_fail(checks, expected: str) -> None:
    """Both image checks fail with `expected` ({what}: which images they read)."""
    r = checks.until("weekly.image-vulnerabilities", "failed")
    assert r.message == expected.format(what="running images"), r.message
    r = checks.until("predeploy.image-vulnerabilities", "failed")
    assert r.message == expected.format(what="release images"), r.message


def image_checks_pass(checks) -> None:
    checks.until("weekly.image-vulnerabilities", "passed")
    checks.until("predeploy.image-vulnerabilities", "passed")


def test_image_checks_fail_on_a_critical_finding_in_a_trivy_report(checks):
    name = "opscheck-selftest-api-server.json"
    with broken(
        lambda: security.write_trivy_report("qsign/api-server:1.4.2", [CRITICAL_OPENSSL], name=name),
        lambda: security.remove_trivy_report(name),
    ):
        expected = (
            "1 {what} with CRITICAL/HIGH findings or no recent scan: qsign/api-server:1.4.2 "
            "(1 CRITICAL: CVE-2024-5535 in libssl3 3.3.0-r2 (fixed in 3.3.1-r1))"
        )
        image_checks_fail(checks, expected)
    image_checks_pass(checks)


def test_release_images_fail_on_an_image_never_scanned(checks):
    env = {"OPSCHECK_RELEASE_IMAGES": "qsign/api-server:1.5.0 qsign/signature-service:1.4.2"}
    r = checks.until("predeploy.image-vulnerabilities", "failed", env=env)
    assert r.message == (
        "1 release images with CRITICAL/HIGH findings or no recent scan: qsign/api-server:1.5.0 (no scan result)"
    ), r.message
    checks.until("predeploy.image-vulnerabilities", "passed")


def test_image_checks_fail_on_a_scan_40_days_old(checks):
    """A report keeps the time trivy states in it (CreatedAt): 40 days ago is too old for the
    monthly scan item however new the file is."""
    image = "qsign/api-server:1.4.2"
    taken = (utc_now() - timedelta(days=40)).replace(microsecond=0)
    vulns = security.TRIVY_IMAGES[image]["vulns"]
    with broken(
        lambda: security.write_trivy_report(image, vulns, created=taken),
        lambda: security.write_trivy_report(image, vulns),
    ):
        expected = (
            "1 {what} with CRITICAL/HIGH findings or no recent scan: qsign/api-server:1.4.2 (newest scan is 40 "
            f"days old, run {taken:%Y-%m-%d %H:%M}Z by trivy report scan_results_qsign_api-server_1.4.2.json "
            "(at most 31 days))"
        )
        image_checks_fail(checks, expected)
    image_checks_pass(checks)


def test_cis_benchmark_fails_on_results_40_days_old_and_on_undated_results(checks):
    taken = (utc_now() - timedelta(days=40)).replace(microsecond=0)
    with checks.fails_then_recovers(
        "monthly.cis-benchmark",
        broken(lambda: security.write_kube_bench(taken_at=taken), security.write_kube_bench),
    ) as r:
        assert r.message == (
            "1 kube-bench results not from the last 35 days: kube-bench-results.json "
            f"(results are 40 days old, taken {taken:%Y-%m-%d %H:%M}Z (at most 35 days))"
        ), r.message

    # kube-bench's own output, published without the time it was taken
    undated = broken(lambda: drop_keys(security.kube_bench_file(), "timestamp"), security.write_kube_bench)
    with checks.fails_then_recovers("monthly.cis-benchmark", undated) as r:
        assert r.message == (
            "1 kube-bench results not from the last 35 days: kube-bench-results.json "
            "(states no time it was taken (a top-level timestamp in the results))"
        ), r.message


# ------------------------------------------------------------------ Istio


def test_istio_version_fails_on_an_istiod_below_the_minimum(checks):
    path = "/spec/template/spec/containers/0/image"
    before = cluster.get("Deployment", "istio-system", "istiod")["spec"]["template"]["spec"]["containers"][0]["image"]
    old_istiod = fields_replaced(
        "Deployment", "istio-system", "istiod", {path: "docker.io/istio/pilot:1.19.3"}, {path: before}
    )
    # Passes again only once no pod of the old image is left (the check counts the pods too).
    with checks.fails_then_recovers("monthly.istio-version", old_istiod) as r:
        # the Deployment at once, then its new pods as they roll out
        assert re.match(
            r"\d+ istiod versions out of support: deployment/istio-system/istiod "
            r"\(1\.19\.3 is below the minimum 1\.20\.1; 1\.19 is not a supported release \(1\.20, 1\.21, 1\.22\)\)",
            r.message,
        ), r.message
    wait_for(lambda: deployment_done(cluster.get("Deployment", "istio-system", "istiod")), 60, "istiod rolled back")


# ------------------------------------------------------------------ one fault, one check

SECRET_LISTER = _role(
    "ClusterRole",
    "opscheck-selftest-secret-lister",
    [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list", "watch"]}],
)
SECRET_LISTER_BINDING = _binding(
    "ClusterRoleBinding",
    "opscheck-selftest-secret-lister",
    ("ClusterRole", "opscheck-selftest-secret-lister"),
    _user("viewer"),
)
SECRET_READER = _role(
    "Role",
    "opscheck-selftest-secret-reader",
    [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}],
    namespace="qsign",
)
DEFAULT_SA_BINDING = _binding(
    "RoleBinding",
    "opscheck-selftest-default-sa",
    ("Role", "opscheck-selftest-secret-reader"),
    {"kind": "ServiceAccount", "name": "default", "namespace": "qsign"},
    namespace="qsign",
)
WILDCARD_ROLE = _role(
    "Role", "opscheck-selftest-wildcard", [{"apiGroups": [""], "resources": ["*"], "verbs": ["*"]}], namespace="qsign"
)
POD_WITHOUT_SIDECAR = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "opscheck-selftest-no-sidecar",
        "namespace": "qsign-gateway",
        "annotations": {"sidecar.istio.io/inject": "false"},
    },
    "spec": {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": "debug",
                "image": "qsign/gateway:1.4.2",
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
            }
        ],
    },
}
PERMISSIVE_MTLS = {
    "apiVersion": "security.istio.io/v1beta1",
    "kind": "PeerAuthentication",
    "metadata": {"name": "opscheck-selftest-permissive", "namespace": "qsign-gateway"},
    "spec": {"mtls": {"mode": "PERMISSIVE"}},
}
HIGH_POSTGRES = (
    "CVE-2024-10979",
    "postgresql-16",
    "16.4-1.pgdg120+2",
    "16.5-1.pgdg120+1",
    "HIGH",
    "postgresql: PostgreSQL PL/Perl environment variable changes execute arbitrary code",
)
CIS_FAILURE = ("1.2.15", "Ensure that the --profiling argument is set to false (Automated)", "FAIL", "master")


def gateway_namespace_labelled(labels: dict[str, str | None]):
    """The qsign-gateway Namespace's labels changed (None: removed), then as its manifest."""
    return broken(
        lambda: cluster.patch("Namespace", None, "qsign-gateway", {"metadata": {"labels": labels}}),
        lambda: security.apply(_manifest("Namespace", None, "qsign-gateway")),
    )


def certificates(fault):
    """A fault of the real cert-manager's Certificates; the manifests' issuer and lifetimes on exit."""
    return broken(fault, security.restore_certificates)


# case -> (check, the fault, the message in full (a regex))
SECURITY_FAULTS = {
    # The real cert-manager controller: its ClusterIssuer's CA withdrawn, a Certificate whose
    # Secret is gone cannot be issued again and cert-manager reports it not Ready.
    "issuer revoked": (
        "daily.cert-manager-certificates",
        lambda: certificates(lambda: security.revoke_issuer("qsign", "api-server-tls")),
        r"1 Certificates not Ready or expiring within 30 days: qsign/api-server-tls "
        r"\(Ready=False: DoesNotExist \(Issuing certificate as Secret does not exist\); "
        r"no status.notAfter \(never issued\)\)",
    ),
    # cert-manager issues a 10-day certificate (spec.duration 240h) and renews it on time, a
    # day before it expires: the check fails on the lifetime left, not on a missed renewal.
    "certificate expiring in ten days": (
        "daily.cert-manager-certificates",
        lambda: certificates(lambda: security.short_lived_certificate("qsign", "signature-service-tls", days=10)),
        r"1 Certificates not Ready or expiring within 30 days: qsign/signature-service-tls "
        r"\(expires in (9|10) days \(\d{4}-\d\d-\d\d\)\)",
    ),
    "cluster-admin for an unapproved user": (
        "monthly.rbac-approved-subjects",
        lambda: broken(*_made(INTRUDER)),
        re.escape(
            "1 bindings to subjects not on the approved list: clusterrolebinding/opscheck-selftest-intruder "
            "(User:mallory not approved, ClusterRole cluster-admin [dangerous: cluster-admin; reads Secrets])"
        ),
    ),
    "cluster-admin for an unapproved user, privileged": (
        "quarterly.privileged-access",
        lambda: broken(*_made(INTRUDER)),
        re.escape(
            "1 privileged subjects not approved: User:mallory (cluster-admin, reads Secrets via "
            "clusterrolebinding/opscheck-selftest-intruder (ClusterRole cluster-admin))"
        ),
    ),
    "the default service account reads secrets": (
        "monthly.default-sa-permissions",
        lambda: broken(*_made(SECRET_READER, DEFAULT_SA_BINDING)),
        re.escape(
            "1 permissions of default ServiceAccounts: qsign/default (get,list secrets in qsign via "
            "rolebinding/qsign/opscheck-selftest-default-sa (Role opscheck-selftest-secret-reader, "
            "bound to ServiceAccount:qsign/default) [dangerous: reads Secrets in qsign])"
        ),
    ),
    "the default service account reads secrets, policy": (
        "quarterly.rbac-policy",
        lambda: broken(*_made(SECRET_READER, DEFAULT_SA_BINDING)),
        re.escape(
            "1 wildcard roles or default ServiceAccount bindings outside the allowed lists: "
            "rolebinding/qsign/opscheck-selftest-default-sa (binds ServiceAccount:qsign/default "
            "to Role opscheck-selftest-secret-reader)"
        ),
    ),
    "cluster-wide secret reads": (
        "quarterly.privileged-access",
        lambda: broken(*_made(SECRET_LISTER, SECRET_LISTER_BINDING)),
        re.escape(
            "1 privileged subjects not approved: User:viewer (reads Secrets cluster-wide via "
            "clusterrolebinding/opscheck-selftest-secret-lister (ClusterRole opscheck-selftest-secret-lister))"
        ),
    ),
    "a wildcard role": (
        "quarterly.rbac-policy",
        lambda: broken(*_made(WILDCARD_ROLE)),
        re.escape(
            "1 wildcard roles or default ServiceAccount bindings outside the allowed lists: "
            "role/qsign/opscheck-selftest-wildcard (* in resources, verbs [dangerous: commands in any container via "
            "nodes/proxy; exec into pods via pods/exec; attach to containers via pods/attach; port-forward into pods "
            "via pods/portforward; reach any service port via services/proxy])"
        ),
    ),
    "no default deny": (
        "monthly.network-policies",
        lambda: broken(
            lambda: cluster.delete("NetworkPolicy", "qsign-gateway", "default-deny-all"),
            lambda: security.apply(_manifest("NetworkPolicy", "qsign-gateway", "default-deny-all")),
        ),
        re.escape(
            "1 namespaces without NetworkPolicies or a default deny: "
            "qsign-gateway (no default-deny for Ingress and Egress)"
        ),
    ),
    "no enforce label": (
        "monthly.pod-security-labels",
        lambda: gateway_namespace_labelled({"pod-security.kubernetes.io/enforce": None}),
        re.escape("1 namespaces without Pod Security Standard restricted: qsign-gateway (enforce not set)"),
    ),
    "a weaker level": (
        "monthly.pod-security-labels",
        lambda: gateway_namespace_labelled({"pod-security.kubernetes.io/warn": "baseline"}),
        re.escape(
            "1 namespaces without Pod Security Standard restricted: qsign-gateway (warn=baseline, restricted required)"
        ),
    ),
    "a high finding in a vulnerability report": (
        "weekly.image-vulnerabilities",
        lambda: broken(
            lambda: security.put_vulnerability_report("statefulset-postgresql-postgresql", extra=[HIGH_POSTGRES]),
            lambda: security.apply_vulnerability_reports(force=True),
        ),
        re.escape(
            "1 running images with CRITICAL/HIGH findings or no recent scan: postgres:16.4 "
            "(1 HIGH: CVE-2024-10979 in postgresql-16 16.4-1.pgdg120+2 (fixed in 16.5-1.pgdg120+1))"
        ),
    ),
    "a new CIS failure": (
        "monthly.cis-benchmark",
        lambda: broken(lambda: security.write_kube_bench(extra=[CIS_FAILURE]), security.write_kube_bench),
        re.escape(
            "1 CIS benchmark findings not accepted: "
            "1.2.15 (FAIL: Ensure that the --profiling argument is set to false (Automated))"
        ),
    ),
    "a pod without the sidecar": (
        "daily.sidecar-injected",
        lambda: broken(*_made(POD_WITHOUT_SIDECAR)),
        re.escape(
            "1 pods or namespaces outside the mesh: qsign-gateway/opscheck-selftest-no-sidecar "
            "(no istio-proxy container (sidecar.istio.io/inject: false))"
        ),
    ),
    "a permissive namespace policy": (
        "monthly.mtls-strict",
        lambda: broken(*_made(PERMISSIVE_MTLS)),
        re.escape(
            "1 mesh namespaces or workloads without STRICT mTLS: "
            "qsign-gateway (PERMISSIVE from peerauthentication/qsign-gateway/opscheck-selftest-permissive)"
        ),
    ),
}


@pytest.mark.parametrize("case", SECURITY_FAULTS)
def test_security_checks_fail(checks, case):
    fails_with(checks, SECURITY_FAULTS[case])
