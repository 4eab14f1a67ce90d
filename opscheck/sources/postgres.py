"""Read-only PostgreSQL sessions: the cadence runs never write to a database."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import psycopg

from opscheck.errors import DependencyError
from opscheck.profile import PostgresConfig, expand_path


def connect_kwargs(cfg: PostgresConfig) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "host": cfg.host, "port": cfg.port, "dbname": cfg.dbname, "user": cfg.user,
        "sslmode": cfg.sslmode, "connect_timeout": cfg.connect_timeout_seconds,
        "application_name": "opscheck",
        # Enforced by the server for the whole session, whatever a check sends.
        "options": f"-c default_transaction_read_only=on -c statement_timeout={cfg.statement_timeout_ms}",
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
