"""The demo cluster's security tooling and its outputs, for the Kubernetes security checks.

In the kwok cluster (through the real kube-apiserver): the CRDs of cert-manager
(Certificate), trivy-operator (VulnerabilityReport) and Istio (PeerAuthentication) from
manifests/crds-security.yaml, and the objects of manifests/security.yaml (istiod, the mesh
namespace qsign-gateway, NetworkPolicies, RBAC, Certificates). No controller of those tools
runs here, so this module writes what they would: the Certificates' status (from the real
certificates in the TLS Secrets) and trivy-operator's VulnerabilityReports.

Files, under state_dir()/security: trivy JSON reports (`trivy image --format json`) of the
QSIGN images, a kube-bench JSON result (`kube-bench run --json`), and the HSM client
certificate (a real certificate from testenv/certs.py). Trivy and kube-bench cannot run
here (no images, no container runtime, no downloads): their reports are written in their
own formats with demo findings, so the checks parse exactly what those tools produce.

Public API (fault helpers each have their repair):
    up() / down() / status()
    set_certificate_status(namespace, name, ready=..., days_left=...) / sync_certificate_status()
    write_hsm_certificate(days_valid)
    write_trivy_report(image, vulnerabilities, name=...) / remove_trivy_report(name)
    put_vulnerability_report(name, extra=[...]) / apply_vulnerability_reports()
    write_kube_bench(extra=[...])
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

from testenv import certs, cluster, demo, readiness
from testenv.paths import state_dir, under
from testenv.procs import wait_for

FIELD_MANAGER = "opscheck-testenv-security"
INJECTED = "opscheck.testenv/injected"
CRDS = (
    "certificates.cert-manager.io",
    "vulnerabilityreports.aquasecurity.github.io",
    "peerauthentications.security.istio.io",
)
CERTIFICATES = ("api-server-tls", "signature-service-tls")
HSM_CN = "qsign-hsm-client"


security_dir = under(state_dir, "security")
trivy_dir = under(security_dir, "trivy")
kube_bench_file = under(security_dir, "kube-bench", "kube-bench-results.json")
hsm_certificate_file = under(security_dir, "hsm", "client-cert.pem")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _rfc3339(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------ API helpers


def apply(obj: dict[str, Any]) -> dict:
    """Server-side apply under this module's own field manager, so it never takes away
    fields testenv/demo.py applied to the same objects (and the other way round)."""
    return cluster.apply(obj, field_manager=FIELD_MANAGER)


def _crds_established() -> bool:
    for name in CRDS:
        crd = cluster.get("CustomResourceDefinition", None, name)
        if not crd or not any(
            c.get("type") == "Established" and c.get("status") == "True"
            for c in (crd.get("status") or {}).get("conditions") or []
        ):
            return False
    return True


def _ensure_crds() -> None:
    for crd in demo.load_manifest("crds-security.yaml"):
        apply(crd)
    wait_for(_crds_established, 60, "security CRDs Established")
    # discovery serves the new resources a moment after Established
    wait_for(
        lambda: (
            cluster.list_("Certificate", "qsign") is not None
            and cluster.list_("VulnerabilityReport", "qsign") is not None
            and cluster.list_("PeerAuthentication", "istio-system") is not None
        ),
        60,
        "security CRDs served",
    )


# Shared with the Titanium system (testenv/systems.py applies the same definitions when it
# runs): created when missing, never applied over, so neither side takes fields from the other.
SHARED = {("Namespace", None, "istio-system"), ("Deployment", "istio-system", "istiod")}


def _shared(d: dict) -> bool:
    return (d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]) in SHARED


def _apply_manifests() -> None:
    docs = demo.load_manifest("security.yaml")
    for d in docs:
        if d["kind"] == "Namespace":
            cluster.create_if_missing(d) if _shared(d) else apply(d)
    for ns in {d["metadata"]["namespace"] for d in docs if d["metadata"].get("namespace")}:
        wait_for(
            lambda ns=ns: cluster.get("ServiceAccount", ns, "default") is not None, 60, f"ServiceAccount {ns}/default"
        )
    for d in docs:
        if d["kind"] != "Namespace":
            cluster.create_if_missing(d) if _shared(d) else apply(d)


def _remove_injected() -> None:
    """Objects a self-test made (label opscheck.testenv/injected=true) and left behind."""
    sel = f"{INJECTED}=true"
    for kind in ("ClusterRoleBinding", "ClusterRole"):
        for obj in cluster.list_(kind, None, sel):
            cluster.delete(kind, None, obj["metadata"]["name"])
    for ns in ("qsign", "qsign-gateway", "istio-system"):
        for kind in ("Role", "RoleBinding", "ConfigMap", "PeerAuthentication", "Pod", "NetworkPolicy", "Deployment"):
            for obj in cluster.list_(kind, ns, sel):
                cluster.delete(kind, ns, obj["metadata"]["name"])


def _wait_workloads(timeout: float = 120) -> None:
    for ns, name in (("istio-system", "istiod"), ("qsign-gateway", "gateway")):
        wait_for(
            lambda ns=ns, name=name: readiness.deployment_done(cluster.get("Deployment", ns, name)),
            timeout,
            f"Deployment {ns}/{name} available",
        )


# ------------------------------------------------------------------ certificates


def _secret_certificate(namespace: str, secret: str):
    from cryptography import x509

    s = cluster.get("Secret", namespace, secret)
    if not s or "tls.crt" not in (s.get("data") or {}):
        return None
    return x509.load_pem_x509_certificate(base64.b64decode(s["data"]["tls.crt"]))


def _certificate_status(
    not_before: dt.datetime,
    not_after: dt.datetime,
    ready: bool = True,
    reason: str = "Ready",
    message: str = "Certificate is up to date and has not expired",
) -> dict:
    # cert-manager renews at notAfter - renewBefore (720h in the manifests)
    renewal = not_after - dt.timedelta(days=30)
    return {
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "reason": reason,
                    "message": message,
                    "lastTransitionTime": _rfc3339(_now()),
                    "observedGeneration": 1,
                }
            ],
            "notBefore": _rfc3339(not_before),
            "notAfter": _rfc3339(not_after),
            "renewalTime": _rfc3339(renewal),
            "revision": 1,
        }
    }


def sync_certificate_status(namespace: str = "qsign") -> None:
    """Write each Certificate's status as cert-manager would, from its Secret's certificate."""
    for name in CERTIFICATES:
        cert = _secret_certificate(namespace, name)
        if cert is None:
            continue
        body = _certificate_status(cert.not_valid_before_utc, cert.not_valid_after_utc)
        cluster.request(
            "PATCH",
            f"/apis/cert-manager.io/v1/namespaces/{namespace}/certificates/{name}/status",
            body,
            content_type="application/merge-patch+json",
            query={"fieldManager": FIELD_MANAGER},
        )


def set_certificate_status(namespace: str, name: str, *, ready: bool = True, days_left: float | None = None) -> dict:
    """Fault: the Certificate reports Ready=False (the issuer failed) and/or a notAfter
    `days_left` days ahead. Repair: sync_certificate_status()."""
    now = _now()
    not_after = now + dt.timedelta(days=days_left if days_left is not None else 300)
    body = _certificate_status(
        now - dt.timedelta(days=60),
        not_after,
        ready=ready,
        reason="Ready" if ready else "Failed",
        message="Certificate is up to date and has not expired"
        if ready
        else "The certificate request has failed to complete and will be retried: issuer qsign-ca is not ready",
    )
    return cluster.request(
        "PATCH",
        f"/apis/cert-manager.io/v1/namespaces/{namespace}/certificates/{name}/status",
        body,
        content_type="application/merge-patch+json",
        query={"fieldManager": FIELD_MANAGER + "-fault"},
    )


def write_hsm_certificate(days_valid: int = 365) -> dict:
    """The HSM client certificate file (a real certificate from the test CA, then the CA
    certificate, as an HSM client bundle holds them). Returns {'not_after'}."""
    pair = certs.server_cert(HSM_CN, days_valid=days_valid)
    path = hsm_certificate_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pair.cert_pem + certs.ca().cert_pem)
    tmp.replace(path)
    return {"not_after": pair.cert.not_valid_after_utc.isoformat()}


def _hsm_days_left() -> float | None:
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificates(hsm_certificate_file().read_bytes())[0]
    except (OSError, ValueError):
        return None
    return (cert.not_valid_after_utc - _now()).total_seconds() / 86400


# ------------------------------------------------------------------ image scans

# Demo findings (real CVE ids, as trivy reports them for such images); none HIGH/CRITICAL
# except CVE-2024-45337 in Vault, which environments/demo.yaml accepts with a justification.
ALPINE_OPENSSL_LOW = (
    "CVE-2024-9143",
    "libcrypto3",
    "3.3.2-r0",
    "3.3.2-r1",
    "LOW",
    "openssl: Low-level invalid GF(2^m) parameters lead to OOB memory access",
)
TRIVY_IMAGES: dict[str, dict[str, Any]] = {
    "qsign/api-server:1.4.2": {
        "os": ("alpine", "3.20.3"),
        "vulns": [ALPINE_OPENSSL_LOW],
    },
    "qsign/signature-service:1.4.2": {
        "os": ("alpine", "3.20.3"),
        "vulns": [ALPINE_OPENSSL_LOW],
    },
    "qsign/hsm-adapter:1.4.2": {"os": ("alpine", "3.20.3"), "vulns": []},
    "qsign/backup:1.4.2": {"os": ("alpine", "3.20.3"), "vulns": []},
    "qsign/gateway:1.4.2": {"os": ("alpine", "3.20.3"), "vulns": []},
}
# The SmartSensor (002) and Titanium (003) workloads' images (testenv/manifests/smartsensor.yaml,
# titanium.yaml): reports in trivy's format without a HIGH/CRITICAL finding, as for the
# QSIGN images above (no image is pulled or scanned here), so those systems' monthly and
# weekly scan items judge a scan of every running image.
SYSTEM_IMAGES: dict[str, tuple[str, str]] = {
    "hankook/api-server:2.0.3": ("alpine", "3.20.3"),
    "hankook/web-dashboard:2.0.3": ("alpine", "3.20.3"),
    "hankook/sensor-gateway:2.0.3": ("alpine", "3.20.3"),
    "hankook/analytics-engine:2.0.3": ("alpine", "3.20.3"),
    "hankook/oauth2-server:2.0.3": ("alpine", "3.20.3"),
    "idongju/api-gateway:v1.2.3": ("alpine", "3.20.3"),
    "idongju/auth-service:v1.2.3": ("alpine", "3.20.3"),
    "idongju/user-service:v1.2.3": ("alpine", "3.20.3"),
    "idongju/blog-service:v1.2.3": ("alpine", "3.20.3"),
    "postgres:15": ("debian", "12.7"),
    "redis:7.0": ("debian", "12.7"),
    "docker.io/istio/proxyv2:1.20.1": ("ubuntu", "22.04"),
}
TRIVY_IMAGES.update({image: {"os": os, "vulns": []} for image, os in SYSTEM_IMAGES.items()})
OPERATOR_REPORTS: dict[str, dict[str, Any]] = {
    "statefulset-postgresql-postgresql": {
        "workload": ("StatefulSet", "postgresql", "postgresql"),
        "repository": "library/postgres",
        "tag": "16.4",
        "os": ("debian", "12.7"),
        "vulns": [
            (
                "CVE-2011-3374",
                "apt",
                "2.6.1",
                "",
                "LOW",
                "It was found that apt-key in apt, all versions, do not correctly validate gpg keys",
            ),
            (
                "CVE-2022-0563",
                "util-linux",
                "2.38.1-5+deb12u1",
                "",
                "LOW",
                "util-linux: partial disclosure of arbitrary files in chfn and chsh",
            ),
            (
                "CVE-2017-18018",
                "coreutils",
                "9.1-1",
                "",
                "LOW",
                "coreutils: race condition vulnerability in chown and chgrp",
            ),
        ],
    },
    "statefulset-vault-vault": {
        "workload": ("StatefulSet", "vault", "vault"),
        "repository": "hashicorp/vault",
        "tag": "1.17.6",
        "os": ("alpine", "3.20.3"),
        "vulns": [
            (
                "CVE-2024-45337",
                "golang.org/x/crypto",
                "v0.26.0",
                "0.31.0",
                "CRITICAL",
                "golang.org/x/crypto/ssh: Misuse of ServerConfig.PublicKeyCallback may cause authorization bypass",
            )
        ],
    },
}
SCANNER_VERSION = "0.57.1"


def _trivy_document(image: str, os_family: str, os_name: str, vulns: list[tuple], created: dt.datetime) -> dict:
    entries = [
        {
            "VulnerabilityID": vid,
            "PkgID": f"{pkg}@{installed}",
            "PkgName": pkg,
            "InstalledVersion": installed,
            "FixedVersion": fixed,
            "Status": "fixed" if fixed else "affected",
            "SeveritySource": "nvd",
            "PrimaryURL": f"https://avd.aquasec.com/nvd/{vid.lower()}",
            "Title": title,
            "Severity": severity,
        }
        for vid, pkg, installed, fixed, severity, title in vulns
    ]
    result: dict[str, Any] = {"Target": f"{image} ({os_family} {os_name})", "Class": "os-pkgs", "Type": os_family}
    if entries:
        result["Vulnerabilities"] = entries
    repo = image.rsplit(":", 1)[0]
    return {
        "SchemaVersion": 2,
        "CreatedAt": created.isoformat().replace("+00:00", "Z"),
        "ArtifactName": image,
        "ArtifactType": "container_image",
        "Metadata": {
            "OS": {"Family": os_family, "Name": os_name},
            "RepoTags": [image],
            "RepoDigests": [f"{repo}@sha256:{'0' * 64}"],
        },
        "Results": [result],
    }


def _report_file(image: str) -> Path:
    return trivy_dir() / ("scan_results_" + image.replace("/", "_").replace(":", "_") + ".json")


def write_trivy_report(
    image: str,
    vulnerabilities: list[tuple],
    name: str | None = None,
    created: dt.datetime | None = None,
    directory: Path | None = None,
) -> Path:
    """A `trivy image --format json` report of `image` with the given findings
    (id, package, installed, fixed, severity, title), scanned at `created` (default: now),
    written under `directory` (default: trivy_dir())."""
    path = (directory or trivy_dir()) / (name or _report_file(image).name)
    path.parent.mkdir(parents=True, exist_ok=True)
    os_family, os_name = TRIVY_IMAGES.get(image, {}).get("os", ("alpine", "3.20.3"))
    doc = _trivy_document(image, os_family, os_name, vulnerabilities, created or _now())
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2))
    tmp.replace(path)
    return path


def remove_trivy_report(name: str) -> None:
    (trivy_dir() / name).unlink(missing_ok=True)


def _fresh(path: Path, time_key: str, days: float = 7) -> bool:
    """The report states (under `time_key`) that it was taken within `days`: the checks age
    reports by what they state, never by the file's modification time."""
    try:
        taken = dt.datetime.fromisoformat(json.loads(path.read_text())[time_key])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return (_now() - taken).total_seconds() < days * 86400


def _write_trivy_reports() -> None:
    for image, spec in TRIVY_IMAGES.items():
        if not _fresh(_report_file(image), "CreatedAt"):
            write_trivy_report(image, spec["vulns"])


def _vulnerability_report(name: str, extra: list[tuple] = (), updated: dt.datetime | None = None) -> dict:
    spec = OPERATOR_REPORTS[name]
    kind, workload, container = spec["workload"]
    vulns = list(spec["vulns"]) + list(extra)
    counts = {s: sum(1 for v in vulns if v[4] == s) for s in ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")}
    return {
        "apiVersion": "aquasecurity.github.io/v1alpha1",
        "kind": "VulnerabilityReport",
        "metadata": {
            "name": name,
            "namespace": "qsign",
            "labels": {
                "trivy-operator.resource.kind": kind,
                "trivy-operator.resource.name": workload,
                "trivy-operator.resource.namespace": "qsign",
                "trivy-operator.container.name": container,
            },
        },
        "report": {
            "updateTimestamp": _rfc3339(updated or _now()),
            "scanner": {"name": "Trivy", "vendor": "Aqua Security", "version": SCANNER_VERSION},
            "registry": {"server": "index.docker.io"},
            "artifact": {"repository": spec["repository"], "tag": spec["tag"]},
            "os": {"family": spec["os"][0], "name": spec["os"][1]},
            "summary": {
                "criticalCount": counts["CRITICAL"],
                "highCount": counts["HIGH"],
                "mediumCount": counts["MEDIUM"],
                "lowCount": counts["LOW"],
                "unknownCount": counts["UNKNOWN"],
                "noneCount": 0,
            },
            "vulnerabilities": [
                {
                    "vulnerabilityID": vid,
                    "resource": pkg,
                    "installedVersion": installed,
                    "fixedVersion": fixed,
                    "severity": severity,
                    "title": title,
                    "score": None,
                    "primaryLink": f"https://avd.aquasec.com/nvd/{vid.lower()}",
                    "target": "",
                }
                for vid, pkg, installed, fixed, severity, title in vulns
            ],
        },
    }


def put_vulnerability_report(name: str, extra: list[tuple] = ()) -> dict:
    """trivy-operator rescanned the workload and found `extra` findings too (fault)."""
    return apply(_vulnerability_report(name, extra))


def apply_vulnerability_reports(force: bool = False) -> None:
    """The reports as trivy-operator keeps them: rescanned (updateTimestamp renewed) when
    older than a week, or when `force` (repairs a fault)."""
    for name in OPERATOR_REPORTS:
        existing = cluster.get("VulnerabilityReport", "qsign", name)
        fresh = _vulnerability_report(name)
        if existing and not force:
            stamp = (existing.get("report") or {}).get("updateTimestamp", "")
            same = existing.get("report", {}).get("vulnerabilities") == fresh["report"]["vulnerabilities"]
            try:
                recent = _now() - dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")) < dt.timedelta(days=7)
            except ValueError:
                recent = False
            if same and recent:
                continue
        apply(fresh)


# ------------------------------------------------------------------ kube-bench

# (test number, description, status, node type); a subset of CIS Kubernetes Benchmark v1.9
# as kube-bench reports it for this control plane.
BENCH_TESTS: list[tuple[str, str, str, str]] = [
    (
        "1.1.1",
        "Ensure that the API server pod specification file permissions are set to 600 or more restrictive (Automated)",
        "PASS",
        "master",
    ),
    (
        "1.1.11",
        "Ensure that the etcd data directory permissions are set to 700 or more restrictive (Automated)",
        "PASS",
        "master",
    ),
    ("1.1.12", "Ensure that the etcd data directory ownership is set to etcd:etcd (Automated)", "FAIL", "master"),
    (
        "1.1.19",
        "Ensure that the Kubernetes PKI directory and file ownership is set to root:root (Automated)",
        "PASS",
        "master",
    ),
    ("1.2.1", "Ensure that the --anonymous-auth argument is set to false (Manual)", "WARN", "master"),
    (
        "1.2.5",
        "Ensure that the --kubelet-certificate-authority argument is set as appropriate (Automated)",
        "PASS",
        "master",
    ),
    ("1.2.6", "Ensure that the --authorization-mode argument is not set to AlwaysAllow (Automated)", "PASS", "master"),
    ("1.2.7", "Ensure that the --authorization-mode argument includes Node (Automated)", "PASS", "master"),
    ("1.2.8", "Ensure that the --authorization-mode argument includes RBAC (Automated)", "PASS", "master"),
    ("1.2.15", "Ensure that the --profiling argument is set to false (Automated)", "PASS", "master"),
    ("1.2.16", "Ensure that the --audit-log-path argument is set (Automated)", "PASS", "master"),
    ("1.2.27", "Ensure that the --service-account-lookup argument is set to true (Automated)", "PASS", "master"),
    ("1.3.2", "Ensure that the --profiling argument is set to false (Automated)", "PASS", "master"),
    ("1.3.7", "Ensure that the --bind-address argument is set to 127.0.0.1 (Automated)", "PASS", "master"),
    ("1.4.1", "Ensure that the --profiling argument is set to false (Automated)", "PASS", "master"),
    ("1.4.2", "Ensure that the --bind-address argument is set to 127.0.0.1 (Automated)", "PASS", "master"),
    ("2.1", "Ensure that the --cert-file and --key-file arguments are set as appropriate (Automated)", "PASS", "etcd"),
    ("2.2", "Ensure that the --client-cert-auth argument is set to true (Automated)", "PASS", "etcd"),
    ("4.2.1", "Ensure that the --anonymous-auth argument is set to false (Automated)", "PASS", "node"),
    ("4.2.2", "Ensure that the --authorization-mode argument is not set to AlwaysAllow (Automated)", "PASS", "node"),
    ("4.2.6", "Ensure that the --make-iptables-util-chains argument is set to true (Automated)", "PASS", "node"),
    ("5.1.1", "Ensure that the cluster-admin role is only used where required (Manual)", "WARN", "policies"),
    ("5.1.3", "Minimize wildcard use in Roles and ClusterRoles (Manual)", "WARN", "policies"),
    ("5.2.2", "Minimize the admission of privileged containers (Manual)", "WARN", "policies"),
    ("5.3.2", "Ensure that all Namespaces have Network Policies defined (Manual)", "WARN", "policies"),
    (
        "5.7.2",
        "Ensure that the seccomp profile is set to docker/default in your pod definitions (Manual)",
        "WARN",
        "policies",
    ),
]
BENCH_CONTROLS = {
    "master": ("1", "Control Plane Security Configuration"),
    "etcd": ("2", "Etcd Node Configuration"),
    "node": ("4", "Worker Node Security Configuration"),
    "policies": ("5", "Kubernetes Policies"),
}


def write_kube_bench(
    extra: list[tuple[str, str, str, str]] = (), *, taken_at: dt.datetime | None = None, path: Path | None = None
) -> Path:
    """kube-bench's `--json` output for BENCH_TESTS (and `extra` results, for a fault;
    a test number in both takes the extra's status), with the top-level `timestamp` the
    publishing step adds (`taken_at`, default now), at `path` (default: kube_bench_file())."""
    tests = {t[0]: t for t in BENCH_TESTS}
    tests.update({t[0]: t for t in extra})
    controls = []
    totals = {"total_pass": 0, "total_fail": 0, "total_warn": 0, "total_info": 0}
    for node_type, (cid, text) in BENCH_CONTROLS.items():
        sections: dict[str, list[dict]] = {}
        for number, desc, status, nt in tests.values():
            if nt != node_type:
                continue
            section = number.rsplit(".", 1)[0] if number.count(".") > 1 else number.split(".")[0]
            sections.setdefault(section, []).append(
                {
                    "test_number": number,
                    "test_desc": desc,
                    "audit": "",
                    "AuditEnv": "",
                    "AuditConfig": "",
                    "type": "manual" if "(Manual)" in desc else "",
                    "remediation": "See the CIS benchmark for " + number,
                    "test_info": ["See the CIS benchmark for " + number],
                    "status": status,
                    "actual_value": "",
                    "scored": "(Automated)" in desc,
                    "IsMultiple": False,
                    "expected_result": "",
                    "reason": "",
                }
            )
        counts = {
            s: sum(1 for rs in sections.values() for r in rs if r["status"] == s)
            for s in ("PASS", "FAIL", "WARN", "INFO")
        }
        controls.append(
            {
                "id": cid,
                "version": "cis-1.9",
                "detected_version": "1.33",
                "text": text,
                "node_type": node_type,
                "tests": [
                    {
                        "section": s,
                        "type": "",
                        "pass": sum(r["status"] == "PASS" for r in rs),
                        "fail": sum(r["status"] == "FAIL" for r in rs),
                        "warn": sum(r["status"] == "WARN" for r in rs),
                        "info": 0,
                        "desc": f"Section {s}",
                        "results": rs,
                    }
                    for s, rs in sorted(sections.items())
                ],
                "total_pass": counts["PASS"],
                "total_fail": counts["FAIL"],
                "total_warn": counts["WARN"],
                "total_info": 0,
            }
        )
        for s in ("PASS", "FAIL", "WARN"):
            totals[f"total_{s.lower()}"] += counts[s]
    path = path or kube_bench_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    document = {"Controls": controls, "Totals": totals, "timestamp": _rfc3339(taken_at or _now())}
    tmp.write_text(json.dumps(document, indent=2))
    tmp.replace(path)
    return path


def _kube_bench_current() -> bool:
    if not _fresh(kube_bench_file(), "timestamp"):
        return False
    try:
        doc = json.loads(kube_bench_file().read_text())
    except (OSError, ValueError):
        return False
    have = {r["test_number"]: r["status"] for c in doc["Controls"] for t in c["tests"] for r in t["results"]}
    return have == {t[0]: t[2] for t in BENCH_TESTS}


# ------------------------------------------------------------------ lifecycle


def up() -> dict[str, Any]:
    """Idempotent: converges the CRDs, the objects, their status and the report files, and
    removes what a self-test left behind."""
    _ensure_crds()
    _apply_manifests()
    _remove_injected()
    sync_certificate_status()
    apply_vulnerability_reports()
    _write_trivy_reports()
    if not _kube_bench_current():
        write_kube_bench()
    left = _hsm_days_left()
    if left is None or left < 300:
        write_hsm_certificate(365)
    _wait_workloads()
    return status()


def down() -> None:
    """Nothing runs: the objects go with the cluster, the files stay with the state."""


def status() -> dict[str, Any]:
    files = {
        "trivy_reports": str(trivy_dir()),
        "kube_bench": str(kube_bench_file()),
        "hsm_certificate": str(hsm_certificate_file()),
    }
    try:
        running = _crds_established() and kube_bench_file().exists() and hsm_certificate_file().exists()
    except Exception as exc:  # the cluster is down: not running, say why
        return {"running": False, "error": str(exc)[:200], **files}
    return {"running": running, **files}
