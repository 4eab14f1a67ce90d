"""Kubernetes security: certificates, image scans, CIS, RBAC, pod security, credentials, mesh."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import Field, field_validator

from opscheck.profile.common import Regex, Strict, expand_path


class AcceptedFinding(Strict):
    """A known security finding accepted for a while, with its reason: a CVE id (image
    scans) or a CIS test number (kube-bench). Past `expires` it counts again."""

    id: Annotated[str, Field(min_length=1)]
    justification: Annotated[str, Field(min_length=1)]
    # Only for these images (repository[:tag], e.g. hashicorp/vault:1.17.6); default: any.
    images: list[str] = []
    expires: date | None = None


class HsmCertificate(Strict):
    """A PEM certificate file on the hosts with `host_role`, read through testinfra (seed
    000: the HSM client certificate, /etc/hsm/client-cert.pem). Only certificates are
    parsed; a private key in the same file is never read into anything."""

    name: str = "hsm-client"
    host_role: str = "hsm"
    path: str

    @property
    def file(self) -> str:
        """The path with `${VAR}` and ~ expanded (where opscheck runs)."""
        return str(expand_path(self.path))


class VulnerabilityScans(Strict):
    """Image scan results: `trivy image --format json` files and/or trivy-operator
    VulnerabilityReports (read whenever that CRD is installed)."""

    # A directory of trivy JSON reports (*.json), read where opscheck runs; relative to the profile.
    trivy_reports: str | None = None
    operator_reports: bool = True
    severities: list[Literal["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"]] = ["CRITICAL", "HIGH"]
    # A scan older than this does not count (the image counts as not scanned).
    max_age_days: Annotated[float, Field(gt=0)] = 31
    namespaces: list[str] | None = None  # whose running images; default: namespaces
    # Predeploy: the images being deployed, space or comma separated, ${VAR} expanded
    # (e.g. "${RELEASE_IMAGES}" set by the pipeline); none: the monitored workloads' images.
    release_images: list[str] = []
    accepted: list[AcceptedFinding] = []


class CisBenchmark(Strict):
    """kube-bench results (`kube-bench run --json`): the newest file matching `results`."""

    results: str  # a file or a glob, relative to the profile; ${VAR} expanded
    fail_statuses: list[Literal["FAIL", "WARN"]] = ["FAIL"]
    max_age_days: Annotated[float, Field(gt=0)] = 35
    accepted: list[AcceptedFinding] = []


class ReviewedSubject(Strict):
    """A user (or group, service account) whose permissions the access review reports."""

    subject: Annotated[str, Field(pattern=r"^(User|Group|ServiceAccount):.+$")]
    groups: list[str] = []  # the groups the user belongs to (what the authenticator adds)
    roles: list[str] = []  # ClusterRole/Role names it may hold; any other is an escalation


class RbacPolicy(Strict):
    """RBAC review lists. Subjects are written `User:alice`, `Group:ops`,
    `ServiceAccount:namespace/name`. Bindings whose name starts with a system prefix or
    that carry kubernetes.io/bootstrapping=rbac-defaults are the cluster's own."""

    # Every subject of a non-system (Cluster)RoleBinding; none: the review is not configured.
    approved_subjects: list[str] | None = None
    # Subjects approved to hold cluster-admin or read Secrets.
    privileged_subjects: list[str] | None = None
    # Roles allowed a "*" in verbs, resources or apiGroups: ClusterRole name or namespace/name.
    allowed_wildcard_roles: list[str] = []
    # Bindings allowed to name a default ServiceAccount: ClusterRoleBinding name or namespace/name.
    allowed_default_sa_bindings: list[str] = []
    system_prefixes: list[str] = ["system:"]
    # What every identity may do ("discovery"): not counted as a permission.
    discovery_roles: list[str] = [
        "system:discovery",
        "system:basic-user",
        "system:public-info-viewer",
        "system:service-account-issuer-discovery",
    ]
    access_review: list[ReviewedSubject] = []
    # Namespaces whose default ServiceAccount must have no permission; default: namespaces.
    default_sa_namespaces: list[str] | None = None

    @field_validator("approved_subjects", "privileged_subjects")
    @classmethod
    def _subjects(cls, value: list[str] | None) -> list[str] | None:
        for s in value or []:
            if not re.match(r"^(User|Group):.+$|^ServiceAccount:[^/]+/[^/]+$", s):
                raise ValueError(f"{s!r}: write User:name, Group:name or ServiceAccount:namespace/name")
        return value


class PodSecurityLabels(Strict):
    """Pod Security Standards labels (pod-security.kubernetes.io/<mode>: <level>)."""

    namespaces: list[str] | None = None  # default: namespaces
    level: Literal["privileged", "baseline", "restricted"] = "restricted"
    modes: list[Literal["enforce", "audit", "warn"]] = ["enforce", "audit", "warn"]


class PlaintextCredentials(Strict):
    """Credentials written in ConfigMaps or as env literals (only key names are reported)."""

    namespaces: list[str] | None = None  # default: namespaces
    # A key whose name ends in one of these words holds a credential.
    key_pattern: Regex = (
        r"(?i)(^|[_.\-])(pass(word|wd)?|pwd|secret|token|api[_\-]?key|apikey|private[_\-]?key|credentials?)$"
    )
    # Exempt keys: namespace/object/key (e.g. qsign/app-config/PUBLIC_TOKEN).
    allowed: list[str] = []


class MeshConfig(Strict):
    """Istio: which namespaces are in the mesh, where istiod runs, supported versions."""

    # Default: namespaces labelled istio-injection=enabled or istio.io/rev.
    namespaces: list[str] = []
    root_namespace: str = "istio-system"  # mesh-wide PeerAuthentication lives here
    istiod_namespace: str = "istio-system"
    istiod_deployment: str = "istiod"
    sidecar_container: str = "istio-proxy"
    min_version: Annotated[str, Field(pattern=r"^\d+\.\d+(\.\d+)?$")] | None = None
    supported_versions: list[Annotated[str, Field(pattern=r"^\d+\.\d+$")]] = []  # minors, e.g. "1.23"


class SecurityConfig(Strict):
    """Kubernetes security checks: certificates, image scans, CIS, RBAC, policies, mesh."""

    hsm_certificates: list[HsmCertificate] = []
    vulnerability_scans: VulnerabilityScans = VulnerabilityScans()
    cis_benchmark: CisBenchmark | None = None
    rbac: RbacPolicy = RbacPolicy()
    # Namespaces that must have NetworkPolicies with a default deny; default: namespaces.
    network_policy_namespaces: list[str] | None = None
    pod_security: PodSecurityLabels = PodSecurityLabels()
    plaintext_credentials: PlaintextCredentials = PlaintextCredentials()
    mesh: MeshConfig = MeshConfig()
