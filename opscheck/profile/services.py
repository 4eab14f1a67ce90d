"""Services the checks talk to: HTTP health endpoints and Vault/OpenBao."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, field_validator

from opscheck.profile.common import HttpAccess, SecretRef, Strict


class HttpService(HttpAccess):
    """A service whose health endpoints opscheck probes over HTTP (with, inherited from
    HttpAccess, an optional `bearer_token` and `ca_bundle`)."""

    name: str
    url: str
    health_paths: list[str] = ["/health", "/health/live", "/health/ready"]
    # Sub-checks in the readiness answer ({"checks": {"database": "UP"}}) that must be UP.
    ready_checks: list[str] = []
    ready_path: str = "/health/ready"

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/]+", v):
            raise ValueError("must be an http:// or https:// URL")
        return v.rstrip("/")


class VaultAuditReview(Strict):
    """Counts over the audit log file (000 주간 보안 점검); a limit of null only reports."""

    window_days: Annotated[float, Field(gt=0)] = 7
    # Logins that failed and requests with a token Vault did not accept.
    max_failed_auth: Annotated[int, Field(ge=0)] | None = 20
    # Requests of a valid token its policies refused.
    max_permission_denied: Annotated[int, Field(ge=0)] | None = 10
    # Requests made with a root token (break-glass only).
    max_root_token_uses: Annotated[int, Field(ge=0)] | None = 0


class VaultKubernetes(Strict):
    """Where Vault runs in the clusters (004: kubectl exec -n vault vault-0 -- vault status)."""

    namespace: str = "vault"
    statefulset: str = "vault"


class VaultConfig(Strict):
    address: str
    token: SecretRef | None = None
    timeout_seconds: Annotated[float, Field(gt=0)] = 5
    # The file audit device's log, read where opscheck runs (or mounted from the Vault host).
    audit_log_file: str | None = None
    ca_cert: str | None = None
    audit_review: VaultAuditReview = VaultAuditReview()
    # Vault's pods in each cluster (daily.vault-pods); none: Vault runs outside Kubernetes.
    kubernetes: VaultKubernetes | None = None
