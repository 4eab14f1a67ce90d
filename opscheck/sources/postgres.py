"""Read-only PostgreSQL sessions: the cadence runs never write to a database."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg

from opscheck.errors import DependencyError
from opscheck.profile import PostgresConfig, expand_path


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
    }
    if cfg.password is not None:
        kwargs["password"] = cfg.password.read()
    if cfg.passfile:
        kwargs["passfile"] = str(expand_path(cfg.passfile))
    return kwargs


def describe_error(cfg: PostgresConfig, exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
    # libpq messages name host/port/user but never the password.
    return f"PostgreSQL {cfg.user}@{cfg.host}:{cfg.port}/{cfg.dbname}: {text}"


@contextmanager
def read_only_connection(cfg: PostgresConfig) -> Iterator[psycopg.Connection]:
    try:
        conn = psycopg.connect(**connect_kwargs(cfg), autocommit=True)
    except psycopg.Error as exc:
        raise DependencyError(describe_error(cfg, exc)) from None
    try:
        yield conn
    finally:
        conn.close()


@dataclass(frozen=True)
class Select1:
    value: Any
    server_version: str
    elapsed_ms: float


class PostgresServer:
    """The profile's PostgreSQL, for the check that watches it answer."""

    def __init__(self, config: PostgresConfig) -> None:
        self.config = config

    @property
    def address(self) -> str:
        return f"{self.config.host}:{self.config.port}/{self.config.dbname}"

    def select1(self) -> Select1:
        """Connect, SELECT 1 and read the server version; any failure (connecting, or a query
        error on a live server) is a DependencyError naming the server."""
        start = time.monotonic()
        try:
            with read_only_connection(self.config) as conn:
                value = conn.execute("SELECT 1").fetchone()[0]
                version = conn.execute("SHOW server_version").fetchone()[0]
        except DependencyError:
            raise
        except Exception as exc:
            raise DependencyError(describe_error(self.config, exc)) from None
        return Select1(value, version, (time.monotonic() - start) * 1000)
