"""Certificate metadata from PEM data (parsed with `cryptography`; keys are never read)."""
from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timezone

from cryptography import x509
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class CertInfo:
    subject: str
    issuer: str
    serial: str
    not_after: datetime

    def days_left(self, now: datetime | None = None) -> float:
        now = now or datetime.now(timezone.utc)
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
    row = {"object": obj, **extra, "subject": cert.subject, "issuer": cert.issuer,
           "not_after": f"{cert.not_after:%Y-%m-%d %H:%M}Z", "days_left": round(days, 1)}
    if days >= limit_days:
        return row, None
    what = "expired" if days < 0 else f"expires in {days:.0f} days"
    return row, {"object": obj, "detail": f"{what} ({cert.not_after:%Y-%m-%d})"}
