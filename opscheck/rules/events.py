"""Kubernetes events judged: Warning events in a window (`kubectl get events | grep Warning`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from opscheck.redact import excerpt
from opscheck.timeutil import parse_time

Obj = dict[str, Any]
Row = dict[str, Any]


def recent_warnings(events: Iterable[Obj], since: datetime) -> list[Row]:
    """A row per Warning event last seen at or after `since` (or with no time at all)."""
    rows = []
    for ev in events:
        if ev.get("type") != "Warning":
            continue
        seen = parse_time(ev.get("lastTimestamp") or ev.get("eventTime") or ev["metadata"].get("creationTimestamp"))
        if seen is not None and seen < since:
            continue
        obj = ev.get("involvedObject") or {}
        rows.append(
            {
                "object": f"{obj.get('kind', '?')}/{ev['metadata']['namespace']}/{obj.get('name', '?')}",
                "detail": f"{ev.get('reason')}: {excerpt(ev.get('message') or '', 160)}",
                "count": ev.get("count", 1),
                "last_seen": seen.strftime("%Y-%m-%d %H:%M:%S") if seen else "",
            }
        )
    return rows
