"""Timestamps as the APIs write them (RFC 3339, `Z`, up to nanoseconds)."""
from __future__ import annotations

from datetime import datetime, timezone


def parse_time(value: str | None) -> datetime | None:
    """An aware UTC datetime, or None for a missing or malformed value."""
    if not value:
        return None
    try:
        ts = datetime.fromisoformat(value)  # 3.11+: accepts Z and truncates nanoseconds
    except ValueError:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
