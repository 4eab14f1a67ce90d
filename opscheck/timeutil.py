"""Timestamps as the APIs write them (RFC 3339, `Z`, up to nanoseconds)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone


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


_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(value: str) -> timedelta:
    """'90m', '26h', '8d', '2w' -> timedelta; ValueError naming the expected form otherwise."""
    text = str(value).strip()
    number, unit = text[:-1], text[-1:]
    try:
        amount = float(number)
    except ValueError:
        amount = -1.0
    if unit not in _UNITS or amount <= 0:
        raise ValueError(f"{value!r} is not a duration like 90m, 26h, 8d or 2w")
    return timedelta(seconds=amount * _UNITS[unit])


def describe_age(delta: timedelta) -> str:
    """'3.5 days' / '7.2 h' / '12 min': how an operator says an age."""
    seconds = delta.total_seconds()
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min"
