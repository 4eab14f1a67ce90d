"""Judging backup files: database dumps and etcd snapshots (read by
opscheck/sources/dumps.py and etcd_snapshots.py) against their age, size and retention."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from opscheck.profile import EtcdBackups

if TYPE_CHECKING:
    from opscheck.sources.dumps import DumpFile, DumpListing
    from opscheck.sources.etcd_snapshots import HostSnapshots, SnapshotStatus

Row = dict[str, Any]


def hours(delta: timedelta | float) -> str:
    h = delta.total_seconds() / 3600 if isinstance(delta, timedelta) else delta
    return f"{h:.1f} h"


def dump_problems(
    dumps: list[DumpFile], now: datetime, *, max_age: timedelta, retention: timedelta, min_size: int
) -> list[str]:
    """The daily rule: the newest dump is recent and not empty; nothing past retention kept."""
    problems = []
    if not dumps:
        return ["no dump file found"]
    newest = dumps[-1]
    if newest.age(now) > max_age:
        problems.append(f"newest dump {newest.name} is {hours(newest.age(now))} old, over {hours(max_age)}")
    if newest.size < min_size:
        problems.append(f"newest dump {newest.name} is {newest.size} bytes, under {min_size} bytes")
    expired = [d for d in dumps if d.age(now) > retention]
    if expired:
        names = ", ".join(f"{d.name} ({d.age(now).total_seconds() / 86400:.0f} days)" for d in expired[:5])
        more = f" and {len(expired) - 5} more" if len(expired) > 5 else ""
        problems.append(
            f"{len(expired)} dumps older than the {retention.total_seconds() / 86400:g}-day "
            f"retention kept: {names}{more}"
        )
    return problems


def history_gaps(dumps: list[DumpFile], now: datetime, *, days: int, max_gap: timedelta, min_size: int) -> list[Row]:
    """Stretches longer than `max_gap` without a (non-empty) dump over the last `days`:
    a day the backup did not succeed."""
    start = now - timedelta(days=days)
    good = sorted((d for d in dumps if d.size >= min_size), key=lambda d: d.mtime)
    before = [d.mtime for d in good if d.mtime <= start]
    points = [max(before)] if before else [start]
    points += [d.mtime for d in good if start < d.mtime <= now]
    points.append(now)
    gaps = []
    for a, b in zip(points, points[1:], strict=False):
        if b - a > max_gap:
            gaps.append(
                {
                    "object": f"{a:%Y-%m-%d %H:%M}Z .. {b:%Y-%m-%d %H:%M}Z",
                    "detail": f"{hours(b - a)} without a dump, over {hours(max_gap)}",
                }
            )
    return gaps


def snapshot_problems(
    snapshots: list[DumpFile],
    newest_status: SnapshotStatus | None,
    now: datetime,
    *,
    max_age: timedelta,
    retention: timedelta | None,
    min_size: int,
) -> list[str]:
    """The runbook's rule: a fresh, valid newest snapshot; nothing kept past retention."""
    if not snapshots:
        return ["no etcd snapshot found"]
    newest = snapshots[-1]
    problems = []
    if newest.age(now) > max_age:
        problems.append(f"newest snapshot {newest.name} is {hours(newest.age(now))} old, over {hours(max_age)}")
    if newest.size < min_size:
        problems.append(f"newest snapshot {newest.name} is {newest.size} bytes, under {min_size} bytes")
    if newest_status is not None and not newest_status.valid:
        problems.append(f"newest snapshot {newest.name} is not valid: {newest_status.detail}")
    if retention is not None:
        expired = [s for s in snapshots if s.age(now) > retention]
        if expired:
            days = retention.total_seconds() / 86400
            names = ", ".join(f"{s.name} ({s.age(now).total_seconds() / 86400:.1f} days)" for s in expired[:5])
            more = f" and {len(expired) - 5} more" if len(expired) > 5 else ""
            problems.append(f"{len(expired)} snapshots kept past the {days:g}-day retention: {names}{more}")
    return problems


def snapshot_report(
    hosts: Sequence[HostSnapshots],
    backups: EtcdBackups,
    now: datetime,
    *,
    max_age: timedelta,
    retention: timedelta | None,
) -> tuple[list[Row], list[Row]]:
    """Per host: its snapshot files (the newest with its status) as rows, and the offending
    rows; `backups` names the directory and the smallest size a snapshot may have."""
    rows: list[Row] = []
    offenders: list[Row] = []
    for h in hosts:
        snaps, status = h.snapshots, h.newest_status
        if snaps is None:
            where = backups.path_on(h.host)
            offenders.append({"object": h.host, "detail": f"snapshot directory {where} does not exist"})
            continue
        for s in snaps[-10:]:
            rows.append(
                {"host": h.host, **s.row(now)} | ({"status": status.detail} if s is snaps[-1] and status else {})
            )
        for problem in snapshot_problems(
            snaps, status, now, max_age=max_age, retention=retention, min_size=backups.min_size_bytes
        ):
            offenders.append({"object": h.host, "detail": problem})
    return rows, offenders


def dump_file_report(
    listings: Sequence[DumpListing],
    directory: str,
    now: datetime,
    *,
    max_age: timedelta,
    retention: timedelta,
    min_size: int,
) -> tuple[list[Row], list[str]]:
    """(the newest ten dumps of each host as rows, problems: a missing directory, and
    dump_problems per host)."""
    rows: list[Row] = []
    problems: list[str] = []
    for listing in listings:
        where = f"{listing.host}:{directory}"
        if listing.dumps is None:
            problems.append(f"{where}: directory does not exist")
            continue
        rows += [{**d.row(now), "host": listing.host} for d in reversed(listing.dumps[-10:])]
        problems += [
            f"{where}: {p}"
            for p in dump_problems(listing.dumps, now, max_age=max_age, retention=retention, min_size=min_size)
        ]
    return rows, problems


def history_report(
    listings: Sequence[DumpListing], now: datetime, *, days: int, max_gap: timedelta, min_size: int
) -> tuple[list[Row], list[Row]]:
    """(the dumps of the last `days` (+1) of each host as rows, the gaps of each host);
    hosts without the directory are left to the caller (`listing.dumps is None`)."""
    rows: list[Row] = []
    offenders: list[Row] = []
    for listing in listings:
        dumps = listing.dumps or []
        rows += [
            {**d.row(now), "host": listing.host} for d in reversed(dumps) if d.age(now) <= timedelta(days=days + 1)
        ]
        offenders += [
            {**g, "object": f"{listing.host} {g['object']}"}
            for g in history_gaps(dumps, now, days=days, max_gap=max_gap, min_size=min_size)
        ]
    return rows, offenders
