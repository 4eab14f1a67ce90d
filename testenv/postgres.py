"""A real PostgreSQL 15 server for the QSIGN database, on a small tmpfs "volume".

The data directory sits on its own 256 MiB tmpfs so disk-usage checks (df, node-exporter,
kubelet volume stats) see real, small numbers that a ballast file can push past 80%.
PostgreSQL refuses to run as root, so the server runs as the `postgres` system user.

Roles: `qsign` owns database `qsign`; `opscheck` is the read-only monitoring login
(pg_monitor, default_transaction_read_only). Passwords are generated once, kept in the
state directory and written to a pgpass file for the checks.

Besides the QSIGN table, database `qsign` holds SmartSensor-like sample data for the
database checks: schema `sensors` (devices, a month of readings with indexes that are
used), schema `auth` (application accounts with their last login), and the extensions
pg_stat_statements and pgstattuple. Backups: real `pg_dump -Fc` archives in
`<state>/backups/postgres/`, one written by `up()` when the newest is older than a day,
with a week of daily history (copies of a real dump, dated back) and the runbook's 30-day
retention applied, read by the checks through testinfra's local backend.

The restore drill logs in as `opscheck_restore`: no superuser, no CREATEDB, owner of the
scratch database `opscheck_restore_drill` only, and pg_hba.conf lets that role connect to
that database and nothing else, so its writes cannot reach `qsign`. The database is created
empty; the drill marks it as its scratch database (COMMENT ON DATABASE) on first use.

`frozen()` stops the server's processes (SIGSTOP) for the bounded-time self-tests: the
kernel still accepts TCP connections, nothing answers them.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import signal
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from testenv import procs
from testenv.paths import HOST, PORTS, state_dir, under

PG_BIN = Path("/usr/lib/postgresql/15/bin")
OS_USER = "postgres"
PROC_NAME = "postgres"
DATABASE = "qsign"
DRILL_ROLE = "opscheck_restore"
DRILL_DATABASE = "opscheck_restore_drill"
ROLES = ("qsign", "opscheck", DRILL_ROLE)
VOLUME_SIZE = "256m"
SEED_ROWS = 1000
START_TIMEOUT = 60.0
# SmartSensor-like sample: SENSORS active sensors reading every READING_MINUTES for
# HISTORY_DAYS (about 43,000 rows: over the index checks' 10,000-row floor), DEVICES rows.
SENSORS = 10
DEVICES = 5000
READING_MINUTES = 10
HISTORY_DAYS = 30
# Index scans up() makes sure each sample index has (the runbook's floor is 100).
INDEX_SCANS = 150
# Backups: a new dump when the newest is older than this; daily history kept back this
# far; the runbook's retention (find -mtime +30 -delete).
DUMP_EVERY = timedelta(hours=20)
DUMP_HISTORY = timedelta(days=8)
DUMP_RETENTION = timedelta(days=30)
# Setup sessions are not what the slow-query check should see.
UNTRACKED = "-c pg_stat_statements.track=none"


# ----------------------------------------------------------------------------- locations


# Mount point of the tmpfs that plays the PostgreSQL PVC.
volume_dir = under(state_dir, "volumes", "postgresql-data")
pgdata = under(volume_dir, "pgdata")
# Server-side state kept off the volume: passwords, pgpass, socket.
config_dir = under(state_dir, "postgres")
socket_dir = under(config_dir, "socket")
pgpass_file = under(config_dir, "pgpass")
_passwords_file = under(config_dir, "passwords.json")
_fallback_note = under(config_dir, "volume-fallback.txt")
# The backup host's dump directory (read by the checks through testinfra local://).
backup_dir = under(state_dir, "backups", "postgres")
# Filler used by fill_volume(); on the volume but outside PGDATA.
ballast_file = under(volume_dir, "ballast.bin")


# ------------------------------------------------------------------------------- helpers


def _pg_uid_gid() -> tuple[int, int]:
    pw = pwd.getpwnam(OS_USER)
    return pw.pw_uid, pw.pw_gid


def _chown_pg(path: Path) -> None:
    uid, gid = _pg_uid_gid()
    os.chown(path, uid, gid)


def _ensure_traversable(path: Path) -> list[str]:
    """Give 'others' search (x) permission on every ancestor, so the postgres user can
    reach a data directory under root's home (default /root is 0700). Only x is added:
    nobody gains the right to list or read those directories."""
    changed: list[str] = []
    for parent in reversed(path.resolve().parents):
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            os.chmod(parent, stat.S_IMODE(mode) | stat.S_IXOTH)
            changed.append(str(parent))
    return changed


def _mount_info(path: Path) -> str | None:
    """The filesystem type mounted exactly at `path`, or None."""
    target = os.path.realpath(path)
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    fstype = None
    for line in lines:
        fields = line.split()
        sep = fields.index("-")
        mount_point = fields[4].encode().decode("unicode_escape")  # \040 etc.
        if mount_point == target:
            fstype = fields[sep + 1]  # the last matching line is the visible mount
    return fstype


def _mount_volume() -> dict[str, Any]:
    """Mount the tmpfs (once); fall back to a plain directory if mounting is refused."""
    vol = volume_dir()
    vol.mkdir(parents=True, exist_ok=True)
    if _mount_info(vol) is None:
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={VOLUME_SIZE},mode=0755", "tmpfs", str(vol)],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            reason = (result.stderr or result.stdout).strip() or f"mount exited {result.returncode}"
            config_dir().mkdir(parents=True, exist_ok=True)
            _fallback_note().write_text(reason + "\n")
        else:
            _fallback_note().unlink(missing_ok=True)
    return _volume_facts()


def _volume_facts() -> dict[str, Any]:
    fstype = _mount_info(volume_dir())
    facts: dict[str, Any] = {
        "volume_dir": str(volume_dir()),
        "mounted": fstype is not None,
        "filesystem": fstype or "directory",
    }
    if fstype is None and _fallback_note().exists():
        reason = _fallback_note().read_text().strip()
        facts["fallback_reason"] = f"tmpfs mount failed, using a plain directory: {reason}"
    try:
        st = os.statvfs(volume_dir())
        total = st.f_blocks * st.f_frsize
        used = (st.f_blocks - st.f_bfree) * st.f_frsize
        facts.update(size_bytes=total, used_bytes=used, used_percent=round(100.0 * used / total, 2) if total else None)
    except OSError:
        pass
    return facts


def _passwords() -> dict[str, str]:
    """Generated on first use and kept, so re-running up() never changes credentials."""
    config_dir().mkdir(parents=True, exist_ok=True)
    path = _passwords_file()
    try:
        stored = json.loads(path.read_text())
    except FileNotFoundError:
        stored = {}
    changed = False
    for role in ROLES:
        if not stored.get(role):
            stored[role] = secrets.token_urlsafe(24)
            changed = True
    if changed:
        procs.write_private(path, json.dumps(stored, indent=2) + "\n")
    return stored


def _write_pgpass(passwords: dict[str, str]) -> None:
    lines = [f"{HOST}:{PORTS['postgres']}:*:{role}:{passwords[role]}" for role in ROLES]
    procs.write_private(pgpass_file(), "\n".join(lines) + "\n")


def _run_as_pg(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["runuser", "-u", OS_USER, "--", *argv],
        capture_output=True,
        text=True,
        cwd="/",
    )


def _initdb() -> None:
    """Create the cluster with peer auth for the superuser (root and postgres map to it)
    and password (SCRAM) auth for everyone else."""
    data = pgdata()
    data.mkdir(mode=0o700, exist_ok=True)
    _chown_pg(data)
    result = _run_as_pg(
        [
            str(PG_BIN / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--auth-local=peer",
            "--auth-host=scram-sha-256",
            "--no-instructions",
        ]
    )
    if result.returncode != 0:
        raise RuntimeError(f"initdb failed: {result.stderr.strip() or result.stdout.strip()}")
    (data / "pg_hba.conf").write_text(_hba_text())
    (data / "pg_ident.conf").write_text(
        "# MAPNAME   SYSTEM-USERNAME   PG-USERNAME\n"
        "superuser   root              postgres\n"
        "superuser   postgres          postgres\n"
    )
    with open(data / "postgresql.conf", "a") as conf:
        conf.write(
            "\n# opscheck testenv (listen address, port and socket come from the command line)\n"
            "max_connections = 50\n"
            "shared_buffers = 32MB\n"
            "shared_preload_libraries = 'pg_stat_statements'\n"
            "logging_collector = off\n"
            "log_line_prefix = '%m [%p] %q%u@%d '\n"
        )
    for name in ("pg_hba.conf", "pg_ident.conf"):
        _chown_pg(data / name)


def _hba_text() -> str:
    # The first matching line wins: the restore-drill role reaches its scratch database
    # only; every other database rejects it.
    return (
        "# opscheck testenv: superuser via peer (root mapped), applications via SCRAM\n"
        "local   all   postgres                 peer map=superuser\n"
        f"host    {DRILL_DATABASE}   {DRILL_ROLE}   127.0.0.1/32   scram-sha-256\n"
        f"host    all   {DRILL_ROLE}   127.0.0.1/32   reject\n"
        f"local   all   {DRILL_ROLE}                reject\n"
        "local   all   all                      scram-sha-256\n"
        "host    all   all       127.0.0.1/32   scram-sha-256\n"
    )


def _ensure_hba(conn: psycopg.Connection[Any]) -> None:
    """Bring an existing cluster's pg_hba.conf up to date, and reload it if it changed."""
    path = pgdata() / "pg_hba.conf"
    if path.read_text() != _hba_text():
        path.write_text(_hba_text())  # in place: owner and mode stay
        conn.execute("SELECT pg_reload_conf()")


def _server_argv() -> list[str]:
    return [
        str(PG_BIN / "postgres"),
        "-D",
        str(pgdata()),
        "-c",
        f"listen_addresses={HOST}",
        "-c",
        f"port={PORTS['postgres']}",
        "-c",
        f"unix_socket_directories={socket_dir()}",
        # the data volume is a 256 MB tmpfs: PostgreSQL's default 1 GB of WAL between
        # checkpoints filled it after a day of restore drills (and then it cannot start)
        "-c",
        "max_wal_size=64MB",
        "-c",
        "min_wal_size=32MB",
    ]


def _superuser_conn(dbname: str = "postgres", options: str = "") -> psycopg.Connection[Any]:
    return psycopg.connect(
        host=str(socket_dir()),
        port=PORTS["postgres"],
        user="postgres",
        dbname=dbname,
        autocommit=True,
        connect_timeout=3,
        options=options,
    )


def _accepting() -> bool:
    with _superuser_conn() as conn:
        conn.execute("SELECT 1")
    return True


def _start() -> None:
    if procs.is_running(PROC_NAME):
        return
    socket_dir().mkdir(parents=True, exist_ok=True)
    os.chmod(socket_dir(), 0o750)
    _chown_pg(socket_dir())
    procs.start(PROC_NAME, _server_argv(), user=OS_USER, cwd=Path("/"))

    procs.wait_started(PROC_NAME, _accepting, START_TIMEOUT, f"PostgreSQL on {HOST}:{PORTS['postgres']}")


def _bootstrap(passwords: dict[str, str]) -> None:
    """Roles, databases, tables and seed rows; every statement is safe to repeat."""
    with _superuser_conn(options=UNTRACKED) as conn:
        _ensure_hba(conn)
        for role in ROLES:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
            conn.execute(
                sql.SQL("ALTER ROLE {} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(passwords[role])
                )
            )
        conn.execute("GRANT pg_monitor TO opscheck")
        conn.execute("ALTER ROLE opscheck SET default_transaction_read_only = on")
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER qsign").format(sql.Identifier(DATABASE)))
        # The restore drill's scratch database: only its owner may connect (pg_hba.conf
        # keeps the drill role out of every other database).
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DRILL_DATABASE,)).fetchone():
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(DRILL_DATABASE), sql.Identifier(DRILL_ROLE)
                )
            )
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(DRILL_DATABASE)))
    with _superuser_conn(DATABASE, options=UNTRACKED) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        # pgstatindex() for the index-bloat check; pg_monitor may call it (pg_stat_scan_tables).
        conn.execute("CREATE EXTENSION IF NOT EXISTS pgstattuple")
        conn.execute("SET ROLE qsign")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS signatures ("
            " id bigserial PRIMARY KEY, document_id text, status text,"
            " created_at timestamptz DEFAULT now())"
        )
        row = conn.execute("SELECT count(*) FROM signatures").fetchone()
        if row is not None and row[0] == 0:
            # ~a week of history, newest first, all completed: a healthy installation.
            conn.execute(
                "INSERT INTO signatures (document_id, status, created_at)"
                " SELECT 'DOC-' || lpad(g::text, 6, '0'), 'COMPLETED',"
                "        now() - make_interval(mins => g * 10)"
                " FROM generate_series(1, %s) AS g",
                (SEED_ROWS,),
            )
        seeded = bool(row is not None and row[0] == 0)
        # Read access for the checker (data-quality queries), never write access.
        conn.execute("GRANT SELECT ON signatures TO opscheck")
        conn.execute("ALTER DEFAULT PRIVILEGES FOR ROLE qsign IN SCHEMA public GRANT SELECT ON TABLES TO opscheck")
        _sample_schema(conn, seeded)
        conn.execute("RESET ROLE")


def _sample_schema(conn: psycopg.Connection[Any], signatures_seeded: bool = False) -> None:
    """SmartSensor-like tables (as role qsign): devices, readings, application accounts."""
    conn.execute("CREATE SCHEMA IF NOT EXISTS sensors")
    conn.execute("CREATE SCHEMA IF NOT EXISTS auth")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS sensors.devices ("
        " sensor_id integer PRIMARY KEY, location text NOT NULL, kind text NOT NULL,"
        " installed_at timestamptz NOT NULL)"
    )
    conn.execute(
        "CREATE TABLE IF NOT EXISTS sensors.sensor_data ("
        " id bigserial PRIMARY KEY,"
        " sensor_id integer NOT NULL REFERENCES sensors.devices,"
        ' "timestamp" timestamptz NOT NULL, value double precision)'
    )
    conn.execute(
        'CREATE INDEX IF NOT EXISTS sensor_data_sensor_time_idx ON sensors.sensor_data (sensor_id, "timestamp")'
    )
    conn.execute('CREATE INDEX IF NOT EXISTS sensor_data_timestamp_idx ON sensors.sensor_data ("timestamp")')
    conn.execute(
        "CREATE TABLE IF NOT EXISTS auth.app_users ("
        " username text PRIMARY KEY, role text NOT NULL, enabled boolean NOT NULL DEFAULT true,"
        " last_login_at timestamptz, created_at timestamptz NOT NULL DEFAULT now())"
    )
    new_devices = conn.execute(
        "INSERT INTO sensors.devices (sensor_id, location, kind, installed_at)"
        " SELECT g, 'plant-' || (g %% 7 + 1) || '/line-' || (g %% 13 + 1),"
        "        (ARRAY['temperature','pressure','vibration','humidity'])[g %% 4 + 1],"
        "        now() - make_interval(days => 100 + g %% 300)"
        " FROM generate_series(1, %s) AS g ON CONFLICT DO NOTHING",
        (DEVICES,),
    ).rowcount
    # Active accounts logged in recently; a disabled one has not for long (not an offender).
    new_users = conn.execute(
        "INSERT INTO auth.app_users (username, role, enabled, last_login_at, created_at) VALUES"
        " ('admin', 'admin', true, now() - interval '1 day', now() - interval '400 days'),"
        " ('operator', 'operator', true, now() - interval '2 hours', now() - interval '300 days'),"
        " ('viewer', 'viewer', true, now() - interval '12 days', now() - interval '200 days'),"
        " ('analyst', 'viewer', true, now() - interval '20 days', now() - interval '150 days'),"
        " ('sensor-ingest', 'service', true, now() - interval '5 minutes', now() - interval '400 days'),"
        " ('former-contractor', 'operator', false, now() - interval '200 days', now() - interval '500 days')"
        " ON CONFLICT (username) DO NOTHING"
    ).rowcount
    readings = top_up_readings(conn)
    # Flush this session's pending row counts first: an ANALYZE before the flush would
    # see them added on top of its own count later (n_live_tup doubled, stats "stale").
    conn.execute("SELECT pg_stat_force_next_flush()")
    for table, changed in (
        ("public.signatures", signatures_seeded),
        ("sensors.devices", new_devices),
        ("auth.app_users", new_users),
        ("sensors.sensor_data", readings),
    ):
        if changed:
            conn.execute(f"ANALYZE {table}")
    for schema in ("sensors", "auth"):
        conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO opscheck")
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO opscheck")
        conn.execute(f"ALTER DEFAULT PRIVILEGES FOR ROLE qsign IN SCHEMA {schema} GRANT SELECT ON TABLES TO opscheck")
    _exercise_indexes(conn)


def top_up_readings(conn: psycopg.Connection[Any]) -> int:
    """Readings every READING_MINUTES from the newest one (or HISTORY_DAYS ago) up to now,
    about one in a thousand NULL: the data-quality check sees live, mostly clean data."""
    return conn.execute(
        "WITH last AS (SELECT coalesce(max(\"timestamp\"), date_trunc('hour', now()) - make_interval(days => %(days)s)) AS t"
        "              FROM sensors.sensor_data)"
        ' INSERT INTO sensors.sensor_data (sensor_id, "timestamp", value)'
        " SELECT s, ts, CASE WHEN (extract(epoch FROM ts)::bigint / 60 + s * 7) %% 1000 < 1 THEN NULL"
        "                   ELSE round((20 + 5 * sin(extract(epoch FROM ts) / 3600.0 + s))::numeric, 2) END"
        " FROM last, generate_series(last.t + make_interval(mins => %(step)s), now(), make_interval(mins => %(step)s)) AS ts,"
        "      generate_series(1, %(sensors)s) AS s",
        {"days": HISTORY_DAYS, "step": READING_MINUTES, "sensors": SENSORS},
    ).rowcount


def _exercise_indexes(conn: psycopg.Connection[Any]) -> None:
    """Give the sample's secondary indexes the index scans an application would: the
    unused-index checks judge them against a floor of 100 scans."""
    row = conn.execute(
        "SELECT min(idx_scan) FROM pg_stat_user_indexes"
        " WHERE schemaname = 'sensors' AND indexrelname IN ('sensor_data_sensor_time_idx', 'sensor_data_timestamp_idx')"
    ).fetchone()
    if row is not None and row[0] is not None and row[0] >= INDEX_SCANS:
        return
    conn.execute(
        f"DO $$ BEGIN FOR i IN 1..{INDEX_SCANS} LOOP"
        "  PERFORM count(*) FROM sensors.sensor_data"
        f"   WHERE sensor_id = i % {SENSORS} + 1 AND \"timestamp\" >= now() - interval '1 hour';"
        "  PERFORM count(*) FROM sensors.sensor_data WHERE \"timestamp\" >= now() - interval '10 minutes';"
        " END LOOP; END $$"
    )


# ------------------------------------------------------------------------------ backups


def _dump_name(at: datetime) -> str:
    return f"{DATABASE}-{at.astimezone(UTC):%Y%m%dT%H%M%SZ}.dump"


def dumps() -> list[tuple[datetime, Path]]:
    """The dump files in the backup directory, oldest first, with their mtime (UTC)."""
    if not backup_dir().is_dir():
        return []
    found = [(datetime.fromtimestamp(p.stat().st_mtime, UTC), p) for p in backup_dir().glob(f"{DATABASE}-*.dump")]
    return sorted(found)


def write_dump() -> Path:
    """A real `pg_dump -Fc` of database qsign into the backup directory."""
    backup_dir().mkdir(parents=True, exist_ok=True)
    os.chmod(backup_dir(), 0o700)
    final = backup_dir() / _dump_name(datetime.now(UTC))
    partial = final.with_suffix(".partial")
    result = subprocess.run(
        [
            str(PG_BIN / "pg_dump"),
            "-Fc",
            "-h",
            str(socket_dir()),
            "-p",
            str(PORTS["postgres"]),
            "-U",
            "postgres",
            "-d",
            DATABASE,
            "-f",
            str(partial),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PGOPTIONS": UNTRACKED},
        timeout=120,
    )
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"pg_dump failed: {result.stderr.strip()}")
    os.chmod(partial, 0o600)
    partial.rename(final)
    return final


def ensure_backups(now: datetime | None = None) -> list[Path]:
    """The backup host as a nightly job would leave it: a dump younger than DUMP_EVERY, one
    per day back to DUMP_HISTORY, none past DUMP_RETENTION. Earlier days, which this
    environment did not live through, are copies of a real dump dated back (name and mtime)."""
    now = now or datetime.now(UTC)
    found = dumps()
    if not found or now - found[-1][0] > DUMP_EVERY:
        write_dump()
        found = dumps()
    source = found[-1][1]
    t = found[-1][0]
    while t > now - DUMP_HISTORY:
        older = [m for m, _ in found if m < t - timedelta(minutes=1)]
        previous = max(older) if older else None
        if previous is None or t - previous > timedelta(days=1):
            previous = t - timedelta(days=1)
            copy = backup_dir() / _dump_name(previous)
            shutil.copyfile(source, copy)
            os.chmod(copy, 0o600)
            os.utime(copy, (previous.timestamp(), previous.timestamp()))
            found.append((previous, copy))
        t = previous
    for mtime, path in found:
        if now - mtime > DUMP_RETENTION:
            path.unlink(missing_ok=True)
    return [p for _, p in dumps()]


# ------------------------------------------------------------------------------- public


def up() -> dict[str, Any]:
    """Mount the volume, initialise the cluster on first use, start, create roles/data."""
    if not (PG_BIN / "postgres").exists():
        raise RuntimeError(f"{PG_BIN}/postgres not found: apt-get install postgresql-15")
    config_dir().mkdir(parents=True, exist_ok=True)
    passwords = _passwords()
    _write_pgpass(passwords)
    if not procs.is_running(PROC_NAME):
        _mount_volume()
        _ensure_traversable(volume_dir())
        if not (pgdata() / "PG_VERSION").exists():
            _initdb()
        _start()
    _bootstrap(passwords)
    ensure_backups()
    return {
        **status(),
        "host": HOST,
        "port": PORTS["postgres"],
        "database": DATABASE,
        "users": {"app": "qsign", "monitor": "opscheck", "restore_drill": DRILL_ROLE},
        "restore_drill_database": DRILL_DATABASE,
        "backup_dir": str(backup_dir()),
        "pgpass": str(pgpass_file()),
        "socket_dir": str(socket_dir()),
        "pgdata": str(pgdata()),
        "dsn": f"host={HOST} port={PORTS['postgres']} dbname={DATABASE} user=opscheck passfile={pgpass_file()}",
    }


def down() -> None:
    """Stop the server and unmount the tmpfs (its data goes with it; passwords stay)."""
    stop_server()
    if _mount_info(volume_dir()) is not None:
        result = subprocess.run(["umount", str(volume_dir())], capture_output=True, text=True)
        if result.returncode != 0:  # something still holds a file: detach it anyway
            subprocess.run(["umount", "-l", str(volume_dir())], capture_output=True, text=True, check=True)


def status() -> dict[str, Any]:
    running = procs.is_running(PROC_NAME)
    accepting = False
    if running:
        try:
            accepting = _accepting()
        except psycopg.Error:
            accepting = False
    return {
        "running": running,
        "accepting": accepting,
        "pid": procs.read_pid(PROC_NAME),
        "port": PORTS["postgres"],
        "pgdata": str(pgdata()),
        "pgpass": str(pgpass_file()),
        "log_file": str(procs.log_file(PROC_NAME)),
        "ballast_bytes": ballast_file().stat().st_size if ballast_file().exists() else 0,
        "dumps": len(dumps()),
        **_volume_facts(),
    }


def stop_server() -> None:
    """Stop PostgreSQL for real (fast shutdown: clients are disconnected), keep the data."""
    if procs.is_running(PROC_NAME) and (pgdata() / "postmaster.pid").exists():
        _run_as_pg([str(PG_BIN / "pg_ctl"), "-D", str(pgdata()), "stop", "-m", "fast", "-w", "-t", "30"])
    procs.stop(PROC_NAME)


def start_server() -> None:
    """Start PostgreSQL again after stop_server() (mounting/initialising if needed)."""
    up()


def fill_volume(percent: float) -> dict[str, Any]:
    """Grow a ballast file until the volume's used share is at least `percent` %.

    Refuses to run on the plain-directory fallback, where it would fill the host disk."""
    if not 0 < percent < 100:
        raise ValueError("percent must be between 0 and 100 (exclusive)")
    if _mount_info(volume_dir()) is None:
        raise RuntimeError(f"{volume_dir()} is not a mounted volume; refusing to fill the host filesystem")
    st = os.statvfs(volume_dir())
    total = st.f_blocks * st.f_frsize
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    target = int(total * percent / 100.0) + st.f_frsize  # one block over, for rounding
    missing = min(target - used, st.f_bavail * st.f_frsize)
    chunk = b"\0" * (1024 * 1024)
    with open(ballast_file(), "ab") as f:
        while missing > 0:
            n = min(missing, len(chunk))
            f.write(chunk[:n])
            missing -= n
    return _volume_facts()


def server_pids() -> list[int]:
    """The postmaster and its children (backends, background workers); the pid testenv
    keeps is runuser's, the postmaster's own is in postmaster.pid."""
    try:
        postmaster = int((pgdata() / "postmaster.pid").read_text().split()[0])
    except (OSError, IndexError, ValueError):
        return []
    children = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid ...": comm may hold spaces, so split after its ')'.
            ppid = int(stat_file.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == postmaster:
            children.append(int(stat_file.parent.name))
    return [postmaster, *sorted(children)]


@contextmanager
def frozen(backends: bool = True) -> Iterator[list[int]]:
    """PostgreSQL frozen but reachable: every server process stopped (SIGSTOP), or only the
    postmaster with `backends=False` (open sessions go on, new ones hang); always resumed."""
    pids = server_pids() if backends else server_pids()[:1]
    stopped: list[int] = []
    try:
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)
        yield stopped
    finally:
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass


def clear_fill() -> None:
    """Remove the ballast file written by fill_volume()."""
    ballast_file().unlink(missing_ok=True)


def psql_argv(user: str = "opscheck", dbname: str = DATABASE) -> tuple[list[str], dict[str, str]]:
    """argv and environment to run psql as `user` over TCP with the pgpass file."""
    psql = shutil.which("psql") or str(PG_BIN / "psql")
    env = {"PGPASSFILE": str(pgpass_file())}
    return [psql, "-h", HOST, "-p", str(PORTS["postgres"]), "-U", user, "-d", dbname, "-X", "-w"], env


@contextmanager
def admin_connection(dbname: str = DATABASE) -> Iterator[psycopg.Connection[Any]]:
    """A superuser session (peer auth on the socket), for self-tests that break things.
    Untracked by pg_stat_statements, so it never shows up as a slow query itself."""
    with _superuser_conn(dbname, options=UNTRACKED) as conn:
        yield conn


def app_connection(user: str = "qsign", dbname: str = DATABASE) -> psycopg.Connection[Any]:
    """A client session over TCP with the role's password, as an application opens it."""
    return psycopg.connect(
        host=HOST,
        port=PORTS["postgres"],
        user=user,
        dbname=dbname,
        password=_passwords()[user],
        autocommit=True,
        connect_timeout=5,
        application_name="opscheck-selftest",
    )
