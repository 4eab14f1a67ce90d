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


# ------------------------------------------------------------------ certificates


def test_cert_manager_certificates_fail_when_the_issuer_is_revoked(checks):
    # The real cert-manager controller: its ClusterIssuer's CA withdrawn, a Certificate whose
    # Secret is gone cannot be issued again and cert-manager reports it not Ready.
    with checks.fails_then_recovers(
        "daily.cert-manager-certificates",
        broken(lambda: security.revoke_issuer("qsign", "api-server-tls"), security.restore_certificates),
    ) as r:
        assert re.fullmatch(
            r"1 Certificates not Ready or expiring within 30 days: qsign/api-server-tls "
            r"\(Ready=False: DoesNotExist \(Issuing certificate as Secret does not exist\); "
            r"no status.notAfter \(never issued\)\)",
            r.message,
        ), r.message


def test_cert_manager_certificates_fail_on_a_certificate_expiring_in_ten_days(checks):
    # cert-manager issues a 10-day certificate (spec.duration 240h) and renews it on time, a
    # day before it expires: the check fails on the lifetime left, not on a missed renewal.
    with checks.fails_then_recovers(
        "daily.cert-manager-certificates",
        broken(
            lambda: security.short_lived_certificate("qsign", "signature-service-tls", days=10),
            security.restore_certificates,
        ),
    ) as r:
        assert re.fullmatch(
            r"1 Certificates not Ready or expiring within 30 days: qsign/signature-service-tls "
            r"\(expires in (9|10) days \(\d{4}-\d\d-\d\d\)\)",
            r.message,
        ), r.message


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

INTRUDER = {
    "apiVersion": RBAC,
    "kind": "ClusterRoleBinding",
    "metadata": {"name": "opscheck-selftest-intruder"},
    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "mallory"}],
}


def test_rbac_subject_checks_fail_on_a_cluster_admin_binding_to_an_unapproved_user(checks):
    with broken(*_made(INTRUDER)):
        r = checks.until("monthly.rbac-approved-subjects", "failed")
        assert r.message == (
            "1 bindings to subjects not on the approved list: clusterrolebinding/opscheck-selftest-intruder "
            "(User:mallory not approved, ClusterRole cluster-admin [dangerous: cluster-admin; reads Secrets])"
        ), r.message
        r = checks.until("quarterly.privileged-access", "failed")
        assert r.message == (
            "1 privileged subjects not approved: User:mallory (cluster-admin, reads Secrets via "
            "clusterrolebinding/opscheck-selftest-intruder (ClusterRole cluster-admin))"
        ), r.message
    checks.until("monthly.rbac-approved-subjects", "passed")
    checks.until("quarterly.privileged-access", "passed")


DEBUGGER_ROLE = {
    "apiVersion": RBAC,
    "kind": "ClusterRole",
    "metadata": {"name": "opscheck-selftest-debugger"},
    # read-looking verbs only: get opens exec and port-forward streams (WebSocket) and runs
    # commands through the kubelet's API (nodes/proxy)
    "rules": [
        {"apiGroups": [""], "resources": ["pods", "pods/exec", "pods/portforward"], "verbs": ["get", "list"]},
        {"apiGroups": [""], "resources": ["nodes/proxy"], "verbs": ["get"]},
    ],
}
DEBUGGER_BINDING = {
    "apiVersion": RBAC,
    "kind": "ClusterRoleBinding",
    "metadata": {"name": "opscheck-selftest-debugger"},
    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "opscheck-selftest-debugger"},
    # an approved subject (monthly.rbac-approved-subjects passes), not approved for privileged access
    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "operator"}],
}
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


def test_privileged_access_fails_on_cluster_wide_secret_reads(checks):
    role = {
        "apiVersion": RBAC,
        "kind": "ClusterRole",
        "metadata": {"name": "opscheck-selftest-secret-lister"},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list", "watch"]}],
    }
    binding = {
        "apiVersion": RBAC,
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "opscheck-selftest-secret-lister"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role["metadata"]["name"]},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "viewer"}],
    }
    with checks.fails_then_recovers("quarterly.privileged-access", broken(*_made(role, binding))) as r:
        assert r.message == (
            "1 privileged subjects not approved: User:viewer (reads Secrets cluster-wide via "
            "clusterrolebinding/opscheck-selftest-secret-lister (ClusterRole opscheck-selftest-secret-lister))"
        ), r.message


def test_access_review_fails_when_a_reviewed_user_gets_a_role_beyond_review(checks):
    escalation = {
        "apiVersion": RBAC,
        "kind": "RoleBinding",
        "metadata": {"name": "opscheck-selftest-escalation", "namespace": "qsign"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "viewer"}],
    }
    with checks.fails_then_recovers("monthly.access-review", broken(*_made(escalation))) as r:
        assert r.message.startswith(
            "1 unexpected role grants: User:viewer (ClusterRole edit in qsign via "
            "rolebinding/qsign/opscheck-selftest-escalation, not among its reviewed roles: view [dangerous: "
            "reads Secrets in qsign; "
        ), r.message
        # edit lets its holder into the pods of the namespace: named
        for grant in ("exec into pods via pods/exec", "attach to containers via pods/attach"):
            assert f"{grant} in qsign" in r.message, r.message


def test_rbac_policy_fails_on_a_wildcard_role(checks):
    wildcard = {
        "apiVersion": RBAC,
        "kind": "Role",
        "metadata": {"name": "opscheck-selftest-wildcard", "namespace": "qsign"},
        "rules": [{"apiGroups": [""], "resources": ["*"], "verbs": ["*"]}],
    }
    with checks.fails_then_recovers("quarterly.rbac-policy", broken(*_made(wildcard))) as r:
        assert r.message == (
            "1 wildcard roles or default ServiceAccount bindings outside the allowed lists: "
            "role/qsign/opscheck-selftest-wildcard (* in resources, verbs [dangerous: commands in any container via "
            "nodes/proxy; exec into pods via pods/exec; attach to containers via pods/attach; port-forward into pods "
            "via pods/portforward; reach any service port via services/proxy])"
        ), r.message


def test_default_sa_checks_fail_when_the_default_service_account_may_read_secrets(checks):
    role = {
        "apiVersion": RBAC,
        "kind": "Role",
        "metadata": {"name": "opscheck-selftest-secret-reader", "namespace": "qsign"},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}],
    }
    binding = {
        "apiVersion": RBAC,
        "kind": "RoleBinding",
        "metadata": {"name": "opscheck-selftest-default-sa", "namespace": "qsign"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "opscheck-selftest-secret-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "qsign"}],
    }
    with broken(*_made(role, binding)):
        r = checks.until("monthly.default-sa-permissions", "failed")
        assert r.message == (
            "1 permissions of default ServiceAccounts: qsign/default (get,list secrets in qsign via "
            "rolebinding/qsign/opscheck-selftest-default-sa (Role opscheck-selftest-secret-reader, "
            "bound to ServiceAccount:qsign/default) [dangerous: reads Secrets in qsign])"
        ), r.message
        r = checks.until("quarterly.rbac-policy", "failed")
        assert r.message == (
            "1 wildcard roles or default ServiceAccount bindings outside the allowed lists: "
            "rolebinding/qsign/opscheck-selftest-default-sa (binds ServiceAccount:qsign/default "
            "to Role opscheck-selftest-secret-reader)"
        ), r.message
    checks.until("monthly.default-sa-permissions", "passed")
    checks.until("quarterly.rbac-policy", "passed")


# ------------------------------------------------------------------ network and pod security


def test_network_policies_fail_without_the_default_deny(checks):
    with checks.fails_then_recovers(
        "monthly.network-policies",
        broken(
            lambda: cluster.delete("NetworkPolicy", "qsign-gateway", "default-deny-all"),
            lambda: security.apply(_manifest("NetworkPolicy", "qsign-gateway", "default-deny-all")),
        ),
    ) as r:
        assert r.message == (
            "1 namespaces without NetworkPolicies or a default deny: "
            "qsign-gateway (no default-deny for Ingress and Egress)"
        ), r.message


def test_pod_security_labels_fail_without_the_enforce_label(checks):
    label = "pod-security.kubernetes.io/enforce"
    with checks.fails_then_recovers(
        "monthly.pod-security-labels",
        broken(
            lambda: cluster.patch("Namespace", None, "qsign-gateway", {"metadata": {"labels": {label: None}}}),
            lambda: security.apply(_manifest("Namespace", None, "qsign-gateway")),
        ),
    ) as r:
        assert r.message == (
            "1 namespaces without Pod Security Standard restricted: qsign-gateway (enforce not set)"
        ), r.message


def test_pod_security_labels_fail_on_a_weaker_level(checks):
    label = "pod-security.kubernetes.io/warn"
    with checks.fails_then_recovers(
        "monthly.pod-security-labels",
        broken(
            lambda: cluster.patch("Namespace", None, "qsign-gateway", {"metadata": {"labels": {label: "baseline"}}}),
            lambda: security.apply(_manifest("Namespace", None, "qsign-gateway")),
        ),
    ) as r:
        assert r.message == (
            "1 namespaces without Pod Security Standard restricted: qsign-gateway (warn=baseline, restricted required)"
        ), r.message


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


def test_image_vulnerabilities_fail_on_a_high_finding_in_a_vulnerability_report(checks):
    finding = (
        "CVE-2024-10979",
        "postgresql-16",
        "16.4-1.pgdg120+2",
        "16.5-1.pgdg120+1",
        "HIGH",
        "postgresql: PostgreSQL PL/Perl environment variable changes execute arbitrary code",
    )
    with checks.fails_then_recovers(
        "weekly.image-vulnerabilities",
        broken(
            lambda: security.put_vulnerability_report("statefulset-postgresql-postgresql", extra=[finding]),
            lambda: security.apply_vulnerability_reports(force=True),
        ),
    ) as r:
        assert r.message == (
            "1 running images with CRITICAL/HIGH findings or no recent scan: postgres:16.4 "
            "(1 HIGH: CVE-2024-10979 in postgresql-16 16.4-1.pgdg120+2 (fixed in 16.5-1.pgdg120+1))"
        ), r.message


def test_release_images_fail_on_an_image_never_scanned(checks):
    env = {"OPSCHECK_RELEASE_IMAGES": "qsign/api-server:1.5.0 qsign/signature-service:1.4.2"}
    r = checks.until("predeploy.image-vulnerabilities", "failed", env=env)
    assert r.message == (
        "1 release images with CRITICAL/HIGH findings or no recent scan: qsign/api-server:1.5.0 (no scan result)"
    ), r.message
    checks.until("predeploy.image-vulnerabilities", "passed")


def test_cis_benchmark_fails_on_a_new_failure(checks):
    failure = ("1.2.15", "Ensure that the --profiling argument is set to false (Automated)", "FAIL", "master")
    with checks.fails_then_recovers(
        "monthly.cis-benchmark", broken(lambda: security.write_kube_bench(extra=[failure]), security.write_kube_bench)
    ) as r:
        assert r.message == (
            "1 CIS benchmark findings not accepted: "
            "1.2.15 (FAIL: Ensure that the --profiling argument is set to false (Automated))"
        ), r.message


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

    def undated():  # kube-bench's own output, published without the time it was taken
        path = security.kube_bench_file()
        doc = json.loads(path.read_text())
        del doc["timestamp"]
        path.write_text(json.dumps(doc))

    with checks.fails_then_recovers("monthly.cis-benchmark", broken(undated, security.write_kube_bench)) as r:
        assert r.message == (
            "1 kube-bench results not from the last 35 days: kube-bench-results.json "
            "(states no time it was taken (a top-level timestamp in the results))"
        ), r.message


# ------------------------------------------------------------------ Istio


def test_sidecar_injected_fails_on_a_pod_without_the_sidecar(checks):
    pod = {
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
    with checks.fails_then_recovers("daily.sidecar-injected", broken(*_made(pod))) as r:
        assert r.message == (
            "1 pods or namespaces outside the mesh: qsign-gateway/opscheck-selftest-no-sidecar "
            "(no istio-proxy container (sidecar.istio.io/inject: false))"
        ), r.message


def test_mtls_strict_fails_on_a_permissive_namespace_policy(checks):
    permissive = {
        "apiVersion": "security.istio.io/v1beta1",
        "kind": "PeerAuthentication",
        "metadata": {"name": "opscheck-selftest-permissive", "namespace": "qsign-gateway"},
        "spec": {"mtls": {"mode": "PERMISSIVE"}},
    }
    with checks.fails_then_recovers("monthly.mtls-strict", broken(*_made(permissive))) as r:
        assert r.message == (
            "1 mesh namespaces or workloads without STRICT mTLS: "
            "qsign-gateway (PERMISSIVE from peerauthentication/qsign-gateway/opscheck-selftest-permissive)"
        ), r.message


def test_istio_version_fails_on_an_istiod_below_the_minimum(checks):
    path = "/spec/template/spec/containers/0/image"
    before = cluster.get("Deployment", "istio-system", "istiod")["spec"]["template"]["spec"]["containers"][0]["image"]

    def set_image(image: str) -> None:
        cluster.patch(
            "Deployment",
            "istio-system",
            "istiod",
            [{"op": "replace", "path": path, "value": image}],
            kind_of_patch="json",
        )

    with broken(lambda: set_image("docker.io/istio/pilot:1.19.3"), lambda: set_image(before)):
        r = checks.until("monthly.istio-version", "failed")
        # the Deployment at once, then its new pods as they roll out
        assert re.match(
            r"\d+ istiod versions out of support: deployment/istio-system/istiod "
            r"\(1\.19\.3 is below the minimum 1\.20\.1\)",
            r.message,
        ), r.message
    wait_for(lambda: deployment_done(cluster.get("Deployment", "istio-system", "istiod")), 60, "istiod rolled back")
    checks.until("monthly.istio-version", "passed")
