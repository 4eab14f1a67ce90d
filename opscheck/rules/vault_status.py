"""Vault's seal status (`vault status`, GET /v1/sys/health) judged."""

from __future__ import annotations

from typing import Any

Row = dict[str, Any]


def vault_status(address: str, health: dict[str, Any]) -> tuple[Row, Row | None]:
    """(its row, an offender unless initialized and unsealed)."""
    state = "sealed" if health.get("sealed") else ("not initialized" if not health.get("initialized") else "unsealed")
    row = {"object": address, "detail": f"vault status: {state}", "version": health.get("version", "")}
    return row, (None if state == "unsealed" else {"object": address, "detail": f"Vault is {state}"})
