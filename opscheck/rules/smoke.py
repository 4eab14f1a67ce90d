"""Smoke requests after a deployment judged: the expected status, within the latency target."""

from __future__ import annotations


def smoke_detail(
    status: int | None,
    elapsed_ms: float,
    error: str | None,
    expect_status: int,
    max_latency_ms: float,
    nothing: str | None = None,
) -> str:
    """ "ok", or why the request failed (unreachable, another status, too slow, `nothing`:
    why the answer carries nothing to judge, from rules.health.empty_answer)."""
    if status is None:
        return f"unreachable: {error}"
    if status != expect_status:
        return f"HTTP {status}, expected {expect_status}"
    if elapsed_ms > max_latency_ms:
        return f"{elapsed_ms:.0f} ms, over {max_latency_ms:g} ms"
    return nothing or "ok"
