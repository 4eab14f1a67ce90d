"""A real PostgreSQL 15 server for the QSIGN database, on a small tmpfs "volume".

The data directory sits on its own 256 MiB tmpfs so disk-usage checks (df, node-exporter,
kubelet volume stats) see real, small numbers that a ballast file can push past 80%.
PostgreSQL refuses to run as root, so the server runs as the `postgres` system user.

Roles: `qsign` owns database `qsign`; `opscheck` is the read-only monitoring login
(pg_monitor, default_transaction_read_only). Passwords are generated once, kept in the
state directory and written to a pgpass file for the checks.
"""
from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from testenv import procs
from testenv.paths import HOST, PORTS, state_dir

PG_BIN = Path("/usr/lib/postgresql/15/bin")
OS_USER = "postgres"
PROC_NAME = "postgres"
DATABASE = "qsign"
ROLES = ("qsign", "opscheck")
VOLUME_SIZE = "256m"
SEED_ROWS = 1000
START_TIMEOUT = 60.0


# ----------------------------------------------------------------------------- locations

def volume_dir() -> Path:
    """Mount point of the tmpfs that plays the PostgreSQL PVC."""
    return state_dir() / "volumes" / "postgresql-data"


def pgdata() -> Path:
    return volume_dir() / "pgdata"


def config_dir() -> Path:
    """Server-side state kept off the volume: passwords, pgpass, socket."""
    return state_dir() / "postgres"


def socket_dir() -> Path:
    return config_dir() / "socket"


def pgpass_file() -> Path:
    return config_dir() / "pgpass"


def _passwords_file() -> Path:
    return config_dir() / "passwords.json"


def _fallback_note() -> Path:
    return config_dir() / "volume-fallback.txt"


def ballast_file() -> Path:
    """Filler used by fill_volume(); on the volume but outside PGDATA."""
    return volume_dir() / "ballast.bin"


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
            capture_output=True, text=True,
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
        capture_output=True, text=True, cwd="/",
    )


def _initdb() -> None:
    """Create the cluster with peer auth for the superuser (root and postgres map to it)
    and password (SCRAM) auth for everyone else."""
    data = pgdata()
    data.mkdir(mode=0o700, exist_ok=True)
    _chown_pg(data)
    result = _run_as_pg([
        str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-E", "UTF8",
        "--locale=C.UTF-8", "--auth-local=peer", "--auth-host=scram-sha-256", "--no-instructions",
    ])
    if result.returncode != 0:
        raise RuntimeError(f"initdb failed: {result.stderr.strip() or result.stdout.strip()}")
    (data / "pg_hba.conf").write_text(
        "# opscheck testenv: superuser via peer (root mapped), applications via SCRAM\n"
        "local   all   postgres                 peer map=superuser\n"
        "local   all   all                      scram-sha-256\n"
        "host    all   all       127.0.0.1/32   scram-sha-256\n"
    )
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


def _server_argv() -> list[str]:
    return [
        str(PG_BIN / "postgres"), "-D", str(pgdata()),
        "-c", f"listen_addresses={HOST}",
        "-c", f"port={PORTS['postgres']}",
        "-c", f"unix_socket_directories={socket_dir()}",
    ]


def _superuser_conn(dbname: str = "postgres") -> psycopg.Connection[Any]:
    return psycopg.connect(
        host=str(socket_dir()), port=PORTS["postgres"], user="postgres", dbname=dbname,
        autocommit=True, connect_timeout=3,
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

    # Stop waiting as soon as the process dies, instead of polling a dead socket.
    procs.wait_for(lambda: not procs.is_running(PROC_NAME) or _accepting(), START_TIMEOUT,
                   f"PostgreSQL on {HOST}:{PORTS['postgres']}")
    if not procs.is_running(PROC_NAME):
        raise RuntimeError(f"postgres exited; see {procs.log_file(PROC_NAME)}")


def _bootstrap(passwords: dict[str, str]) -> None:
    """Roles, database, table and seed rows; every statement is safe to repeat."""
    with _superuser_conn() as conn:
        for role in ROLES:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
            conn.execute(sql.SQL("ALTER ROLE {} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(passwords[role])))
        conn.execute("GRANT pg_monitor TO opscheck")
        conn.execute("ALTER ROLE opscheck SET default_transaction_read_only = on")
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER qsign").format(sql.Identifier(DATABASE)))
    with _superuser_conn(DATABASE) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
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
        # Read access for the checker (data-quality queries), never write access.
        conn.execute("GRANT SELECT ON signatures TO opscheck")
        conn.execute("ALTER DEFAULT PRIVILEGES FOR ROLE qsign IN SCHEMA public GRANT SELECT ON TABLES TO opscheck")
        conn.execute("RESET ROLE")


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
    return {
        **status(),
        "host": HOST,
        "port": PORTS["postgres"],
        "database": DATABASE,
        "users": {"app": "qsign", "monitor": "opscheck"},
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


def clear_fill() -> None:
    """Remove the ballast file written by fill_volume()."""
    ballast_file().unlink(missing_ok=True)


def psql_argv(user: str = "opscheck", dbname: str = DATABASE) -> tuple[list[str], dict[str, str]]:
    """argv and environment to run psql as `user` over TCP with the pgpass file."""
    psql = shutil.which("psql") or str(PG_BIN / "psql")
    env = {"PGPASSFILE": str(pgpass_file())}
    return [psql, "-h", HOST, "-p", str(PORTS["postgres"]), "-U", user, "-d", dbname, "-X", "-w"], env
