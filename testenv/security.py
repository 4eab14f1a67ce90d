"""The demo cluster's security tooling and its outputs, for the Kubernetes security checks.

In the kwok cluster (through the real kube-apiserver): cert-manager's own CRDs (from the
release's module, testenv/build-binaries.sh), the CRDs of trivy-operator
(VulnerabilityReport) and Istio (PeerAuthentication) from manifests/crds-security.yaml, and
the objects of manifests/security.yaml (istiod, the mesh namespace qsign-gateway,
NetworkPolicies, RBAC, the ClusterIssuer qsign-ca and the Certificates).

cert-manager runs for real: its controller (a host process, log under state_dir()/logs)
issues the Certificates from a CA issuer holding testenv's CA into their TLS Secrets and
writes their status. No trivy-operator runs here, so this module writes its
VulnerabilityReports.

Files, under state_dir()/security: trivy JSON reports (`trivy image --format json`) of the
QSIGN images, a kube-bench JSON result (`kube-bench run --json`), and the HSM client
certificate (a real certificate from testenv/certs.py). Trivy and kube-bench cannot run
here (no images, no container runtime, no downloads): their reports are written in their
own formats with demo findings, so the checks parse exactly what those tools produce.

Public API (fault helpers each have their repair):
    up() / down() / status()
    revoke_issuer(namespace, name) / short_lived_certificate(namespace, name, days)
        repaired by restore_certificates()
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

import yaml

from testenv import certs, cluster, demo, procs, readiness
from testenv.paths import HOST, PORTS, cache_dir, state_dir, under
from testenv.procs import wait_for

FIELD_MANAGER = "opscheck-testenv-security"
INJECTED = "opscheck.testenv/injected"
CRDS = (
    "certificates.cert-manager.io",
    "certificaterequests.cert-manager.io",
    "issuers.cert-manager.io",
    "clusterissuers.cert-manager.io",
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
    # crds-security.yaml's minimal Certificate CRD is for clusters where no cert-manager
    # runs (testenv/multicluster.py); here cert-manager's own CRDs serve its kinds.
    minimal = [d for d in demo.load_manifest("crds-security.yaml") if d["spec"]["group"] != "cert-manager.io"]
    for crd in _cert_manager_crds() + minimal:
        apply(crd)
    wait_for(_crds_established, 60, "security CRDs Established")
    # discovery serves the new resources a moment after Established
    wait_for(
        lambda: (
            cluster.list_("Certificate", "qsign") is not None
            and cluster.request("GET", ISSUERS_PATH) is not None
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
# cert-manager runs for real: its controller (testenv/build-binaries.sh builds it from the
# Go module proxy, testenv/certmanager-build) watches this cluster as a host process and
# issues the Certificates from the ClusterIssuer qsign-ca, a CA issuer holding testenv's
# CA (testenv/certs.py) in a Secret of CERT_MANAGER_NAMESPACE, into their TLS Secrets,
# and writes their status (Ready, notAfter, renewalTime) itself.

CERT_MANAGER_VERSION = "v1.21.2"  # testenv/certmanager-build/go.mod
CONTROLLER = "cert-manager-controller"
CERT_MANAGER_NAMESPACE = "cert-manager"  # --cluster-resource-namespace: the ClusterIssuer's Secret
ISSUER = "qsign-ca"
ISSUERS_PATH = "/apis/cert-manager.io/v1/clusterissuers"
CA_SECRET = "qsign-ca"
CERT_MANAGER_CRDS = tuple(
    f"{plural}.cert-manager.io" for plural in ("certificates", "certificaterequests", "issuers", "clusterissuers")
)
# A Certificate counts as issued from its manifest when it is Ready for longer than this.
ISSUED_DAYS = 300


def cert_manager_dir() -> Path:
    return cache_dir() / "bin" / f"cert-manager-{CERT_MANAGER_VERSION}"


def _cert_manager_crds() -> list[dict]:
    """cert-manager's own CRDs, from deploy/crds of the release's module."""
    files = sorted((cert_manager_dir() / "crds").glob("cert-manager.io_*.yaml"))
    if not files:
        raise RuntimeError(f"missing {cert_manager_dir() / 'crds'} (run testenv/build-binaries.sh first)")
    return [d for f in files for d in yaml.safe_load_all(f.read_text()) if d]


def _controller_argv() -> list[str]:
    binary = cert_manager_dir() / "cert-manager-controller"
    if not binary.exists():
        raise RuntimeError(f"missing {binary} (run testenv/build-binaries.sh first)")
    return [
        str(binary),
        f"--kubeconfig={cluster.kubeconfig()}",
        "--leader-elect=false",
        f"--cluster-resource-namespace={CERT_MANAGER_NAMESPACE}",
        "--enable-certificate-owner-ref=false",
        f"--metrics-listen-address={HOST}:{PORTS['cert-manager-metrics']}",
        f"--healthz-listen-address={HOST}:{PORTS['cert-manager-healthz']}",
        # A failed request is retried after a minute, not cert-manager's default hour, so
        # the environment recovers from a fault within a self-test's patience.
        "--certificate-request-minimum-backoff-duration=1m",
        "--certificate-request-maximum-backoff-duration=5m",
    ]


def _start_controller() -> None:
    pid_file = procs.pid_file(CONTROLLER)
    if procs.is_running(CONTROLLER) and cluster.kubeconfig().stat().st_mtime > pid_file.stat().st_mtime:
        procs.stop(CONTROLLER)  # the cluster was made anew since: its credentials changed
    procs.start(CONTROLLER, _controller_argv())
    procs.wait_started(
        CONTROLLER,
        lambda: procs.http_ok(f"http://{HOST}:{PORTS['cert-manager-healthz']}/livez", 2),
        60,
        "cert-manager controller healthy",
    )


def _ensure_ca_secret() -> None:
    """The ClusterIssuer's CA: testenv's CA certificate and key, as `kubectl create secret tls`."""
    ca = certs.ca()
    apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/tls",
            "metadata": {"name": CA_SECRET, "namespace": CERT_MANAGER_NAMESPACE},
            "data": {
                "tls.crt": base64.b64encode(ca.cert_pem).decode(),
                "tls.key": base64.b64encode(ca.key_pem).decode(),
            },
        }
    )


def _ready(obj: dict | None) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in ((obj or {}).get("status") or {}).get("conditions") or []
    )


def _days_left(obj: dict | None) -> float | None:
    not_after = ((obj or {}).get("status") or {}).get("notAfter")
    if not not_after:
        return None
    return (dt.datetime.fromisoformat(not_after.replace("Z", "+00:00")) - _now()).total_seconds() / 86400


def _issued(namespace: str, name: str, within_days: float | None = None) -> bool:
    """cert-manager reports the Certificate Ready with a certificate of the manifest's
    lifetime (or, `within_days`: one expiring within that many days)."""
    cert = cluster.get("Certificate", namespace, name)
    left = _days_left(cert)
    if not _ready(cert) or left is None:
        return False
    return left < within_days if within_days is not None else left > ISSUED_DAYS


def _certificate_manifest(namespace: str, name: str) -> dict:
    return next(
        d
        for d in demo.load_manifest("security.yaml")
        if d["kind"] == "Certificate" and d["metadata"]["namespace"] == namespace and d["metadata"]["name"] == name
    )


def _apply_issuer(ca_secret: str = CA_SECRET) -> dict:
    """The ClusterIssuer qsign-ca: a CA issuer signing with the key pair in `ca_secret`
    (of CERT_MANAGER_NAMESPACE). Applied at its own path: opscheck's kind table, which
    kubeapi's helpers use, has no cert-manager kind but Certificate."""
    issuer = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "ClusterIssuer",
        "metadata": {"name": ISSUER},
        "spec": {"ca": {"secretName": ca_secret}},
    }
    return cluster.request(
        "PATCH",
        f"{ISSUERS_PATH}/{ISSUER}",
        issuer,
        content_type="application/apply-patch+yaml",
        query={"fieldManager": FIELD_MANAGER, "force": "true"},
    )


def _issuer_ready() -> bool:
    return _ready(cluster.request("GET", f"{ISSUERS_PATH}/{ISSUER}"))


def renew(namespace: str, name: str, timeout: float = 30) -> None:
    """`cmctl renew`: cert-manager issues the Certificate again now. A spec change alone
    (e.g. spec.duration) need not: cert-manager compares the spec with the last
    CertificateRequest, and re-issues on a mismatch only while that request is kept.
    Retried on a conflict with the controller's own status updates, as cmctl does."""

    def mark_issuing() -> bool:
        cert = cluster.get("Certificate", namespace, name)
        status = cert.setdefault("status", {})
        status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != "Issuing"] + [
            {
                "type": "Issuing",
                "status": "True",
                "reason": "ManuallyTriggered",
                "message": "Certificate re-issuance manually triggered",
                "lastTransitionTime": _rfc3339(_now()),
            }
        ]
        cluster.request("PUT", f"/apis/cert-manager.io/v1/namespaces/{namespace}/certificates/{name}/status", cert)
        return True

    wait_for(mark_issuing, timeout, f"renewal of Certificate {namespace}/{name} triggered")


def restore_certificates(namespace: str = "qsign", timeout: float = 120) -> None:
    """The ClusterIssuer and the Certificates as the manifests say, and cert-manager's CA
    Secret in place; waits until cert-manager reports every Certificate Ready with a
    certificate of the manifest's lifetime (it re-issues those a fault changed)."""
    _ensure_ca_secret()
    _apply_issuer()
    for name in CERTIFICATES:
        apply(_certificate_manifest(namespace, name))
    wait_for(_issuer_ready, timeout, f"ClusterIssuer {ISSUER} Ready")
    for name in CERTIFICATES:
        cert = cluster.get("Certificate", namespace, name)
        left = _days_left(cert)
        if _ready(cert) and left is not None and left <= ISSUED_DAYS:  # e.g. left short-lived by a fault
            renew(namespace, name)
    for name in CERTIFICATES:
        wait_for(
            lambda name=name: _issued(namespace, name),
            timeout,
            f"cert-manager issued Certificate {namespace}/{name}",
        )
        # cert-manager's Warning events of a fault (RequestFailed, ...)
        cluster.delete_events_of(namespace, "Certificate", name)


def revoke_issuer(namespace: str, name: str, timeout: float = 60) -> dict:
    """Fault: the ClusterIssuer's CA is withdrawn (it points at a CA Secret that no longer
    exists) and the Certificate `name` must be issued again (its Secret is gone): cert-manager
    cannot issue it and reports it not Ready. Returns the Certificate. Repair:
    restore_certificates()."""
    _apply_issuer(CA_SECRET + "-revoked")
    wait_for(lambda: not _issuer_ready(), timeout, f"ClusterIssuer {ISSUER} not Ready")
    secret = _certificate_manifest(namespace, name)["spec"]["secretName"]
    cluster.delete("Secret", namespace, secret)
    wait_for(
        lambda: not _ready(cluster.get("Certificate", namespace, name)),
        timeout,
        f"cert-manager reporting Certificate {namespace}/{name} not Ready",
    )
    return cluster.get("Certificate", namespace, name)


def short_lived_certificate(namespace: str, name: str, days: int, timeout: float = 60) -> dict:
    """Fault: the Certificate asks for a `days`-day certificate (spec.duration, renewed a day
    before it expires); cert-manager issues one into its Secret. Returns the Certificate.
    Repair: restore_certificates()."""
    cert = _certificate_manifest(namespace, name)
    cert["spec"].update(duration=f"{days * 24}h", renewBefore="24h")
    apply(cert)
    renew(namespace, name)
    wait_for(
        lambda: _issued(namespace, name, within_days=days + 0.5),
        timeout,
        f"cert-manager issuing a {days}-day certificate for {namespace}/{name}",
    )
    return cluster.get("Certificate", namespace, name)


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


# The demo images were built this long before their scan: inside the patch window of
# environments/demo.yaml (platform.node_patches.image_max_age_days).
IMAGE_AGE = dt.timedelta(days=20)


def _trivy_vulnerability(vuln: tuple) -> dict:
    """(id, package, installed, fixed, severity, title[, published]) as trivy writes it."""
    vid, pkg, installed, fixed, severity, title, *published = vuln
    entry = {
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
    if published:
        entry["PublishedDate"] = published[0].isoformat().replace("+00:00", "Z")
    return entry


def _trivy_document(
    image: str,
    os_family: str,
    os_name: str,
    vulns: list[tuple],
    created: dt.datetime,
    image_created: dt.datetime,
    eosl: bool = False,
) -> dict:
    entries = [_trivy_vulnerability(v) for v in vulns]
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
            # trivy writes EOSL only when the distribution is past its end of service life
            "OS": {"Family": os_family, "Name": os_name, **({"EOSL": True} if eosl else {})},
            "ImageConfig": {"created": image_created.isoformat().replace("+00:00", "Z")},
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
    image_created: dt.datetime | None = None,
    os: tuple[str, str] | None = None,
    eosl: bool = False,
) -> Path:
    """A `trivy image --format json` report of `image` with the given findings
    (id, package, installed, fixed, severity, title[, published]), scanned at `created`
    (default: now), of an image built at `image_created` (default: IMAGE_AGE before the
    scan) on `os` (family, name; default: TRIVY_IMAGES') that is end of life if `eosl`,
    written under `directory` (default: trivy_dir())."""
    path = (directory or trivy_dir()) / (name or _report_file(image).name)
    path.parent.mkdir(parents=True, exist_ok=True)
    os_family, os_name = os or TRIVY_IMAGES.get(image, {}).get("os", ("alpine", "3.20.3"))
    scanned = created or _now()
    doc = _trivy_document(
        image, os_family, os_name, vulnerabilities, scanned, image_created or scanned - IMAGE_AGE, eosl
    )
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


def _has_build_time(path: Path) -> bool:
    """Written by this testenv: older ones wrote no Metadata.ImageConfig.created."""
    try:
        return "created" in json.loads(path.read_text())["Metadata"].get("ImageConfig", {})
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def _write_trivy_reports() -> None:
    for image, spec in TRIVY_IMAGES.items():
        path = _report_file(image)
        if not (_fresh(path, "CreatedAt") and _has_build_time(path)):
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
    _start_controller()
    _apply_manifests()
    _remove_injected()
    restore_certificates()
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
    """Stops the cert-manager controller; the objects go with the cluster, the files stay
    with the state."""
    procs.stop(CONTROLLER)


def status() -> dict[str, Any]:
    files = {
        "trivy_reports": str(trivy_dir()),
        "kube_bench": str(kube_bench_file()),
        "hsm_certificate": str(hsm_certificate_file()),
    }
    controller = {
        "cert_manager_controller": procs.read_pid(CONTROLLER),
        "cert_manager_log": str(procs.log_file(CONTROLLER)),
    }
    try:
        running = (
            controller["cert_manager_controller"] is not None
            and _crds_established()
            and kube_bench_file().exists()
            and hsm_certificate_file().exists()
        )
    except Exception as exc:  # the cluster is down: not running, say why
        return {"running": False, "error": str(exc)[:200], **controller, **files}
    return {"running": running, **controller, **files}
