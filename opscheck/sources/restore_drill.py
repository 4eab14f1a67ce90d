"""The opt-in restore drill: the newest dump restored into a scratch database, timed.

This is the one place opscheck writes to a database, and only when the profile enables
`restore_drill`. The writes are confined by the role the profile names: it must not be a
superuser, and should own the scratch database and be refused everywhere else (the test
environment's pg_hba.conf does exactly that). The scratch database is emptied (DROP OWNED
BY the drill role) before the restore and always after it, pass or fail.

The measured time runs from the start (fetching the dump, when the backup host is remote)
to the end of the row counts, and is compared with the RTO; the dump's age is the RPO.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from opscheck.errors import DependencyError, ProfileError
from opscheck.profile import PostgresConfig, RestoreDrill, expand_path
from opscheck.sources.dumps import DumpFile, first_error
from opscheck.sources.postgres import connect_kwargs, describe_error

# TOC entries a non-superuser cannot restore (untrusted extensions such as
# pg_stat_statements, and their comments); the data does not depend on them.
_SUPERUSER_ONLY = re.compile(r"^\d+; \d+ \d+ (EXTENSION|COMMENT - EXTENSION) ")


@dataclass
class DrillResult:
    dump: DumpFile
    seconds: float = 0.0
    counts: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    skipped_entries: list[str] = field(default_factory=list)

    @property
    def duration(self) -> str:
        return fmt_seconds(self.seconds)


def fmt_seconds(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _libpq_env(cfg: PostgresConfig) -> dict[str, str]:
    """The password for pg_restore goes through the environment, never the command line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if cfg.password is not None:
        env["PGPASSWORD"] = cfg.password.read()
    if cfg.passfile:
        env["PGPASSFILE"] = str(expand_path(cfg.passfile))
    env["PGCONNECT_TIMEOUT"] = str(cfg.connect_timeout_seconds)
    return env


def _connect(cfg: PostgresConfig) -> psycopg.Connection[Any]:
    # The drill writes to its scratch database: no read-only session default.
    kwargs = connect_kwargs(cfg, "opscheck-restore-drill", session_options="")
    try:
        return psycopg.connect(**kwargs, autocommit=True)
    except psycopg.Error as exc:
        raise DependencyError(f"restore drill: {describe_error(cfg, exc)}") from None


def _confined(conn: psycopg.Connection[Any], cfg: PostgresConfig) -> None:
    row = conn.execute(
        "SELECT current_database(), r.rolsuper FROM pg_roles r WHERE r.rolname = current_user"
    ).fetchone()
    assert row is not None
    if row[1]:
        raise ProfileError(
            f"restore_drill.connection: role {cfg.user} is a superuser; the drill needs a role "
            f"that can write to the scratch database {cfg.dbname} only"
        )


def _empty(conn: psycopg.Connection[Any]) -> None:
    """Drop everything the drill role owns in the scratch database (nothing elsewhere)."""
    conn.execute("DROP OWNED BY CURRENT_USER")


def _local_copy(host: Any, dump: DumpFile, workdir: Path) -> Path:
    if getattr(host.backend, "NAME", "") == "local":
        return Path(dump.path)
    target = workdir / dump.name
    try:
        target.write_bytes(host.file(dump.path).content)
    except Exception as exc:
        raise DependencyError(f"restore drill: cannot fetch {dump.name} from the backup host: {exc}") from None
    return target


def run_drill(drill: RestoreDrill, host: Any, dump: DumpFile, now: datetime | None = None) -> DrillResult:
    """Restore `dump` into the scratch database, count rows, always empty it afterwards."""
    assert drill.connection is not None
    cfg = drill.connection
    now = now or datetime.now(UTC)
    result = DrillResult(dump)
    age_hours = dump.age(now).total_seconds() / 3600
    if age_hours > drill.rpo_hours:
        result.problems.append(f"newest dump {dump.name} is {age_hours:.1f} h old, over the RPO {drill.rpo_hours:g} h")

    conn = _connect(cfg)
    try:
        _confined(conn, cfg)
        _empty(conn)
        with tempfile.TemporaryDirectory(prefix="opscheck-drill-") as tmp:
            workdir = Path(tmp)
            start = time.monotonic()
            local = _local_copy(host, dump, workdir)
            restored = _restore(drill, local, workdir, result)
            if restored:
                _count(conn, drill, result)
            result.seconds = time.monotonic() - start
        rto = drill.rto_minutes * 60
        if result.seconds > rto:
            result.problems.append(
                f"restore and verification took {fmt_seconds(result.seconds)}, over the RTO {drill.rto_minutes:g} min"
            )
    finally:
        try:
            _empty(conn)
        finally:
            conn.close()
    return result


def _restore(drill: RestoreDrill, archive: Path, workdir: Path, result: DrillResult) -> bool:
    assert drill.connection is not None
    cfg = drill.connection
    env = _libpq_env(cfg)
    listing = subprocess.run(
        [drill.pg_restore, "--list", str(archive)], capture_output=True, text=True, env=env, timeout=300
    )
    if listing.returncode != 0:
        result.problems.append(f"{result.dump.name} is not a readable pg_dump archive: {first_error(listing.stderr)}")
        return False
    kept = []
    for line in listing.stdout.splitlines():
        if _SUPERUSER_ONLY.match(line):
            result.skipped_entries.append(line.split(" ", 3)[3].strip())
        else:
            kept.append(line)
    use_list = workdir / "restore.list"
    use_list.write_text("\n".join(kept) + "\n")
    conninfo = make_conninfo(
        host=cfg.host,
        port=cfg.port,
        dbname=cfg.dbname,
        user=cfg.user,
        sslmode=cfg.sslmode,
        application_name="opscheck-restore-drill",
    )
    try:
        proc = subprocess.run(
            [
                drill.pg_restore,
                f"--dbname={conninfo}",
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--single-transaction",
                f"--use-list={use_list}",
                str(archive),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=drill.timeout_minutes * 60,
        )
    except subprocess.TimeoutExpired:
        result.problems.append(f"pg_restore of {result.dump.name} did not finish within {drill.timeout_minutes:g} min")
        return False
    if proc.returncode != 0:
        result.problems.append(f"pg_restore of {result.dump.name} failed: {first_error(proc.stderr)}")
        return False
    return True


def _count(conn: psycopg.Connection[Any], drill: RestoreDrill, result: DrillResult) -> None:
    for table in drill.tables:
        schema, _, name = table.name.partition(".")
        try:
            row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, name))).fetchone()
            count = int(row[0]) if row else 0
        except psycopg.errors.UndefinedTable:
            result.counts.append({"object": table.name, "rows": None, "min_rows": table.min_rows})
            result.problems.append(f"table {table.name} is missing from the restored dump")
            continue
        result.counts.append({"object": table.name, "rows": count, "min_rows": table.min_rows})
        if count < table.min_rows:
            result.problems.append(f"table {table.name} has {count} rows after the restore, under {table.min_rows}")
