"""Log index retention in Elasticsearch/OpenSearch (002 weekly: "오래된 인덱스 삭제 (30일
이상)": `curl -X DELETE localhost:9200/logstash-$(date -d '30 days ago' +%Y.%m.%d)`).

Read-only: one `GET _cat/indices/<patterns>?format=json` per run; nothing is deleted.

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
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from urllib.parse import quote

import requests

from opscheck.errors import DependencyError
from opscheck.profile import LogIndices
from opscheck.sources.http import bad_status, new_session, not_json, unanswered

CAT_COLUMNS = "index,status,creation.date,creation.date.string,docs.count,store.size"
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
        created = datetime.fromtimestamp(millis / 1000, timezone.utc) if millis is not None else None
        day = name_date(name, config.name_date_format)
        if day is not None:
            newest = datetime.combine(day + timedelta(days=1), time(0), timezone.utc)
            age, basis = (now - newest).total_seconds() / 86400, "name"
        elif created is not None:
            age, basis = (now - created).total_seconds() / 86400, "creation date"
        else:
            age, basis = None, "unknown"
        out.append(IndexAge(name, str(row.get("status") or ""), created, day, _int(row.get("docs.count")),
                            _int(row.get("store.size")), age, basis))
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


class IndexReader:
    """GET _cat/indices from the configured Elasticsearch/OpenSearch, nothing else."""

    def __init__(self, config: LogIndices) -> None:
        self.config = config
        self.where = f"Elasticsearch at {config.url}"
        self.session = new_session(config.timeout_seconds)

    def cat_indices(self) -> list[dict[str, Any]]:
        c = self.config
        targets = ",".join(quote(p, safe="*-_.") for p in c.patterns)
        # open and closed: a closed index still holds its disk; hidden ones are not logs.
        params = {"format": "json", "h": CAT_COLUMNS, "bytes": "b", "expand_wildcards": "open,closed"}
        auth = (c.username, c.password.read() if c.password else "") if c.username else None
        try:
            r = self.session.get(f"{c.url}/_cat/indices/{targets}", params=params, auth=auth,
                             verify=c.ca_file or True, timeout=c.timeout_seconds)
        except requests.RequestException as exc:
            raise unanswered(self.where, exc, c.timeout_seconds) from None
        if r.status_code in (401, 403):
            raise bad_status(self.where, r.status_code, "GET _cat/indices",
                             "the credentials were rejected or lack the monitor privilege")
        if r.status_code == 404:  # a concrete name (no wildcard) that does not exist
            return []
        if r.status_code != 200:
            raise bad_status(self.where, r.status_code, "GET _cat/indices")
        try:
            rows = r.json()
        except ValueError:
            raise not_json(self.where, "GET _cat/indices", r.status_code) from None
        if not isinstance(rows, list):
            raise DependencyError(f"{self.where}: GET _cat/indices answered {type(rows).__name__}, not a list")
        return rows
