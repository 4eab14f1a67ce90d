"""Smoke requests after a deployment judged: the expected status, within the latency target."""

from __future__ import annotations


def smoke_detail(
    status: int | None, elapsed_ms: float, error: str | None, expect_status: int, max_latency_ms: float
) -> str:
    """ "ok", or why the request failed (unreachable, another status, too slow)."""
    if status is None:
        return f"unreachable: {error}"
    if status != expect_status:
        return f"HTTP {status}, expected {expect_status}"
    if elapsed_ms > max_latency_ms:
        return f"{elapsed_ms:.0f} ms, over {max_latency_ms:g} ms"
    return "ok"
