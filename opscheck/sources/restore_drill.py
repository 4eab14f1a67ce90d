"""The opt-in restore drill: the newest dump restored into a scratch database, timed.

This is the one place opscheck writes to a database, and only when the profile enables
`restore_drill`. The writes are confined by the role the profile names: it must not be a
superuser, and should own the scratch database and be refused everywhere else (the test
environment's pg_hba.conf does exactly that).

The drill empties the scratch database (DROP OWNED BY the drill role) before the restore
and always after it, but only a database it can prove is its scratch database: never the
monitored one, owned by the drill role, and marked by the drill (a COMMENT ON DATABASE with a
random id, written when the drill first found the database empty). Before emptying, the
database must hold nothing but what a drill restored: empty when the last drill left it
("idle"), or only the drill role's objects when a drill was interrupted ("restoring").
Anything else is refused with a message naming the database and why, before any DROP.

The measured time runs from the start (fetching the dump, when the backup host is remote)
to the end of the row counts, and is compared with the RTO; the dump's age is the RPO.
"""

from __future__ import annotations

import os
import re
import secrets
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
from opscheck.sources.postgres import NO_TIMEOUTS, ServerTimeouts, connect, execute_bounded

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


# The drill's mark on its scratch database (a database comment survives DROP OWNED and is
# not part of a dump restored without --create).
MARKER = "opscheck restore-drill scratch database"
_MARKER = re.compile(rf"^{re.escape(MARKER)} ([0-9a-f]{{32}}); state=(idle|restoring)")

_OBJECTS = """
    SELECT kind, name, owner FROM (
      SELECT 'table' AS kind, format('%I.%I', n.nspname, c.relname) AS name, pg_get_userbyid(c.relowner) AS owner
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
        AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
      UNION ALL
      SELECT 'schema', n.nspname, pg_get_userbyid(n.nspowner) FROM pg_namespace n
      WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'public') AND n.nspname !~ '^pg_'
      UNION ALL
      SELECT 'function', p.oid::regprocedure::text, pg_get_userbyid(p.proowner)
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
      UNION ALL
      SELECT 'type', format_type(t.oid, NULL), pg_get_userbyid(t.typowner)
      FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE t.typtype IN ('d', 'e', 'r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        AND n.nspname !~ '^pg_'
      UNION ALL
      SELECT 'extension', e.extname, pg_get_userbyid(e.extowner) FROM pg_extension e WHERE e.extname <> 'plpgsql'
    ) o ORDER BY kind, name"""


@dataclass(frozen=True)
class ScratchFacts:
    """What the drill reads about the database before it empties anything."""

    database: str
    server: str  # host:port as the profile names it
    owner: str
    drill_role: str
    superuser: bool
    comment: str | None
    objects: list[tuple[str, str, str]]  # (kind, name, owner)


def _some(objects: list[tuple[str, str, str]], limit: int = 3) -> str:
    names = ", ".join(f"{kind} {name}" for kind, name, _ in objects[:limit])
    return names + (f" and {len(objects) - limit} more" if len(objects) > limit else "")


def scratch_verdict(facts: ScratchFacts, monitored: PostgresConfig | None, cfg: PostgresConfig) -> str | None:
    """Whether the drill may empty this database: None when it is already marked as the
    drill's, "claim" when it is empty and may be marked now; a refusal (ProfileError naming
    the database and why) otherwise."""
    where = f"restore_drill.connection: database {facts.database} on {facts.server}"
    if facts.superuser:
        raise ProfileError(
            f"{where}: role {facts.drill_role} is a superuser; the drill needs a role that can write "
            "to its scratch database only"
        )
    if monitored is not None and (monitored.host, monitored.port, monitored.dbname) == (cfg.host, cfg.port, cfg.dbname):
        raise ProfileError(f"{where} is the monitored database (postgres:); refusing to empty it")
    if facts.owner != facts.drill_role:
        raise ProfileError(
            f"{where} is owned by {facts.owner}, not by the drill role {facts.drill_role}; "
            "the drill only empties a scratch database its role owns; refusing to empty it"
        )
    mark = _MARKER.match(facts.comment or "")
    if mark is None:
        if facts.objects:
            raise ProfileError(
                f"{where} is not the drill's scratch database (no opscheck marker) and holds "
                f"{len(facts.objects)} objects ({_some(facts.objects)}); refusing to empty it. "
                "Give the drill an empty database owned by its role; the drill marks it on first use"
            )
        return "claim"
    foreign = [o for o in facts.objects if o[2] != facts.drill_role]
    if foreign:
        raise ProfileError(
            f"{where} holds objects of other roles ({_some(foreign)}): not only what the drill restored; "
            "refusing to empty it"
        )
    if mark.group(2) == "idle" and facts.objects:
        raise ProfileError(
            f"{where} holds {len(facts.objects)} objects the drill did not restore ({_some(facts.objects)}); "
            "the last drill left it empty; refusing to empty it"
        )
    return None


class ScratchDatabase:
    """The drill's connection to its scratch database, every statement time-bounded."""

    def __init__(self, cfg: PostgresConfig, timeouts: ServerTimeouts) -> None:
        self.cfg = cfg
        self.timeouts = timeouts
        # The drill writes to its scratch database: no read-only session default.
        self.conn = connect(
            cfg, timeouts, application_name="opscheck-restore-drill", session_options="", autocommit=True
        )
        self.marker_id = ""

    def execute(self, query: str | sql.Composable, params: Any = None) -> list[tuple[Any, ...]]:
        return execute_bounded(self.conn, self.cfg, self.timeouts, query, params)

    def facts(self) -> ScratchFacts:
        row = self.execute(
            "SELECT current_database(), pg_get_userbyid(d.datdba), current_user,"
            " (SELECT rolsuper FROM pg_roles WHERE rolname = current_user),"
            " shobj_description(d.oid, 'pg_database')"
            " FROM pg_database d WHERE d.datname = current_database()"
        )[0]
        objects = [(str(k), str(n), str(o)) for k, n, o in self.execute(_OBJECTS)]
        return ScratchFacts(row[0], f"{self.cfg.host}:{self.cfg.port}", row[1], row[2], bool(row[3]), row[4], objects)

    def mark(self, state: str) -> None:
        text = f"{MARKER} {self.marker_id}; state={state}; {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}"
        self.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(self.cfg.dbname), sql.Literal(text)))

    def prove_and_claim(self, monitored: PostgresConfig | None) -> None:
        """Refuse (ProfileError) unless this is provably the drill's scratch database; mark it."""
        facts = self.facts()
        verdict = scratch_verdict(facts, monitored, self.cfg)
        mark = _MARKER.match(facts.comment or "")
        self.marker_id = mark.group(1) if mark else secrets.token_hex(16)
        if verdict == "claim":
            self.mark("idle")

    def empty(self) -> None:
        """Drop everything the drill role owns in the scratch database (nothing elsewhere)."""
        self.execute("DROP OWNED BY CURRENT_USER")

    def close(self) -> None:
        self.conn.close()


def local_copy(host: Any, backup: DumpFile, workdir: Path, what: str = "restore drill") -> Path:
    """The backup file where opscheck runs: itself on a local:// host, else copied into `workdir`."""
    if getattr(host.backend, "NAME", "") == "local":
        return Path(backup.path)
    target = workdir / backup.name
    try:
        target.write_bytes(host.file(backup.path).content)
    except Exception as exc:
        raise DependencyError(f"{what}: cannot fetch {backup.name} from the backup host: {exc}") from None
    return target


def run_drill(
    drill: RestoreDrill,
    host: Any,
    dump: DumpFile,
    now: datetime | None = None,
    *,
    monitored: PostgresConfig | None = None,
    timeouts: ServerTimeouts = NO_TIMEOUTS,
) -> DrillResult:
    """Restore `dump` into the scratch database, count rows, always empty it afterwards;
    nothing is emptied unless the database is provably the drill's scratch database."""
    assert drill.connection is not None
    cfg = drill.connection
    now = now or datetime.now(UTC)
    result = DrillResult(dump)
    age_hours = dump.age(now).total_seconds() / 3600
    if age_hours > drill.rpo_hours:
        result.problems.append(f"newest dump {dump.name} is {age_hours:.1f} h old, over the RPO {drill.rpo_hours:g} h")

    scratch = ScratchDatabase(cfg, timeouts)
    try:
        scratch.prove_and_claim(monitored)
        scratch.mark("restoring")  # an interrupted drill leaves only what it restored
        scratch.empty()
        try:
            with tempfile.TemporaryDirectory(prefix="opscheck-drill-") as tmp:
                workdir = Path(tmp)
                start = time.monotonic()
                local = local_copy(host, dump, workdir)
                restored = _restore(drill, local, workdir, result)
                if restored:
                    _count(scratch, drill, result)
                result.seconds = time.monotonic() - start
        finally:
            scratch.empty()
            scratch.mark("idle")
        rto = drill.rto_minutes * 60
        if result.seconds > rto:
            result.problems.append(
                f"restore and verification took {fmt_seconds(result.seconds)}, over the RTO {drill.rto_minutes:g} min"
            )
    finally:
        scratch.close()
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
        **({"sslrootcert": str(expand_path(cfg.sslrootcert))} if cfg.sslrootcert else {}),
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


def _count(scratch: ScratchDatabase, drill: RestoreDrill, result: DrillResult) -> None:
    for table in drill.tables:
        schema, _, name = table.name.partition(".")
        try:
            found = scratch.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, name)))
            count = int(found[0][0]) if found else 0
        except psycopg.errors.UndefinedTable:
            result.counts.append({"object": table.name, "rows": None, "min_rows": table.min_rows})
            result.problems.append(f"table {table.name} is missing from the restored dump")
            continue
        result.counts.append({"object": table.name, "rows": count, "min_rows": table.min_rows})
        if count < table.min_rows:
            result.problems.append(f"table {table.name} has {count} rows after the restore, under {table.min_rows}")
