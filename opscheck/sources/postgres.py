"""Read-only PostgreSQL sessions with bounded time: the cadence runs never write to a database.

Every read runs in its own explicit `BEGIN READ ONLY` transaction that is rolled back, never
committed, with statement_timeout, lock_timeout and idle_in_transaction_session_timeout set
for that transaction (set_config(..., true), the SET LOCAL of one round trip). SQL from the
profile (data-quality rules, the inactive-accounts query) is sent as a prepared statement:
the extended protocol's Parse refuses more than one statement, so `BEGIN READ WRITE; ...`
or `SELECT 1; DROP ...` never reach the executor, and `transaction_read_only` cannot be
switched off once the transaction's first query took its snapshot.

Time is bounded three ways: connect_timeout for the connection, statement_timeout on the
server, and a client-side deadline (the server's timeout plus a grace) after which the
socket is shut down: a server that accepts and never answers (frozen, or a black hole)
cannot hold a check. Once PostgreSQL timed out in a run, `ServerTimeouts` hands every later
check of that run (other xdist workers included, through a file in the run's cache
directory) the same error at once.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from filelock import FileLock, Timeout
from psycopg import sql
from psycopg.rows import dict_row

from opscheck.errors import DependencyError, ProfileError
from opscheck.profile import PostgresConfig, expand_path

Row = dict[str, Any]

# The client waits this much longer than the server's statement_timeout before it gives up
# on a server that does not answer at all (the server's own cancel comes first when alive).
CLIENT_GRACE_SECONDS = 2.0
# A lock the server waits for is bounded well inside the statement's time.
LOCK_TIMEOUT_MS = 2000


def connect_kwargs(
    cfg: PostgresConfig,
    application_name: str = "opscheck",
    # Enforced by the server for the whole session, whatever a check sends.
    session_options: str = "-c default_transaction_read_only=on",
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "host": cfg.host,
        "port": cfg.port,
        "dbname": cfg.dbname,
        "user": cfg.user,
        "sslmode": cfg.sslmode,
        "connect_timeout": cfg.connect_timeout_seconds,
        "application_name": application_name,
        "options": f"{session_options} -c statement_timeout={cfg.statement_timeout_ms}".strip(),
        # A peer that vanished (host down, network cut) is noticed within seconds, not
        # after the kernel's two hours; a frozen peer whose kernel still answers is the
        # client-side deadline's job (Deadline below).
        "keepalives": 1,
        "keepalives_idle": 5,
        "keepalives_interval": 2,
        "keepalives_count": 2,
        "tcp_user_timeout": cfg.connect_timeout_seconds * 1000,
    }
    if cfg.password is not None:
        kwargs["password"] = cfg.password.read()
    if cfg.passfile:
        kwargs["passfile"] = str(expand_path(cfg.passfile))
    if cfg.sslrootcert:
        kwargs["sslrootcert"] = str(expand_path(cfg.sslrootcert))
    return kwargs


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def server_label(cfg: PostgresConfig) -> str:
    return f"PostgreSQL {cfg.user}@{cfg.host}:{cfg.port}/{cfg.dbname}"


def describe_error(cfg: PostgresConfig, exc: Exception) -> str:
    # libpq messages name host/port/user but never the password.
    return f"{server_label(cfg)}: {first_line(exc)}"


def no_answer(cfg: PostgresConfig, seconds: float) -> str:
    return f"{server_label(cfg)}: no answer within {seconds:g} s (server frozen or unreachable)"


def query_deadline_seconds(cfg: PostgresConfig) -> float:
    return cfg.statement_timeout_ms / 1000 + CLIENT_GRACE_SECONDS


class ServerTimeouts:
    """The PostgreSQL servers that timed out in this run, kept as small files in the run's
    cache directory so every check and xdist worker of the run sees them: the first check
    pays the timeout, the others get its error at once."""

    def __init__(self, directory: str | os.PathLike[str] | None) -> None:
        self.directory = Path(directory) if directory is not None else None

    def _path(self, cfg: PostgresConfig) -> Path | None:
        if self.directory is None:
            return None
        # The server, not the database or role: a frozen server answers none of them.
        digest = hashlib.sha256(f"{cfg.host}:{cfg.port}".encode()).hexdigest()[:16]
        return self.directory / f"postgres-timeout-{digest}.txt"

    @contextmanager
    def connecting(self, cfg: PostgresConfig) -> Iterator[None]:
        """One connection attempt at a time per server across the run's workers, so that
        when the server hangs, one worker pays connect_timeout and the others, waiting
        here, get its error. Waiting is bounded: past connect_timeout plus a grace, a
        worker tries on its own."""
        path = self._path(cfg)
        if path is None or not path.parent.is_dir():
            yield
            return
        lock = FileLock(str(path.with_suffix(".lock")), timeout=cfg.connect_timeout_seconds + CLIENT_GRACE_SECONDS)
        try:
            lock.acquire()
        except Timeout:
            yield
            return
        try:
            self.raise_if_timed_out(cfg)
            yield
        finally:
            lock.release()

    def raise_if_timed_out(self, cfg: PostgresConfig) -> None:
        path = self._path(cfg)
        if path is None:
            return
        try:
            message = path.read_text().strip()
        except OSError:
            return
        raise DependencyError(f"{message} (earlier in this run; not retried)")

    def remember(self, cfg: PostgresConfig, message: str) -> None:
        path = self._path(cfg)
        if path is None or not path.parent.is_dir():
            return
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(message + "\n")
        os.replace(tmp, path)


NO_TIMEOUTS = ServerTimeouts(None)


class Deadline:
    """Shuts the connection's socket down when `seconds` pass before `stop()`: psycopg's
    wait then returns with a closed connection instead of waiting for an answer that never
    comes. Only public APIs: a timer thread and shutdown(2) on the connection's socket."""

    def __init__(self, conn: psycopg.Connection[Any], seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._fd = conn.pgconn.socket
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def _expire(self) -> None:
        self.expired = True
        try:
            # fromfd duplicates the descriptor; shutdown acts on the socket both share.
            with socket.fromfd(self._fd, socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed: nothing is waiting on it

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


def single_statement(query: str) -> str:
    """A profile query without its trailing semicolon (a prepared statement takes none)."""
    return query.strip().rstrip(";").rstrip()


class ReadOnlySession:
    """One connection; every read in its own READ ONLY transaction, rolled back."""

    def __init__(self, conn: psycopg.Connection[Any], cfg: PostgresConfig, timeouts: ServerTimeouts) -> None:
        self.conn = conn
        self.cfg = cfg
        self.timeouts = timeouts
        self._role_checked = False
        conn.read_only = True  # every transaction psycopg begins is BEGIN READ ONLY

    def rows(self, query: str | sql.Composable, params: Any = None, *, prepare: bool | None = None) -> list[Row]:
        """The rows of one statement of our own, in a read-only transaction."""
        with self._transaction():
            with self.conn.cursor(row_factory=dict_row) as cur:
                cur.execute(query, params, prepare=prepare)
                return list(cur.fetchall()) if cur.description else []

    def profile_rows(self, query: str, what: str) -> list[Row]:
        """The rows of SQL from the profile: one statement (prepared: the server refuses
        several), read-only; writing or not returning rows is a profile error, failing on
        the server a dependency error. Messages are one line naming `what`."""
        self._refuse_powerful_role(what)
        try:
            with self._transaction():
                with self.conn.cursor(row_factory=dict_row) as cur:
                    cur.execute(single_statement(query), prepare=True)
                    if cur.description is None:
                        raise ProfileError(f"{what} does not return rows; give one SELECT")
                    return list(cur.fetchall())
        except (psycopg.errors.ReadOnlySqlTransaction, psycopg.errors.ActiveSqlTransaction) as exc:
            raise ProfileError(
                f"{what} tries to write or change the transaction ({first_line(exc)}); it must be one read-only SELECT"
            ) from None
        except psycopg.errors.SyntaxError as exc:
            if "multiple commands" in str(exc):
                raise ProfileError(f"{what} holds several statements; it must be one read-only SELECT") from None
            raise ProfileError(f"{what} is not valid SQL: {first_line(exc)}") from None
        except psycopg.errors.InsufficientPrivilege as exc:
            raise ProfileError(f"{what} is refused by the server: {first_line(exc)}") from None
        except psycopg.ProgrammingError as exc:
            # psycopg's own refusals (COPY through execute, ...) are not server errors.
            if exc.sqlstate is None:
                raise ProfileError(f"{what} is refused: {first_line(exc)}; it must be one read-only SELECT") from None
            raise DependencyError(f"{what} failed: {first_line(exc)}") from None
        except psycopg.Error as exc:
            raise DependencyError(f"{what} failed: {first_line(exc)}") from None

    def _refuse_powerful_role(self, what: str) -> None:
        """A superuser, or a role that may run programs or write files on the server, can
        act outside any transaction (COPY ... TO PROGRAM, lo_export): no profile SQL as one."""
        if self._role_checked:
            return
        found = self.rows(
            "SELECT current_user AS role, rolsuper AS superuser,"
            " pg_has_role('pg_execute_server_program', 'USAGE') AS programs,"
            " pg_has_role('pg_write_server_files', 'USAGE') AS files"
            " FROM pg_roles WHERE rolname = current_user"
        )
        powers = [p for p in ("superuser", "programs", "files") if found and found[0][p]]
        if powers:
            grants = {
                "superuser": "superuser",
                "programs": "pg_execute_server_program",
                "files": "pg_write_server_files",
            }
            raise ProfileError(
                f"{what}: refusing to run profile SQL as {found[0]['role']} "
                f"({', '.join(grants[p] for p in powers)}); connect as a monitoring role without them"
            )
        self._role_checked = True

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN READ ONLY, the transaction's timeouts, the caller's statement, ROLLBACK;
        all under the client-side deadline."""
        self.timeouts.raise_if_timed_out(self.cfg)
        seconds = query_deadline_seconds(self.cfg)
        deadline = Deadline(self.conn, seconds)
        try:
            with deadline:
                # set_config(..., true) is SET LOCAL; this first SELECT also takes the
                # transaction's snapshot, after which read-only cannot be switched off.
                state = self.conn.execute(
                    "SELECT set_config('statement_timeout', %s, true),"
                    " set_config('lock_timeout', %s, true),"
                    " set_config('idle_in_transaction_session_timeout', %s, true),"
                    " current_setting('transaction_read_only')",
                    (str(self.cfg.statement_timeout_ms), str(LOCK_TIMEOUT_MS), str(int(seconds * 1000))),
                ).fetchone()
                if state is None or state[3] != "on":
                    raise DependencyError(
                        f"{server_label(self.cfg)}: the transaction is not read-only; refusing to read"
                    )
                try:
                    yield
                finally:
                    if not self.conn.closed and not self.conn.broken:
                        self.conn.rollback()  # never commit: nothing a read did survives
        except psycopg.OperationalError as exc:
            if deadline.expired:
                message = no_answer(self.cfg, seconds)
                self.timeouts.remember(self.cfg, message)
                raise DependencyError(message) from None
            if self.conn.broken or exc.sqlstate is None:  # the connection failed, not the query
                raise DependencyError(describe_error(self.cfg, exc)) from None
            raise  # the server refused this query (statement_timeout, a missing prerequisite)
        finally:
            if deadline.expired:
                self.conn.close()  # its socket is shut down: no later read may use it


def connect(
    cfg: PostgresConfig,
    timeouts: ServerTimeouts = NO_TIMEOUTS,
    *,
    application_name: str = "opscheck",
    session_options: str = "-c default_transaction_read_only=on",
    autocommit: bool = False,
) -> psycopg.Connection[Any]:
    """A connection within connect_timeout; a timeout is remembered for the run."""
    timeouts.raise_if_timed_out(cfg)
    try:
        with timeouts.connecting(cfg):
            return psycopg.connect(
                **connect_kwargs(cfg, application_name, session_options=session_options), autocommit=autocommit
            )
    except psycopg.errors.ConnectionTimeout as exc:
        message = describe_error(cfg, exc) + f" ({cfg.connect_timeout_seconds} s)"
        timeouts.remember(cfg, message)
        raise DependencyError(message) from None
    except psycopg.Error as exc:
        raise DependencyError(describe_error(cfg, exc)) from None


@contextmanager
def read_only_connection(cfg: PostgresConfig, timeouts: ServerTimeouts = NO_TIMEOUTS) -> Iterator[ReadOnlySession]:
    conn = connect(cfg, timeouts)
    try:
        yield ReadOnlySession(conn, cfg, timeouts)
    finally:
        conn.close()


@dataclass(frozen=True)
class Select1:
    value: Any
    server_version: str
    elapsed_ms: float


class PostgresServer:
    """The profile's PostgreSQL, for the check that watches it answer."""

    def __init__(self, config: PostgresConfig, timeouts: ServerTimeouts = NO_TIMEOUTS) -> None:
        self.config = config
        self.timeouts = timeouts

    @property
    def address(self) -> str:
        return f"{self.config.host}:{self.config.port}/{self.config.dbname}"

    def select1(self) -> Select1:
        """Connect, SELECT 1 and read the server version; any failure (connecting, or a query
        error on a live server) is a DependencyError naming the server."""
        start = time.monotonic()
        try:
            with read_only_connection(self.config, self.timeouts) as session:
                row = session.rows("SELECT 1 AS value, current_setting('server_version') AS version")[0]
        except DependencyError:
            raise
        except Exception as exc:
            raise DependencyError(describe_error(self.config, exc)) from None
        return Select1(row["value"], row["version"], (time.monotonic() - start) * 1000)


def execute_bounded(
    conn: psycopg.Connection[Any],
    cfg: PostgresConfig,
    timeouts: ServerTimeouts,
    query: str | sql.Composable,
    params: Any = None,
) -> list[tuple[Any, ...]]:
    """One statement on an autocommit connection (the restore drill's) under the client-side
    deadline; the rows it returns. A server that stops answering is remembered for the run."""
    timeouts.raise_if_timed_out(cfg)
    seconds = query_deadline_seconds(cfg)
    deadline = Deadline(conn, seconds)
    try:
        with deadline:
            cur = conn.execute(query, params)
            return list(cur.fetchall()) if cur.description else []
    except psycopg.OperationalError as exc:
        if deadline.expired:
            message = no_answer(cfg, seconds)
            timeouts.remember(cfg, message)
            raise DependencyError(message) from None
        if conn.broken or exc.sqlstate is None:
            raise DependencyError(describe_error(cfg, exc)) from None
        raise
