"""PostgreSQL: the connection, health thresholds, role policy, data rules and the restore drill."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from opscheck.profile.common import SecretRef, Strict

# What the cheap shape test of profile SQL blanks out before it looks for statements:
# comments, quoted literals and identifiers, dollar-quoted bodies.
_SQL_OPAQUE = re.compile(
    r"--[^\n]*"
    r"|/\*.*?\*/"
    r"|[Ee]'(?:[^'\\]|\\.|'')*'"
    r"|'(?:[^']|'')*'"
    r'|"(?:[^"]|"")*"'
    r"|\$([A-Za-z_][A-Za-z0-9_]*|)\$.*?\$\1\$",
    re.S,
)
_WRITING_CTE = re.compile(r"\b(insert\s+into|update\s+\S+\s+set|delete\s+from|merge\s+into)\b", re.I)


def single_select(query: str) -> str:
    """Profile SQL must be one SELECT (or WITH ... SELECT, VALUES, TABLE): refused here when
    obviously not. The guarantee is the server's (one prepared statement in a READ ONLY
    transaction, opscheck/sources/postgres.py); this only reports the mistake at load time."""
    text = _SQL_OPAQUE.sub(" ", query).strip()
    text = text[:-1].rstrip() if text.endswith(";") else text
    if not text:
        raise ValueError("empty query; give one SELECT")
    if ";" in text:
        raise ValueError("holds several statements (a ';' before the end); give one SELECT")
    first = re.match(r"[(\s]*([A-Za-z]+)", text)
    keyword = first.group(1).lower() if first else text.split()[0]
    if keyword not in ("select", "with", "values", "table"):
        raise ValueError(f"must be one read-only SELECT, not {keyword.upper()}")
    writing = _WRITING_CTE.search(text)
    if writing:
        raise ValueError(f"writes ({writing.group(1).split()[0].upper()}); give one read-only SELECT")
    if keyword == "select" and re.search(r"\binto\b", text, re.I):
        raise ValueError("SELECT INTO creates a table; give one read-only SELECT")
    return query


ReadOnlyQuery = Annotated[str, AfterValidator(single_select)]


class PostgresConfig(Strict):
    host: str
    port: int = 5432
    dbname: str
    user: str
    password: SecretRef | None = None
    passfile: str | None = None
    # Stated, never assumed: libpq's own default ("prefer") silently falls back to plain
    # text. Production: verify-full with sslrootcert (the server's CA), so the connection is
    # encrypted and the server is who the host name says.
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
    sslrootcert: str | None = None
    connect_timeout_seconds: Annotated[int, Field(gt=0)] = 5
    statement_timeout_ms: Annotated[int, Field(gt=0)] = 10000
    thresholds: PostgresThresholds = Field(default_factory=lambda: PostgresThresholds())
    accounts: PostgresAccountPolicy = Field(default_factory=lambda: PostgresAccountPolicy())


# schema.table, as the database checks name tables (quoted as identifiers, never pasted).
QUALIFIED_TABLE = r"^[A-Za-z_][A-Za-z0-9_$]*\.[A-Za-z_][A-Za-z0-9_$]*$"


class PostgresThresholds(Strict):
    """Database health thresholds; defaults from SmartSensor 002 (alert rules, tuning queries)."""

    # DatabaseConnectionsHigh: pg_stat_database numbackends / max_connections > 0.8.
    connections_ratio: Annotated[float, Field(gt=0, le=1)] = 0.8
    # pg_stat_statements mean_time > 100 (ms).
    slow_query_mean_ms: Annotated[float, Field(gt=0)] = 100
    slow_query_min_calls: Annotated[int, Field(ge=1)] = 1
    # pg_stat_user_indexes idx_scan < 100, judged only on tables with at least
    # index_min_table_rows rows: on smaller ones the planner rightly prefers a seq scan.
    unused_index_max_scans: Annotated[int, Field(ge=0)] = 100
    index_min_table_rows: Annotated[int, Field(ge=0)] = 10000
    # Heavy sequential scans on those tables: over this share of all scans, and this many.
    seq_scan_max_ratio: Annotated[float, Field(gt=0, le=1)] = 0.5
    seq_scan_min_count: Annotated[int, Field(ge=1)] = 100
    # Stale statistics (weekly ANALYZE): at least stats_min_modified_rows rows changed since
    # the last analyze, and that is over stats_max_modified_ratio of the table or the last
    # analyze is older than stats_max_age_days (or never ran).
    stats_max_age_days: Annotated[float, Field(gt=0)] = 7
    stats_max_modified_ratio: Annotated[float, Field(gt=0)] = 0.2
    stats_min_modified_rows: Annotated[int, Field(ge=1)] = 1000
    # Index bloat (pgstattuple's pgstatindex): a B-tree of at least index_bloat_min_mb whose
    # leaf density is under this needs a REINDEX.
    index_min_leaf_density_percent: Annotated[float, Field(gt=0, le=100)] = 50
    index_bloat_min_mb: Annotated[float, Field(ge=0)] = 1
    # Table sizes: a table over table_max_mb (per-table overrides, schema.table: MB); the
    # cluster's data over storage_resize_trigger_percent of storage_capacity_gb (002:
    # storage_scaling.postgresql resize_trigger 80%).
    table_max_mb: Annotated[float, Field(gt=0)] | None = None
    table_max_mb_overrides: dict[Annotated[str, Field(pattern=QUALIFIED_TABLE)], Annotated[float, Field(gt=0)]] = {}
    storage_capacity_gb: Annotated[float, Field(gt=0)] | None = None
    storage_resize_trigger_percent: Annotated[float, Field(gt=0, le=100)] = 80
    largest_tables: Annotated[int, Field(ge=1)] = 10


class PostgresAccountPolicy(Strict):
    """Database role policy (002 monthly security audit, user account state)."""

    approved_superusers: list[str] = ["postgres"]
    # Roles allowed CREATEROLE, REPLICATION or BYPASSRLS besides the superusers.
    approved_privileged_roles: list[str] = []
    # Accepted values of the server's password_encryption (md5 hashes are weak).
    password_encryption: list[str] = ["scram-sha-256"]
    # When set: every login role (but the exempt) has a VALID UNTIL at most this many days ahead.
    password_max_age_days: Annotated[int, Field(gt=0)] | None = None
    password_expiry_exempt: list[str] = []


class DataQualityRule(Strict):
    """A read-only SQL query whose numeric columns must stay within bounds (002 sensor data
    quality). Each returned row is checked; an `object` column names the row."""

    name: str
    query: ReadOnlyQuery
    max: dict[str, float] = {}
    min: dict[str, float] = {}

    @model_validator(mode="after")
    def _has_bounds(self) -> DataQualityRule:
        if not self.max and not self.min:
            raise ValueError("give max and/or min bounds for the query's columns")
        return self


class RetentionRule(Strict):
    """Rows of `table` whose `column` is older than `days` must have been cleaned up."""

    table: Annotated[str, Field(pattern=QUALIFIED_TABLE)]
    column: str
    days: Annotated[float, Field(gt=0)] = 90


class InactiveAccounts(Strict):
    """Application accounts: `query` returns `account` and `last_activity` (timestamptz,
    NULL for never) of the ENABLED accounts, e.g. from the application's users table."""

    query: ReadOnlyQuery
    max_inactive_days: Annotated[float, Field(gt=0)] = 90


class DrillTable(Strict):
    name: Annotated[str, Field(pattern=QUALIFIED_TABLE)]
    min_rows: Annotated[int, Field(ge=0)] = 1


class RestoreDrill(Strict):
    """Opt-in: restore the newest dump into a scratch database, count rows, time it.

    `connection` names the scratch database (dbname) and a role that may write there and
    nowhere else (never a superuser); the drill empties that database before and after."""

    enabled: bool = False
    connection: PostgresConfig | None = None
    tables: list[DrillTable] = []
    rto_minutes: Annotated[float, Field(gt=0)] = 15  # 002: recovery time < 15 min
    rpo_hours: Annotated[float, Field(gt=0)] = 26
    pg_restore: str = "pg_restore"  # run where opscheck runs
    timeout_minutes: Annotated[float, Field(gt=0)] = 60

    @model_validator(mode="after")
    def _complete_when_enabled(self) -> RestoreDrill:
        if self.enabled and self.connection is None:
            raise ValueError("enabled: give the scratch database's connection")
        if self.enabled and not self.tables:
            raise ValueError("enabled: list the tables to verify (name, min_rows)")
        return self
