"""Log index retention in Elasticsearch/OpenSearch (002 weekly: "오래된 인덱스 삭제 (30일
이상)": `curl -X DELETE localhost:9200/logstash-$(date -d '30 days ago' +%Y.%m.%d)`), judged
on the rows opscheck/sources/log_indices.py reads from `_cat/indices`.

An index's age:
- from the date in its name when the profile's `name_date_format` finds one
  (`logstash-2024.01.31`: logstash writes `%{+YYYY.MM.dd}` in UTC, so the index holds that
  UTC day's logs). That is what the runbook's delete keys on, and it survives what resets
  the creation date: a snapshot restore keeps it, but a reindex, shrink or clone of an old
  index, or a re-created index, gets a new creation date while its logs stay old. The age is
  counted from the end of that day (its newest logs): `logstash-<today - 31 days>` is 30
  days old and within a 30-day retention; the runbook deletes exactly that one.
- otherwise from `creation.date` (rollover names like `logs-000042`, data streams without
  a date): how long ago the index started receiving logs.
"""

from __future__ import annotations

import fnmatch
import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from opscheck.profile import LogIndices

_STRFTIME_RE = {"%Y": r"(?P<Y>\d{4})", "%m": r"(?P<m>\d{2})", "%d": r"(?P<d>\d{2})"}


@dataclass(frozen=True)
class IndexAge:
    name: str
    status: str
    created: datetime | None
    name_date: date | None
    docs: int | None
    size_bytes: int | None
    age_days: float | None  # None: neither a name date nor a creation date
    basis: str  # "name" or "creation date"


def date_pattern(fmt: str) -> re.Pattern[str]:
    """A regex for `fmt` (strftime with %Y, %m and %d only, e.g. "%Y.%m.%d")."""
    parts = re.split(r"(%[Ymd])", fmt)
    if not {"%Y", "%m", "%d"} <= set(parts) or any(p.startswith("%") and p not in _STRFTIME_RE for p in parts if p):
        raise ValueError(f"name_date_format {fmt!r}: use %Y, %m and %d, e.g. %Y.%m.%d")
    return re.compile("".join(_STRFTIME_RE.get(p, re.escape(p)) for p in parts))


def name_date(name: str, fmt: str | None) -> date | None:
    """The last date `fmt` finds in `name`, or None."""
    if not fmt:
        return None
    found = None
    for m in date_pattern(fmt).finditer(name):
        try:
            found = date(int(m["Y"]), int(m["m"]), int(m["d"]))
        except ValueError:
            continue
    return found


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def index_ages(rows: list[dict[str, Any]], config: LogIndices, now: datetime) -> list[IndexAge]:
    """The rows of `_cat/indices` that match the patterns, with their age (oldest first)."""
    out = []
    for row in rows:
        name = str(row.get("index", ""))
        if not any(fnmatch.fnmatchcase(name, p) for p in config.patterns):
            continue
        millis = _int(row.get("creation.date"))
        created = datetime.fromtimestamp(millis / 1000, UTC) if millis is not None else None
        day = name_date(name, config.name_date_format)
        if day is not None:
            newest = datetime.combine(day + timedelta(days=1), time(0), UTC)
            age, basis = (now - newest).total_seconds() / 86400, "name"
        elif created is not None:
            age, basis = (now - created).total_seconds() / 86400, "creation date"
        else:
            age, basis = None, "unknown"
        out.append(
            IndexAge(
                name,
                str(row.get("status") or ""),
                created,
                day,
                _int(row.get("docs.count")),
                _int(row.get("store.size")),
                age,
                basis,
            )
        )
    return sorted(out, key=lambda a: -(a.age_days if a.age_days is not None else float("inf")))


def human_bytes(n: int | None) -> str:
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def index_rows(ages: list[IndexAge]) -> list[dict[str, Any]]:
    return [
        {
            "object": a.name,
            "status": a.status,
            "age_days": round(a.age_days, 1) if a.age_days is not None else "?",
            "age_from": a.basis,
            "created": a.created.isoformat(timespec="seconds") if a.created else "",
            "docs": a.docs if a.docs is not None else "",
            "size": human_bytes(a.size_bytes),
        }
        for a in ages
    ]


def past_retention(ages: list[IndexAge], retention_days: float) -> list[dict[str, Any]]:
    """The indices older than the retention."""
    return [
        # whole days, as an operator counts them: 39.6 days is 39 days old, not 40
        {"object": a.name, "detail": f"{math.floor(a.age_days)} days old by its {a.basis}, {human_bytes(a.size_bytes)}"}
        for a in ages
        if a.age_days is not None and a.age_days > retention_days
    ]
