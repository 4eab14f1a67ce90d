"""Probing HTTP health endpoints (the runbooks' `curl http://<svc>:8080/health`)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import requests


@dataclass
class Probe:
    url: str
    status: int | None  # None: no HTTP answer at all
    body: Any  # parsed JSON, or None
    elapsed_ms: float
    error: str = ""

    def problem(self) -> str | None:
        """Why this answer is not healthy (200 with status UP), or None."""
        if self.status is None:
            return self.error
        if self.status != 200:
            return f"HTTP {self.status}" + (f", status {self.body.get('status')}" if isinstance(self.body, dict) and self.body.get("status") else "")
        if isinstance(self.body, dict) and "status" in self.body and self.body["status"] != "UP":
            return f"status {self.body['status']}"
        return None

    def down_subchecks(self, names: list[str]) -> list[str]:
        """Readiness sub-checks (`{"checks": {"hsm": "DOWN"}}`) that are not UP."""
        checks = (self.body or {}).get("checks") if isinstance(self.body, dict) else None
        checks = checks or {}
        out = []
        for name in names:
            value = checks.get(name)
            if isinstance(value, dict):
                value = value.get("status")
            if value != "UP":
                out.append(f"{name}: {value or 'missing'}")
        return out


def probe(session: requests.Session, url: str, timeout: float) -> Probe:
    start = time.monotonic()
    try:
        resp = session.get(url, timeout=timeout, allow_redirects=False)
    except requests.Timeout:
        return Probe(url, None, None, (time.monotonic() - start) * 1000, f"no answer within {timeout:g}s")
    except requests.ConnectionError as exc:
        reason = "connection refused" if "refused" in str(exc).lower() else "cannot connect"
        return Probe(url, None, None, (time.monotonic() - start) * 1000, reason)
    elapsed = (time.monotonic() - start) * 1000
    try:
        body = resp.json()
    except ValueError:
        body = None
    return Probe(url, resp.status_code, body, elapsed)
