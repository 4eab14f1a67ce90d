"""Judging what the checks read on hosts with testinfra: node filesystems (df) against the
disk threshold."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opscheck.sources.node_disks import HostFilesystems

Row = dict[str, Any]


def filesystems_over(hosts: Sequence[HostFilesystems], limit: float) -> tuple[list[Row], list[Row], list[str]]:
    """(rows, offenders: filesystems over `limit` % used, notes: paths a host lacks)."""
    rows, offenders, notes = [], [], []
    for h in hosts:
        for fs in h.found:
            rows.append(fs.row())
            if fs.percent > limit:
                offenders.append({"object": f"{h.host}:{fs.mount}", "detail": f"{fs.percent}% used"})
        if h.missing:
            notes.append(f"{h.host}: no {', '.join(h.missing)} (skipped)")
    return rows, offenders, notes


def hosts_without_filesystems(hosts: Sequence[HostFilesystems]) -> list[str]:
    """Hosts that have none of the configured paths."""
    return [h.host for h in hosts if not h.found]
