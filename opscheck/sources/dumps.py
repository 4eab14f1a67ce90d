"""Database dump files on backup hosts, read through pytest-testinfra.

The SmartSensor backup script (002) writes a dump a day into a directory on a backup host
and deletes what is older than 30 days; Titanium (003) does the same from a CronJob. The
checks read that directory with one `find` per host (GNU find on the host, any number of
files), and read archives with `pg_restore` on the backup host itself, so nothing is
copied and nothing is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from opscheck.errors import DependencyError
from opscheck.sources.hostcommands import TIMED_OUT, bounded, timed_out

Row = dict[str, Any]


@dataclass(frozen=True)
class DumpFile:
    path: str
    mtime: datetime
    size: int

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    def age(self, now: datetime) -> timedelta:
        return now - self.mtime

    def row(self, now: datetime) -> Row:
        return {
            "object": self.name,
            "modified": f"{self.mtime:%Y-%m-%d %H:%M:%S}Z",
            "age_hours": round(self.age(now).total_seconds() / 3600, 1),
            "bytes": self.size,
        }


def run_on(host: Any, host_name: str, command: str, *args: str, limited: bool = True) -> Any:
    """host.run, with a connection failure turned into a DependencyError naming the host;
    `limited`: under `timeout` (opscheck/sources/hostcommands.py), a DependencyError when
    it stops the command (a command with a time limit of its own passes False)."""
    try:
        result = host.run(bounded(command) if limited else command, *args)
    except Exception as exc:  # testinfra raises backend-specific errors for an unreachable host
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise DependencyError(f"backup host {host_name}: {text}") from None
    if limited and result.rc in TIMED_OUT:
        raise DependencyError(f"backup host {host_name}: {timed_out(command)}")
    return result


@dataclass(frozen=True)
class BackupHost:
    """A host holding dump files, read with testinfra."""

    name: str
    host: Any

    def dumps(self, directory: str, pattern: str) -> list[DumpFile] | None:
        return list_dumps(self.host, self.name, directory, pattern)

    def verify(self, dump: DumpFile, pg_restore: str, tables: list[str], timeout_seconds: int) -> list[str]:
        return verify_archive(self.host, self.name, dump, pg_restore, tables, timeout_seconds)


@dataclass(frozen=True)
class DumpListing:
    host: str
    dumps: list[DumpFile] | None  # oldest first; None: the directory does not exist


def list_dumps(host: Any, host_name: str, directory: str, pattern: str) -> list[DumpFile] | None:
    """The dump files in `directory` matching `pattern`, oldest first; None when the
    directory does not exist on the host."""
    probe = run_on(host, host_name, "test -d %s", directory)
    if probe.rc != 0:
        return None
    out = run_on(host, host_name, "find %s -maxdepth 1 -type f -name %s -printf '%%T@ %%s %%p\\n'", directory, pattern)
    if out.rc != 0:
        raise DependencyError(f"backup host {host_name}: cannot list {directory}: {out.stderr.strip()}")
    found = []
    for line in out.stdout.splitlines():
        stamp, size, path = line.split(" ", 2)
        found.append(DumpFile(path, datetime.fromtimestamp(float(stamp), UTC), int(size)))
    return sorted(found, key=lambda d: d.mtime)


_TABLE_DATA = re.compile(r"^\d+; \d+ \d+ TABLE DATA (\S+) (\S+) ")


def archive_tables(toc: str) -> set[str]:
    """schema.table of every TABLE DATA entry in a `pg_restore --list` output."""
    return {f"{m.group(1)}.{m.group(2)}" for m in map(_TABLE_DATA.match, toc.splitlines()) if m}


def first_error(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()]
    return (errors or lines or ["no output"])[0]


def verify_archive(
    host: Any, host_name: str, dump: DumpFile, pg_restore: str, tables: list[str], timeout_seconds: int
) -> list[str]:
    """Read the archive through on the backup host: its table of contents lists data for
    `tables`, and every data block decompresses (pg_restore to /dev/null: no database).
    coreutils `timeout` bounds each read on the host."""
    toc = run_on(host, host_name, "timeout %s %s --list %s", str(timeout_seconds), pg_restore, dump.path, limited=False)
    if toc.rc != 0:
        return [f"{dump.name} is not a readable pg_dump archive: {_failure(toc, timeout_seconds)}"]
    problems = []
    missing = sorted(set(tables) - archive_tables(toc.stdout))
    if missing:
        problems.append(f"{dump.name} holds no data for {', '.join(missing)}")
    full = run_on(
        host, host_name, "timeout %s %s --file=/dev/null %s", str(timeout_seconds), pg_restore, dump.path, limited=False
    )
    if full.rc != 0:
        problems.append(f"{dump.name} cannot be read through: {_failure(full, timeout_seconds)}")
    return problems


def _failure(result: Any, timeout_seconds: int) -> str:
    if result.rc == 124:
        return f"pg_restore did not finish within {timeout_seconds} s"
    return first_error(result.stderr)
