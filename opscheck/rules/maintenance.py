"""Maintenance windows: is now a time the runbook allows a planned change?

QSIGN's runbook: `maintenance_window: Sunday 02:00-06:00 KST`. A window is a set of days,
a start and an end time in a named time zone; an end at or before the start runs past
midnight into the next day.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_hhmm(text: str) -> time:
    if text == "24:00":
        return time(23, 59, 59, 999999)
    hh, mm = text.split(":")
    return time(int(hh), int(mm))


def window_contains(days: list[str], start: str, end: str, tz: str, now: datetime) -> bool:
    """True if `now` (aware) is inside the window opened on one of `days` in zone `tz`."""
    local = now.astimezone(ZoneInfo(tz))
    begin, finish = parse_hhmm(start), parse_hhmm(end)
    for opened_days_ago in (0, 1):  # a window past midnight opened yesterday
        day = (local - timedelta(days=opened_days_ago)).date()
        if DAYS[day.weekday()] not in days:
            continue
        opens = datetime.combine(day, begin, local.tzinfo)
        closes = datetime.combine(day if finish > begin else day + timedelta(days=1), finish, local.tzinfo)
        if opens <= local < closes:
            return True
    return False


def describe(days: list[str], start: str, end: str, tz: str) -> str:
    return f"{','.join(d.capitalize() for d in days)} {start}-{end} {tz}"
