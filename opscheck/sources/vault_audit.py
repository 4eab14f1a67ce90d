"""Reading a Vault file audit log: timestamps only, never the (HMAC'd) request bodies."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from opscheck.errors import DependencyError
from opscheck.profile import expand_path
from opscheck.timeutil import parse_time

TAIL_BYTES = 256 * 1024


def newest_entry_time(path: str) -> datetime | None:
    """The `time` of the last complete JSON line of the audit log."""
    p = expand_path(path)
    try:
        with open(p, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - TAIL_BYTES))
            tail = f.read().decode("utf-8", "replace")
    except OSError as exc:
        raise DependencyError(f"cannot read Vault audit log {p}: {exc.strerror}") from None
    for line in reversed(tail.splitlines()):
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a partial first line, or a line being written
        ts = parse_time(entry.get("time"))
        if ts is not None:
            return ts
    return None


# -- the weekly review (000 주간 보안 점검: 실패한 인증 시도, Vault Audit 로그 리뷰) ------------
FAILED_AUTH = "failed-auth"
PERMISSION_DENIED = "permission-denied"
ROOT_TOKEN = "root-token"
_LOGIN_PATH = re.compile(r"^auth/.+/login(/|$)")


@dataclass(frozen=True)
class AuditEvent:
    kind: str  # FAILED_AUTH, PERMISSION_DENIED or ROOT_TOKEN
    time: datetime
    path: str
    remote: str
    who: str  # the token's display name, or "(no valid token)"
    error: str

    def row(self) -> dict[str, str]:
        return {
            "object": f"{self.time:%Y-%m-%d %H:%M:%S}Z {self.path}",
            "kind": self.kind,
            "remote_address": self.remote,
            "identity": self.who,
            "detail": self.error,
        }


def classify(entry: dict) -> list[str]:
    """What a response entry of the audit log counts as (none, or several kinds)."""
    auth = entry.get("auth") or {}
    request = entry.get("request") or {}
    error = entry.get("error") or ""
    kinds = []
    token_accepted = bool(auth.get("client_token") or auth.get("policies"))
    if error:
        if _LOGIN_PATH.match(request.get("path") or "") or not token_accepted:
            kinds.append(FAILED_AUTH)
        elif "permission denied" in error:
            kinds.append(PERMISSION_DENIED)
    if "root" in (auth.get("policies") or []):
        kinds.append(ROOT_TOKEN)
    return kinds


def review_events(path: str, since: datetime) -> list[AuditEvent]:
    """Failed authentications, permission denials and root-token requests since `since`,
    one per request (its response entry), from the whole file. Bodies stay HMAC'd and are
    never read; only time, path, remote address, display name and error are kept."""
    p = expand_path(path)
    events: list[AuditEvent] = []
    try:
        with open(p, "rb") as f:
            for raw in f:
                # most lines are neither errors nor root: skip them without parsing JSON
                if b'"response"' not in raw or (b'"error"' not in raw and b'"root"' not in raw):
                    continue
                try:
                    entry = json.loads(raw)
                except ValueError:
                    continue
                if entry.get("type") != "response":
                    continue
                kinds = classify(entry)
                if not kinds:
                    continue
                ts = parse_time(entry.get("time"))
                if ts is None or ts < since:
                    continue
                auth, request = entry.get("auth") or {}, entry.get("request") or {}
                error = " ".join((entry.get("error") or "").replace("1 error occurred:", "").split()).lstrip("* ")
                for kind in kinds:
                    events.append(
                        AuditEvent(
                            kind,
                            ts,
                            request.get("path") or "",
                            request.get("remote_address") or "",
                            auth.get("display_name") or "(no valid token)",
                            error,
                        )
                    )
    except OSError as exc:
        raise DependencyError(f"cannot read Vault audit log {p}: {exc.strerror}") from None
    return events


@dataclass(frozen=True)
class AuditReview:
    """The audit log's events of the review window (the last `window`)."""

    events: list[AuditEvent]
    window: timedelta

    def of_kind(self, kind: str) -> list[AuditEvent]:
        return [e for e in self.events if e.kind == kind]

    @property
    def failed_auth(self) -> list[AuditEvent]:
        return self.of_kind(FAILED_AUTH)

    @property
    def permission_denied(self) -> list[AuditEvent]:
        return self.of_kind(PERMISSION_DENIED)

    @property
    def root_token(self) -> list[AuditEvent]:
        return self.of_kind(ROOT_TOKEN)


def review(path: str, window: timedelta, now: datetime) -> AuditReview:
    return AuditReview(review_events(path, now - window), window)
