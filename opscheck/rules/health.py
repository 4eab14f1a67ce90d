"""Judging health endpoints (the runbooks' `curl http://<svc>:8080/health`): a 200 with
status UP, and the readiness sub-checks (`{"checks": {"hsm": "DOWN"}}`) UP."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opscheck.redact import excerpt

if TYPE_CHECKING:
    from opscheck.sources.http import Probe


def probe_problem(p: Probe) -> str | None:
    """Why this answer is not healthy, or None. Healthy: 200 with a JSON status UP, or 200
    with a text of its own (Prometheus' "Prometheus Server is Healthy."); an empty answer or
    a JSON answer without a status says nothing about health."""
    if p.status is None:
        return p.error
    if p.status != 200:
        return f"HTTP {p.status}" + (
            f", status {p.body.get('status')}" if isinstance(p.body, dict) and p.body.get("status") else ""
        )
    if isinstance(p.body, dict):
        if "status" not in p.body:
            return f"HTTP 200 without a status: {excerpt(p.text.strip(), 80)}"
        if p.body["status"] != "UP":
            return f"status {p.body['status']}"
        return None
    return empty_answer(p.body, p.text)


def empty_answer(body: Any, text: str) -> str | None:
    """ "answered with nothing" when a 200 carries nothing to judge (no body, `{}`, `[]`), else None."""
    if body in ({}, []) or (body is None and not text.strip()):
        return f"answered with nothing ({excerpt(text.strip(), 20) or 'empty body'})"
    return None


def down_subchecks(p: Probe, names: list[str]) -> list[str]:
    """Readiness sub-checks that are not UP: `hsm: DOWN`, `vault: missing`."""
    checks = (p.body or {}).get("checks") if isinstance(p.body, dict) else None
    checks = checks or {}
    out = []
    for name in names:
        value = checks.get(name)
        if isinstance(value, dict):
            value = value.get("status")
        if value != "UP":
            out.append(f"{name}: {value or 'missing'}")
    return out


def endpoint_row(service: str, path: str, p: Probe, ready_checks: list[str] | None) -> dict[str, Any]:
    """The evidence row of one endpoint; `ready_checks` for the readiness endpoint."""
    problem = probe_problem(p)
    if ready_checks is not None and p.status is not None:
        problem = "; ".join(x for x in [problem, *down_subchecks(p, ready_checks)] if x) or None
    return {
        "object": f"{service} {path}",
        "detail": problem or "UP",
        "http_status": p.status,
        "ms": round(p.elapsed_ms),
    }


def loki_ready(status: int | None, text: str, error: str) -> tuple[bool, str]:
    """Loki's GET /ready: 200 with the body "ready" when it takes logs; else why not."""
    if status is None:
        return False, error
    body = text.strip()
    if status == 200 and body == "ready":
        return True, "ready"
    return False, f"HTTP {status}: {excerpt(body, 160)}"
