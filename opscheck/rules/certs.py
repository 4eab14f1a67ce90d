"""Certificate metadata from PEM data (parsed with `cryptography`; keys are never read)."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class CertInfo:
    subject: str
    issuer: str
    serial: str
    not_after: datetime

    def days_left(self, now: datetime | None = None) -> float:
        now = now or datetime.now(UTC)
        return (self.not_after - now).total_seconds() / 86400


def _name(name: x509.Name) -> str:
    cns = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(cns[0].value) if cns else name.rfc4514_string()


def parse_pem_bundle(pem: bytes) -> list[CertInfo]:
    """Every certificate in a PEM bundle, leaf first. Raises ValueError if there is none."""
    certs = x509.load_pem_x509_certificates(pem)
    return [
        CertInfo(
            subject=_name(c.subject),
            issuer=_name(c.issuer),
            serial=format(c.serial_number, "x"),
            not_after=c.not_valid_after_utc,
        )
        for c in certs
    ]


def secret_leaf_certificate(secret: dict) -> CertInfo:
    """The leaf certificate of a kubernetes.io/tls Secret's tls.crt."""
    data = (secret.get("data") or {}).get("tls.crt")
    if not data:
        raise ValueError("no tls.crt")
    return parse_pem_bundle(base64.b64decode(data))[0]


def expiry_rows(obj: str, cert: CertInfo, limit_days: float, **extra: str) -> tuple[dict, dict | None]:
    """The evidence row of a certificate, and an offender row when it expires within
    `limit_days` (`expires in 9 days (2026-12-01)`, `expired (2026-11-01)`)."""
    days = cert.days_left()
    row = {
        "object": obj,
        **extra,
        "subject": cert.subject,
        "issuer": cert.issuer,
        "not_after": f"{cert.not_after:%Y-%m-%d %H:%M}Z",
        "days_left": round(days, 1),
    }
    if days >= limit_days:
        return row, None
    what = "expired" if days < 0 else f"expires in {days:.0f} days"
    return row, {"object": obj, "detail": f"{what} ({cert.not_after:%Y-%m-%d})"}


def tls_secrets(secrets: Iterable[dict]) -> list[dict]:
    return [s for s in secrets if s.get("type") == "kubernetes.io/tls"]


def tls_secret_expiry(secrets: Iterable[dict], limit_days: float, **extra: str) -> tuple[list[dict], list[dict]]:
    """(a row per readable TLS Secret, offenders: unreadable, or expiring within `limit_days`)."""
    rows, offenders = [], []
    for s in tls_secrets(secrets):
        name = f"{s['metadata']['namespace']}/{s['metadata']['name']}"
        try:
            row, offender = expiry_rows(name, secret_leaf_certificate(s), limit_days, **extra)
        except ValueError as exc:
            offenders.append({"object": name, "detail": f"unreadable certificate: {exc}"})
            continue
        rows.append(row)
        offenders += [offender] if offender else []
    return rows, offenders


def pem_file_expiry(
    obj: str, content: bytes | None, limit_days: float, **extra: str
) -> tuple[dict | None, dict | None]:
    """(row, offender) of a PEM file's first certificate; `content` None: the file does not exist.
    Only the CERTIFICATE blocks are parsed; a key block is skipped, never kept."""
    if content is None:
        return None, {"object": obj, "detail": "file not found"}
    try:
        cert = parse_pem_bundle(content)[0]
    except ValueError:
        return None, {"object": obj, "detail": "no PEM certificate in the file"}
    return expiry_rows(obj, cert, limit_days, **extra)
