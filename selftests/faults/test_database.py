"""Fault injection on PostgreSQL and the database backups.

Each test breaks the real thing in the test environment's PostgreSQL (a connection flood,
a slow statement, a duplicate index, stale statistics, old or NULL rows, a superuser, an
aged or broken dump), sees the check fail naming the fault, repairs it at once, and sees
the check pass again. The database is shared with the other daily checks: every fault is
narrow (its own rows, index, role or file) and repaired in a `finally`.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from opscheck.errors import DependencyError, ProfileError
from opscheck.profile import DataQualityRule, PostgresConfig
from opscheck.sources.database import DatabaseReader
from opscheck.sources.postgres import ServerTimeouts, read_only_connection
from opscheck.sources.restore_drill import MARKER
from selftests.faults.common import fails_with
from selftests.harness import broken
from testenv import postgres
from testenv.paths import PORTS

pytestmark = pytest.mark.usefixtures("testenv_up")


def admin(sql: str, params: tuple | None = None, dbname: str = postgres.DATABASE) -> list[tuple]:
    """Run one statement as the superuser; return its rows (if any)."""
    with postgres.admin_connection(dbname) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else []


def connection_as(user: str, statement_timeout_ms: int) -> PostgresConfig:
    """How the checks connect to the test environment's database, as `user`."""
    return PostgresConfig(
        host=postgres.HOST,
        port=PORTS["postgres"],
        dbname=postgres.DATABASE,
        user=user,
        passfile=str(postgres.pgpass_file()),
        sslmode="disable",
        statement_timeout_ms=statement_timeout_ms,
    )


def demo_variant(checks, tmp_path: Path, old: str, new: str, *more: str) -> Path:
    """The demo profile with settings changed: pairs of (old, new) text, each old text
    occurring exactly once."""
    text = checks.profile.read_text()
    changes = [(old, new), *zip(more[::2], more[1::2], strict=True)]
    for before, after in changes:
        assert text.count(before) == 1, before
        text = text.replace(before, after)
    path = tmp_path / "variant.yaml"
    path.write_text(text)
    return path


# ---------------------------------------------------------------------------- connections


def sessions_piled_up():
    pool: list[psycopg.Connection] = []

    def flood() -> None:
        # Real client sessions up to just over 80% of max_connections, for a few seconds.
        max_conn = int(admin("SHOW max_connections")[0][0])
        in_use = int(admin("SELECT sum(numbackends) FROM pg_stat_database")[0][0])
        for _ in range(int(max_conn * 0.8) + 2 - in_use):
            pool.append(postgres.app_connection())

    def drain() -> None:
        for conn in pool:
            conn.close()

    return broken(flood, drain)


# ---------------------------------------------------------------------------- slow queries

SLOW_MARK = "opscheck_fault_slow_query"


def a_slow_statement():
    def run_slow() -> None:
        with postgres.app_connection() as conn:  # as the application, so pg_stat_statements records it
            conn.execute(f"SELECT pg_sleep(0.3) AS {SLOW_MARK}")

    def reset() -> None:
        admin(
            "SELECT pg_stat_statements_reset(userid, dbid, queryid) FROM pg_stat_statements WHERE query LIKE %s",
            (f"%{SLOW_MARK}%",),
        )

    return broken(run_slow, reset)


def test_slow_queries_not_applicable_without_pg_stat_statements(checks, tmp_path):
    # Database `postgres` has no pg_stat_statements extension: nothing to read.
    profile = demo_variant(checks, tmp_path, "  dbname: qsign\n", "  dbname: postgres\n")
    r = checks.one("weekly.slow-queries", profile=profile)
    assert r.outcome == "not applicable"
    assert r.message == (
        "not applicable: pg_stat_statements is not installed in database postgres (CREATE EXTENSION pg_stat_statements)"
    )
    required = tmp_path / "required.yaml"
    required.write_text(profile.read_text() + "\nrequired: [pg_stat_statements]\n")
    r = checks.one("weekly.slow-queries", profile=required)
    assert r.outcome == "failed"
    assert r.message.startswith("pg_stat_statements is required by the profile but absent")


# ------------------------------------------------- statistics, data rules, indexes, sizes, roles


def sql_fault(break_sql: list[str], repair_sql: list[str]):
    """Statements run as the superuser to break the database, and to repair it."""
    return broken(lambda: [admin(q) for q in break_sql], lambda: [admin(q) for q in repair_sql])


def readings_inserted(select: str):
    """Rows of sensors.sensor_data (sensor_id, "timestamp", value) from `select`, deleted again."""
    ids: list[int] = []

    def insert() -> None:
        sql = f'INSERT INTO sensors.sensor_data (sensor_id, "timestamp", value) {select} RETURNING id'
        ids.extend(row[0] for row in admin(sql))

    return broken(insert, lambda: admin("DELETE FROM sensors.sensor_data WHERE id = ANY(%s)", (ids,)))


def null_readings():
    with postgres.admin_connection() as conn:
        postgres.top_up_readings(conn)  # a live last day to measure against
    return readings_inserted("SELECT 1 + g % 10, now() - make_interval(secs => g), NULL FROM generate_series(1, 200) g")


# case -> (check, the fault, the message in full (a regex))
DATABASE_FAULTS = {
    "sessions pile up": (
        "weekly.db-connections",
        sessions_piled_up,
        r"database connections \(\d+ of max_connections 50\) 8\d(\.\d)?% is over the threshold 80%: "
        r"qsign \(\d+\).*",
    ),
    "a slow statement": (
        "weekly.slow-queries",
        a_slow_statement,
        rf".*statements with mean time over 100 ms: SELECT pg_sleep\(\$1\) AS {SLOW_MARK} "
        r"\(3\d\d(\.\d)? ms mean, 1 calls\).*",
    ),
    "a bulk change not analyzed": (
        "weekly.db-stats",
        lambda: sql_fault(
            [
                # Autovacuum off for this table, so nothing analyzes it behind the test's back.
                "ALTER TABLE sensors.devices SET (autovacuum_enabled = off)",
                "UPDATE sensors.devices SET location = location || '-moved' WHERE sensor_id <= 3000",
            ],
            [
                "UPDATE sensors.devices SET location = left(location, -6) WHERE location LIKE '%-moved'",
                "ALTER TABLE sensors.devices RESET (autovacuum_enabled)",
                "VACUUM ANALYZE sensors.devices",
            ],
        ),
        re.escape(
            "1 tables with stale statistics or bloated indexes: sensors.devices (3000 rows "
            "modified since last analyze (60% of rows modified since, over 20%))"
        )
        + ".*",
    ),
    "rows past retention": (
        "weekly.data-retention",
        lambda: readings_inserted(
            "SELECT 1, now() - interval '120 days' - make_interval(mins => g), 20 FROM generate_series(1, 5) g"
        ),
        r"1 tables keep rows past their retention: sensors\.sensor_data \(5 rows older than "
        r"90 days, oldest \d{4}-\d\d-\d\d \(120 days\)\)",
    ),
    "null readings": (
        "daily.sensor-data-quality",
        null_readings,
        r"1 data quality rules out of bounds: sensor-null-readings \(null_ratio 0\.1\d* over the "
        r"maximum 0\.05 \(readings \d+, null_readings 2\d\d\)\)",
    ),
    "a dormant enabled account": (
        "monthly.inactive-accounts",
        lambda: sql_fault(
            [
                "INSERT INTO auth.app_users (username, role, enabled, last_login_at)"
                " VALUES ('fault-dormant', 'operator', true, now() - interval '120 days')"
            ],
            ["DELETE FROM auth.app_users WHERE username = 'fault-dormant'"],
        ),
        r"1 enabled accounts inactive for over 90 days: fault-dormant \(last activity "
        r"\d{4}-\d\d-\d\d, 120 days ago\)",
    ),
    "a never scanned index": (
        "monthly.unused-indexes",
        lambda: sql_fault(
            ["CREATE INDEX sensor_data_value_idx ON sensors.sensor_data (value)"],
            ["DROP INDEX IF EXISTS sensors.sensor_data_value_idx"],
        ),
        r"1 indexes scanned fewer than 100 times: sensors\.sensor_data_value_idx \(0 scans, "
        r"[\d.]+ MB, table sensors\.sensor_data \d+ rows\)",
    ),
    "a duplicate index": (
        "quarterly.db-index",
        lambda: sql_fault(
            ['CREATE INDEX sensor_data_timestamp_dup_idx ON sensors.sensor_data ("timestamp")'],
            ["DROP INDEX IF EXISTS sensors.sensor_data_timestamp_dup_idx"],
        ),
        re.escape(
            "2 index problems: sensors.sensor_data_timestamp_dup_idx (duplicate of "
            "sensors.sensor_data_timestamp_idx), sensors.sensor_data_timestamp_dup_idx "
            "(unused: 0 scans"
        )
        + ".*",
    ),
    "a table outgrowing its limit": (
        "monthly.table-sizes",
        lambda: sql_fault(
            [
                # ~22 MB over the demo's 16 MB limit; unlogged: no WAL on the small volume.
                "CREATE UNLOGGED TABLE sensors.fault_backfill AS"
                " SELECT g AS id, repeat('x', 1000) AS payload FROM generate_series(1, 20000) g",
                "ANALYZE sensors.fault_backfill",  # a fresh session: the stats check stays quiet
            ],
            ["DROP TABLE IF EXISTS sensors.fault_backfill"],
        ),
        r"1 tables or storage over their size limit: sensors\.fault_backfill \(2\d(\.\d+)? MB, over 16 MB\)",
    ),
    "an unapproved superuser": (
        "monthly.db-user-security",
        lambda: sql_fault(
            ["CREATE ROLE opscheck_fault_admin SUPERUSER NOLOGIN"], ["DROP ROLE IF EXISTS opscheck_fault_admin"]
        ),
        re.escape(
            "1 database roles or settings break the account policy: "
            "opscheck_fault_admin (superuser, not in the approved list)"
        ),
    ),
}


@pytest.mark.parametrize("case", DATABASE_FAULTS)
def test_database_checks_fail(checks, case):
    fails_with(checks, DATABASE_FAULTS[case], timeout=30)


# ---------------------------------------------------------------------------- dump files


def dumps_younger_than(hours: float) -> list[Path]:
    now = datetime.now(UTC)
    return [p for mtime, p in postgres.dumps() if now - mtime < timedelta(hours=hours)]


class MovedAside:
    """Dump files moved out of the backup directory, and back (name and mtime kept)."""

    def __init__(self, aside: Path) -> None:
        self.aside = aside
        self.moved: list[Path] = []

    def move(self, paths: list[Path]) -> None:
        self.aside.mkdir(exist_ok=True)
        for p in paths:
            shutil.move(p, self.aside / p.name)
            self.moved.append(p)

    def back(self) -> None:
        for p in self.moved:
            shutil.move(self.aside / p.name, p)


def test_dump_files_fail_when_no_recent_dump(checks, tmp_path):
    aside = MovedAside(tmp_path / "aside")
    with checks.fails_then_recovers(
        "daily.backup-dump-files", broken(lambda: aside.move(dumps_younger_than(50)), aside.back), timeout=30
    ) as r:
        assert re.fullmatch(
            rf"backup:{re.escape(str(postgres.backup_dir()))}: newest dump qsign-\d{{8}}T\d{{6}}Z\.dump "
            r"is (4[89]|[5-7]\d)\.\d h old, over 26\.0 h",
            r.message,
        ), r.message


def test_dump_files_fail_when_retention_is_not_applied(checks):
    stale = datetime.now(UTC) - timedelta(days=31)
    expired = postgres.backup_dir() / f"qsign-{stale:%Y%m%dT%H%M%SZ}.dump"

    def keep_an_old_dump() -> None:
        shutil.copyfile(postgres.dumps()[-1][1], expired)
        os.utime(expired, (stale.timestamp(), stale.timestamp()))

    with checks.fails_then_recovers(
        "daily.backup-dump-files", broken(keep_an_old_dump, lambda: expired.unlink(missing_ok=True)), timeout=30
    ) as r:
        assert r.message.endswith(f": 1 dumps older than the 30-day retention kept: {expired.name} (31 days)"), (
            r.message
        )


def test_db_backup_history_fails_on_a_missed_day(checks, tmp_path):
    aside = MovedAside(tmp_path / "aside")
    now = datetime.now(UTC)
    # Every dump from 50 to 94 hours ago (a night's backup, and any second copy of it):
    # the remaining neighbours are at least 44 h apart.
    missed = [p for mtime, p in postgres.dumps() if timedelta(hours=50) <= now - mtime <= timedelta(hours=94)]
    assert missed
    with checks.fails_then_recovers(
        "weekly.db-backup-history", broken(lambda: aside.move(missed), aside.back), timeout=30
    ) as r:
        assert re.fullmatch(
            r"1 gaps in the daily backups: backup \d{4}-\d\d-\d\d \d\d:\d\dZ \.\. \d{4}-\d\d-\d\d "
            r"\d\d:\d\dZ \((4[4-9]|[5-9]\d)\.\d h without a dump, over 26\.0 h\)",
            r.message,
        ), r.message


# ---------------------------------------------------------------------------- restore drill


def scratch_tables() -> int:
    return int(
        admin(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')",
            dbname=postgres.DRILL_DATABASE,
        )[0][0]
    )


def test_restore_drill_and_backup_verification_fail_on_a_broken_dump(checks):
    newest = postgres.dumps()[-1][1]
    original = newest.read_bytes()
    mtime = newest.stat().st_mtime

    def truncate() -> None:
        newest.write_bytes(original[: len(original) // 2])  # pg_dump killed half-way
        os.utime(newest, (mtime, mtime))

    def restore() -> None:
        newest.write_bytes(original)
        os.utime(newest, (mtime, mtime))

    with broken(truncate, restore):
        r = checks.until("weekly.restore-drill", "failed", timeout=60)
        assert r.message.startswith(
            f"restore drill of {newest.name}: pg_restore of {newest.name} failed: pg_restore: error: "
        ), r.message
        assert scratch_tables() == 0  # the scratch database was emptied after the failed restore
        r = checks.until("predeploy.backup-verified", "failed", timeout=30)
        assert r.message.startswith(f"backup: {newest.name} cannot be read through: pg_restore: error: "), r.message
    r = checks.until("weekly.restore-drill", "passed", timeout=60)
    assert [row[:2] for row in r.evidence["rows"]][0] == ["public.signatures", 1000]
    assert scratch_tables() == 0
    checks.until("predeploy.backup-verified", "passed", timeout=30)


def test_restore_drill_fails_over_rto_and_rpo(checks, tmp_path):
    profile = demo_variant(checks, tmp_path, "  rto_minutes: 15", "  rto_minutes: 0.0001")
    profile.write_text(profile.read_text().replace("  rpo_hours: 26", "  rpo_hours: 0.0001"))
    r = checks.until("weekly.restore-drill", "failed", timeout=60, profile=profile)
    assert re.search(
        r": newest dump qsign-\S+\.dump is \d+\.\d h old, over the RPO 0\.0001 h; "
        r"restore and verification took \d+\.\d s, over the RTO 0\.0001 min$",
        r.message,
    ), r.message
    assert r.evidence["measured"] > 0.006 and r.evidence["threshold"] == pytest.approx(0.006)
    checks.until("weekly.restore-drill", "passed", timeout=60)


def test_restore_drill_is_opt_in(checks, tmp_path):
    # The quarterly DR drill restores the database with this drill: off with it.
    profile = demo_variant(
        checks,
        tmp_path,
        "restore_drill:\n  enabled: true",
        "restore_drill:\n  enabled: false",
        "dr_drill:\n  enabled: true",
        "dr_drill:\n  enabled: false",
    )
    r = checks.one("weekly.restore-drill", profile=profile)
    assert r.outcome == "not applicable"
    assert r.message == "not applicable: restore_drill is not enabled in this profile"


def test_restore_drill_marks_its_scratch_database(checks):
    checks.until("weekly.restore-drill", "passed", timeout=60)
    comment = admin(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (postgres.DRILL_DATABASE,)
    )[0][0]
    assert re.fullmatch(rf"{re.escape(MARKER)} [0-9a-f]{{32}}; state=idle; \S+Z", comment), comment
    assert scratch_tables() == 0


APP_ROLE = "opscheck_fault_app"
APP_DATABASE = "opscheck_fault_appdb"


@contextmanager
def application_database() -> Iterator[str]:
    """An application database owned by a non-superuser login role, with a 1000-row table
    (the role's password is yielded); dropped afterwards."""
    password = secrets.token_urlsafe(16)
    admin(f"DROP DATABASE IF EXISTS {APP_DATABASE}", dbname="postgres")
    admin(f"DROP ROLE IF EXISTS {APP_ROLE}", dbname="postgres")
    admin(f"CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOCREATEDB PASSWORD '{password}'", dbname="postgres")
    try:
        admin(f"CREATE DATABASE {APP_DATABASE} OWNER {APP_ROLE}", dbname="postgres")
        with postgres.admin_connection(APP_DATABASE) as conn:
            conn.execute(f"SET ROLE {APP_ROLE}")
            conn.execute("CREATE TABLE public.accounts (id int PRIMARY KEY, name text NOT NULL)")
            conn.execute("INSERT INTO public.accounts SELECT g, 'account ' || g FROM generate_series(1, 1000) g")
        yield password
    finally:
        admin(f"DROP DATABASE IF EXISTS {APP_DATABASE} WITH (FORCE)", dbname="postgres")
        admin(f"DROP ROLE IF EXISTS {APP_ROLE}", dbname="postgres")


def test_restore_drill_refuses_an_application_database(checks, tmp_path):
    """The issue's case: the drill pointed at an application database owned by a
    non-superuser; its first step used to DROP OWNED BY that owner."""
    with application_database() as password:
        profile = demo_variant(
            checks,
            tmp_path,
            "    dbname: opscheck_restore_drill\n    user: opscheck_restore\n",
            f"    dbname: {APP_DATABASE}\n    user: {APP_ROLE}\n    password: {{env: OPSCHECK_FAULT_APP_PASSWORD}}\n",
        )
        text = profile.read_text()
        drill_passfile = text.index("    passfile:", text.index(f"    user: {APP_ROLE}"))
        profile.write_text(text[:drill_passfile] + text[text.index("\n", drill_passfile) + 1 :])
        r = checks.one("weekly.restore-drill", profile=profile, env={"OPSCHECK_FAULT_APP_PASSWORD": password})
        assert r.outcome == "error", (r.outcome, r.message)
        assert r.message == (
            f"could not evaluate: restore_drill.connection: database {APP_DATABASE} on 127.0.0.1:15432 "
            "is not the drill's scratch "
            "database (no opscheck marker) and holds 1 objects (table public.accounts); refusing to empty it. "
            "Give the drill an empty database owned by its role; the drill marks it on first use"
        )
        assert admin("SELECT count(*) FROM public.accounts", dbname=APP_DATABASE)[0][0] == 1000


# ---------------------------------------------------------------------------- read-only SQL

CANARY = "public.opscheck_fault_canary"
# Each statement a data-quality rule might try, with the refusal expected; in order, on one
# session (what one rule sets must not help the next). None: runs, and must not matter.
WRITE_FORMS = [
    (f"BEGIN READ WRITE; INSERT INTO {CANARY} VALUES (-1); COMMIT", "holds several statements"),
    (f"SET default_transaction_read_only=off; COMMIT; DELETE FROM {CANARY}", "holds several statements"),
    (f"SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE; DELETE FROM {CANARY}", "holds several statements"),
    ("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE", "does not return rows"),
    ("SET transaction_read_only = off", "tries to write or change the transaction"),
    ("SELECT set_config('default_transaction_read_only', 'off', false) AS was", None),  # rolled back: harmless
    (f"DELETE FROM {CANARY} RETURNING id", "tries to write"),
    (f"WITH gone AS (DELETE FROM {CANARY} RETURNING id) SELECT count(*) AS n FROM gone", "tries to write"),
    (
        f"WITH added AS (INSERT INTO {CANARY} VALUES (-2) RETURNING id) SELECT count(*) AS n FROM added",
        "tries to write",
    ),
    (f"SELECT 1 AS n; DROP TABLE {CANARY}", "holds several statements"),
    ("SELECT public.opscheck_fault_write() AS n", "tries to write"),
    ("COPY (SELECT 1) TO PROGRAM 'touch /tmp/opscheck-fault-copy-program'", "refused"),
    (f"COMMIT; TRUNCATE {CANARY}", "holds several statements"),
    (f"SELECT * INTO public.opscheck_fault_copy FROM {CANARY}", "tries to write"),
]


def test_profile_sql_cannot_write_even_as_a_role_that_may(tmp_path):
    """The data-quality path run as the application role, which owns the tables and may
    write them: the READ ONLY transaction and the one-statement protocol refuse every form
    (the profile loader refuses them too, tested in selftests/unit; here they reach the
    server unvalidated)."""
    admin(f"DROP TABLE IF EXISTS {CANARY}")
    admin(f"CREATE TABLE {CANARY} (id int PRIMARY KEY)")
    admin(f"INSERT INTO {CANARY} SELECT generate_series(1, 10)")
    admin(f"ALTER TABLE {CANARY} OWNER TO qsign")
    admin(
        "CREATE OR REPLACE FUNCTION public.opscheck_fault_write() RETURNS int LANGUAGE sql"
        f" AS 'INSERT INTO {CANARY} VALUES (-3) RETURNING id'"
    )
    admin("ALTER FUNCTION public.opscheck_fault_write() OWNER TO qsign")
    copy_target = Path("/tmp/opscheck-fault-copy-program")
    copy_target.unlink(missing_ok=True)
    cfg = connection_as("qsign", statement_timeout_ms=5000)
    try:
        refusals = []
        with read_only_connection(cfg) as session:
            reader = DatabaseReader(session)
            for query, expected in WRITE_FORMS:
                rule = DataQualityRule.model_construct(name="fault", query=query, max={"n": 1}, min={})
                if expected is None:
                    reader.quality_query(rule)  # a session default, rolled back with its transaction
                    continue
                with pytest.raises(ProfileError) as refused:
                    reader.quality_query(rule)
                message = str(refused.value)
                refusals.append(message)
                assert "\n" not in message, message
                assert message.startswith("data_quality fault: the query "), message
                assert expected in message, (query, message)
            # The session still reads, and reads read-only.
            assert session.rows("SELECT current_setting('transaction_read_only') AS ro")[0]["ro"] == "on"
        # A superuser could act outside the transaction (COPY ... TO PROGRAM): no profile SQL as one.
        superuser = cfg.model_copy(update={"host": str(postgres.socket_dir()), "user": "postgres", "passfile": None})
        with read_only_connection(superuser) as session:
            with pytest.raises(ProfileError, match="refusing to run profile SQL as postgres \\(superuser, "):
                DatabaseReader(session).quality_query(
                    DataQualityRule.model_construct(name="fault", query="SELECT 1 AS n", max={"n": 1}, min={})
                )
        assert [r[0] for r in admin(f"SELECT id FROM {CANARY} ORDER BY id")] == list(range(1, 11))
        assert not admin("SELECT 1 FROM pg_class WHERE relname = 'opscheck_fault_copy'")
        assert not copy_target.exists()
        print("\n".join(refusals))
    finally:
        admin("DROP FUNCTION IF EXISTS public.opscheck_fault_write()")
        admin(f"DROP TABLE IF EXISTS {CANARY}")
        admin("DROP TABLE IF EXISTS public.opscheck_fault_copy")


def test_profile_sql_that_is_not_one_select_stops_the_run(checks, tmp_path):
    profile = demo_variant(
        checks,
        tmp_path,
        "      SELECT count(*) AS readings,\n",
        "      DELETE FROM sensors.sensor_data; SELECT count(*) AS readings,\n",
    )
    proc, _ = checks.run_pytest(checks.nodeids["daily.sensor-data-quality"], profile=profile)
    assert proc.returncode == 4
    assert "data_quality[0].query: holds several statements (a ';' before the end); give one SELECT" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


# ---------------------------------------------------------------------------- bounded time

DATABASE_CHECKS = [
    "daily.postgres-select1",
    "daily.sensor-data-quality",
    "weekly.db-connections",
    "weekly.slow-queries",
    "weekly.db-stats",
    "weekly.data-retention",
    "weekly.restore-drill",
    "monthly.unused-indexes",
    "monthly.table-sizes",
    "monthly.db-user-security",
    "monthly.inactive-accounts",
    "quarterly.db-index",
]


def test_a_frozen_backend_costs_one_deadline(tmp_path):
    """A session whose server process stops answering: the client-side deadline (the
    statement timeout plus a grace) ends the read, and the next read of the run gets the
    cached error at once."""
    cfg = connection_as("opscheck", statement_timeout_ms=1000)
    timeouts = ServerTimeouts(tmp_path)
    with read_only_connection(cfg, timeouts) as session:
        backend = session.rows("SELECT pg_backend_pid() AS pid")[0]["pid"]
        os.kill(backend, signal.SIGSTOP)
        try:
            start = time.monotonic()
            with pytest.raises(DependencyError, match=r"no answer within 3 s \(server frozen or unreachable\)$"):
                session.rows("SELECT 1")
            took = time.monotonic() - start
        finally:
            os.kill(backend, signal.SIGCONT)
    assert 2.9 < took < 4, took
    start = time.monotonic()
    with pytest.raises(DependencyError, match=r"no answer within 3 s .*\(earlier in this run; not retried\)$"):
        with read_only_connection(cfg, timeouts):
            pass
    assert time.monotonic() - start < 0.5
    print(f"\nfrozen backend: first read {took:.2f} s, the next one {time.monotonic() - start:.3f} s")


def database_checks_run(
    checks, profile: Path, args: tuple[str, ...] = ()
) -> tuple[float, dict[str, float], dict[str, str]]:
    start = time.monotonic()
    results = checks.run(*DATABASE_CHECKS, profile=profile, args=args)
    wall = time.monotonic() - start
    return wall, {i: r.raw["duration_seconds"] for i, r in results.items()}, {i: r.message for i, r in results.items()}


def assert_bounded(
    label: str, wall: float, durations: dict[str, float], messages: dict[str, str], first: str, workers: int = 0
) -> None:
    spent = sum(durations.values())
    print(
        f"\n{label}: {len(durations)} database checks took {spent:.2f} s in all, the longest "
        f"{max(durations.values()):.2f} s (wall {wall:.1f} s with pytest start-up); "
        + ", ".join(f"{i} {d:.2f}" for i, d in durations.items() if d > 0.2)
    )
    assert set(durations) == set(DATABASE_CHECKS)
    assert all(re.search(first, m) for m in messages.values()), messages
    # No check waits longer than one connect timeout (5 s) and the waiting for it.
    assert max(durations.values()) < 6.5, durations
    if not workers:  # one process: the first check pays, the others get its error at once
        assert spent < 8, durations
        assert sum(1 for d in durations.values() if d > 1) == 1, durations


class BlackHole:
    """A TCP server that accepts connections, counts them, and never answers."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # closed
            self.accepted.append(conn)

    def close(self) -> None:
        self.listener.close()
        for conn in self.accepted:
            conn.close()


@pytest.mark.parametrize("workers", [0, 3])
def test_database_checks_are_bounded_by_a_black_hole_server(checks, tmp_path, workers):
    """A server that accepts TCP connections and never answers: the run's database checks
    make one connection attempt in all (with xdist workers too: the others wait for its
    error) and no check waits longer than the connect timeout."""
    hole = BlackHole()
    try:
        text = checks.profile.read_text().replace(f"port: {PORTS['postgres']}", f"port: {hole.port}")
        profile = tmp_path / "black-hole.yaml"
        profile.write_text(text)
        wall, durations, messages = database_checks_run(checks, profile, ("-n", str(workers)) if workers else ())
        attempts = len(hole.accepted)
    finally:
        hole.close()
    assert_bounded(
        f"black hole, {workers or 'no'} xdist workers",
        wall,
        durations,
        messages,
        rf"127\.0\.0\.1:{hole.port}/\S+: connection timeout expired",
        workers,
    )
    assert attempts == 1, attempts


def test_database_checks_are_bounded_by_a_frozen_postgres(checks):
    """The real PostgreSQL, every process stopped: TCP still connects, nothing answers."""
    with postgres.frozen() as stopped:
        assert stopped
        wall, durations, messages = database_checks_run(checks, checks.profile)
    assert_bounded(
        "frozen PostgreSQL", wall, durations, messages, r"127\.0\.0\.1:15432/\S+: connection timeout expired"
    )
    checks.until("daily.postgres-select1", "passed", timeout=30)
