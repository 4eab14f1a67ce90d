"""cert-manager Certificates (cert-manager.io/v1): Ready, expiry and renewal from status.

`kubectl get certificates -A` reads status.conditions[type=Ready]; status.notAfter is the
issued certificate's expiry and status.renewalTime when cert-manager will renew it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from opscheck.redact import excerpt
from opscheck.timeutil import parse_time

# cert-manager renews at renewalTime; past it by this much and still not renewed is stuck.
RENEWAL_GRACE = timedelta(hours=1)


@dataclass
class CertificateState:
    object: str
    secret: str
    ready: str  # "True", "False", "Unknown" or "missing"
    reason: str
    not_after: datetime | None
    renewal_time: datetime | None

    def days_left(self, now: datetime) -> float | None:
        return None if self.not_after is None else (self.not_after - now).total_seconds() / 86400

    def problems(self, now: datetime, min_days: float) -> list[str]:
        out = []
        if self.ready != "True":
            out.append(f"Ready={self.ready}" + (f": {self.reason}" if self.reason else ""))
        days = self.days_left(now)
        if days is None:
            out.append("no status.notAfter (never issued)")
        elif days < 0:
            out.append(f"expired on {self.not_after:%Y-%m-%d}")
        elif days < min_days:
            out.append(f"expires in {days:.0f} days ({self.not_after:%Y-%m-%d})")
        if self.renewal_time is not None and now - self.renewal_time > RENEWAL_GRACE:
            out.append(f"renewal overdue since {self.renewal_time:%Y-%m-%d %H:%M}Z")
        return out


def certificate_state(obj: dict[str, Any]) -> CertificateState:
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    reason = ""
    if ready is not None and ready.get("status") != "True":
        reason = (ready.get("reason") or "") + (f" ({excerpt(ready['message'], 120)})" if ready.get("message") else "")
    return CertificateState(
        object=f"{meta.get('namespace')}/{meta['name']}",
        secret=spec.get("secretName", ""),
        ready=ready.get("status", "Unknown") if ready else "missing",
        reason=reason.strip(),
        not_after=parse_time(status.get("notAfter")),
        renewal_time=parse_time(status.get("renewalTime")),
    )


def now() -> datetime:
    return datetime.now(UTC)


def certificate_findings(
    certs: Iterable[dict[str, Any]], at: datetime, min_days: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(a row per Certificate, offenders: not Ready, expiring within `min_days`, renewal overdue)."""
    rows, offenders = [], []
    for obj in certs:
        state = certificate_state(obj)
        days = state.days_left(at)
        rows.append(
            {
                "object": state.object,
                "secret": state.secret,
                "ready": state.ready,
                "not_after": f"{state.not_after:%Y-%m-%d %H:%M}Z" if state.not_after else "",
                "renewal_time": f"{state.renewal_time:%Y-%m-%d %H:%M}Z" if state.renewal_time else "",
                "days_left": round(days, 1) if days is not None else "",
            }
        )
        problems = state.problems(at, min_days)
        if problems:
            offenders.append({"object": state.object, "detail": "; ".join(problems)})
    return rows, offenders
