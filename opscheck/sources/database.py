"""What the database checks read from PostgreSQL, over a read-only session.

`DatabaseReader` wraps an open read-only session (opscheck.sources.postgres.read_only_connection:
every read its own READ ONLY transaction, bounded in time) and returns plain rows (dicts)
from the catalog and statistics views; the judgments are in
opscheck/rules/database.py. Identifiers from the profile are quoted with psycopg.sql,
never pasted into SQL text. Two reads filter in SQL by the profile's thresholds (slow
statements, sequential-scan-heavy tables): pg_stat_statements and pg_stat_user_tables are
large, and the filter is the runbook's own query.

The SQL follows the SmartSensor runbook (002): pg_stat_database for connections,
pg_stat_statements for slow queries, pg_stat_user_indexes / pg_stat_user_tables for index
use and statistics, pg_total_relation_size for table sizes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from opscheck.profile import DataQualityRule, InactiveAccounts, PostgresThresholds, RetentionRule
from opscheck.sources.postgres import ReadOnlySession, Row

MB = 1024 * 1024


def table_identifier(qualified: str) -> sql.Identifier:
    schema, _, name = qualified.partition(".")
    return sql.Identifier(schema, name)


def mb(n_bytes: float | None) -> float:
    return round((n_bytes or 0) / MB, 2)


@dataclass
class ConnectionUsage:
    backends: int
    max_connections: int
    per_database: list[Row]

    @property
    def percent(self) -> float:
        return 100.0 * self.backends / self.max_connections if self.max_connections else 0.0


_STRING_LITERAL = re.compile(r"(?:[EeBbXxNn]|U&)?'(?:[^']|'')*'")
_DOLLAR_QUOTED = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*|)\$.*?\$\1\$", re.S)


def redact_sql(text: str, limit: int = 160) -> str:
    """A statement safe for a report: pg_stat_statements keeps the text of utility
    statements as sent (ALTER ROLE ... PASSWORD 'x' included), so every quoted literal is
    masked, whitespace collapsed, and the text cut to `limit` characters."""
    text = _DOLLAR_QUOTED.sub("$$***$$", text)
    text = _STRING_LITERAL.sub("'***'", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_INDEXES = """
    SELECT n.nspname AS schema, t.relname AS table_name, c.relname AS index_name,
           i.indexrelid, i.indrelid, i.indisunique, i.indisprimary, i.indisexclusion,
           i.indkey::int2[] AS keys, i.indnkeyatts AS nkeys, i.indclass::oid[] AS opclasses,
           i.indcollation::oid[] AS collations, am.amname AS method,
           pg_get_expr(i.indexprs, i.indrelid) AS exprs, pg_get_expr(i.indpred, i.indrelid) AS pred,
           coalesce(s.idx_scan, 0) AS idx_scan, pg_relation_size(i.indexrelid) AS bytes,
           greatest(coalesce(st.n_live_tup, 0), t.reltuples::bigint) AS table_rows,
           EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) AS backs_constraint
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_class t ON t.oid = i.indrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    JOIN pg_am am ON am.oid = c.relam
    LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = i.indexrelid
    LEFT JOIN pg_stat_user_tables st ON st.relid = i.indrelid
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
      AND i.indisvalid
    ORDER BY n.nspname, t.relname, c.relname"""


class DatabaseReader:
    """Reads one database over an open read-only session."""

    def __init__(self, session: ReadOnlySession) -> None:
        self.session = session

    def _rows(self, query: str | sql.Composable, params: Any = None) -> list[Row]:
        return self.session.rows(query, params)

    def _profile_query(self, query: str, what: str) -> list[Row]:
        """A query from the profile: one statement in a read-only transaction; writing is a
        profile error, failing a dependency error."""
        return self.session.profile_rows(query, what)

    # -------------------------------------------------------------------------- connections

    def connection_usage(self) -> ConnectionUsage:
        """The runbook's DatabaseConnectionsHigh: sum(numbackends) over max_connections."""
        per_db = self._rows(
            "SELECT datname, numbackends FROM pg_stat_database"
            " WHERE datname IS NOT NULL ORDER BY numbackends DESC, datname"
        )
        max_conn = int(self._rows("SELECT setting FROM pg_settings WHERE name = 'max_connections'")[0]["setting"])
        total = sum(r["numbackends"] for r in per_db)
        return ConnectionUsage(
            total,
            max_conn,
            [
                {"object": r["datname"], "detail": r["numbackends"], "connections": r["numbackends"]}
                for r in per_db
                if r["numbackends"]
            ],
        )

    # -------------------------------------------------------------------------- slow queries

    def pg_stat_statements_absent(self) -> str | None:
        """Why pg_stat_statements cannot be read in this database, or None when it can."""
        db = self._rows("SELECT current_database() AS db")[0]["db"]
        if not self._rows("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'"):
            return f"pg_stat_statements is not installed in database {db} (CREATE EXTENSION pg_stat_statements)"
        try:
            self._rows("SELECT 1 FROM pg_stat_statements LIMIT 1")
        except psycopg.errors.ObjectNotInPrerequisiteState:
            return "pg_stat_statements is installed but not loaded (shared_preload_libraries)"
        return None

    def slow_queries(self, t: PostgresThresholds, limit: int = 20) -> list[Row]:
        """Statements of this database whose mean execution time is over the threshold,
        heaviest total time first (the runbook's query; mean_exec_time since PostgreSQL 13)."""
        found = self._rows(
            """
            SELECT s.queryid, r.rolname, s.query, s.calls,
                   round(s.mean_exec_time::numeric, 1) AS mean_ms,
                   round(s.total_exec_time::numeric, 1) AS total_ms
            FROM pg_stat_statements s
            LEFT JOIN pg_roles r ON r.oid = s.userid
            WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND s.mean_exec_time > %(mean)s AND s.calls >= %(calls)s
            ORDER BY s.total_exec_time DESC
            LIMIT %(limit)s""",
            {"mean": t.slow_query_mean_ms, "calls": t.slow_query_min_calls, "limit": limit},
        )
        return [
            {
                "object": redact_sql(r["query"]),
                "detail": f"{float(r['mean_ms']):g} ms mean, {r['calls']} calls",
                "role": r["rolname"],
                "calls": r["calls"],
                "mean_ms": float(r["mean_ms"]),
                "total_ms": float(r["total_ms"]),
                "queryid": r["queryid"],
            }
            for r in found
        ]

    # -------------------------------------------------------------------------- indexes

    def indexes(self) -> list[Row]:
        return self._rows(_INDEXES)

    def heavy_seq_scans(self, t: PostgresThresholds) -> list[Row]:
        """Large tables read mostly by sequential scans: a missing index."""
        found = self._rows(
            """
            SELECT schemaname, relname, seq_scan, coalesce(idx_scan, 0) AS idx_scan, seq_tup_read, n_live_tup
            FROM pg_stat_user_tables
            WHERE n_live_tup >= %(rows)s AND seq_scan >= %(count)s
              AND seq_scan > %(ratio)s * (seq_scan + coalesce(idx_scan, 0))
            ORDER BY seq_tup_read DESC""",
            {"rows": t.index_min_table_rows, "count": t.seq_scan_min_count, "ratio": t.seq_scan_max_ratio},
        )
        return [
            {
                "object": f"{r['schemaname']}.{r['relname']}",
                "detail": f"{r['seq_scan']} sequential vs {r['idx_scan']} index scans, {r['n_live_tup']} rows",
                "seq_scan": r["seq_scan"],
                "idx_scan": r["idx_scan"],
                "seq_tup_read": r["seq_tup_read"],
            }
            for r in found
        ]

    def pgstattuple_available(self) -> bool:
        return bool(self._rows("SELECT 1 FROM pg_extension WHERE extname = 'pgstattuple'"))

    def btree_leaf_density(self, min_mb: float) -> list[Row]:
        """B-tree indexes of at least `min_mb` with their average leaf density (pgstatindex
        reads the index: bounded by the session's statement_timeout)."""
        return self._rows(
            """
            SELECT n.nspname AS schema, c.relname AS index_name, pg_relation_size(c.oid) AS bytes,
                   (pgstatindex(c.oid::regclass)).avg_leaf_density AS density
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_am am ON am.oid = c.relam
            WHERE c.relkind = 'i' AND am.amname = 'btree' AND c.relpersistence <> 't'
              AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
              AND pg_relation_size(c.oid) >= %(min_bytes)s
            ORDER BY bytes DESC""",
            {"min_bytes": int(min_mb * MB)},
        )

    # -------------------------------------------------------------------------- statistics

    def tables_modified_since_analyze(self, min_rows: int) -> list[Row]:
        """Tables with at least `min_rows` modified since their last analyze, and its age."""
        return self._rows(
            """
            SELECT schemaname, relname, n_live_tup, n_mod_since_analyze,
                   greatest(last_analyze, last_autoanalyze) AS analyzed,
                   extract(epoch FROM now() - greatest(last_analyze, last_autoanalyze)) / 86400 AS age_days
            FROM pg_stat_user_tables
            WHERE n_mod_since_analyze >= %(min_rows)s
            ORDER BY n_mod_since_analyze DESC""",
            {"min_rows": min_rows},
        )

    # -------------------------------------------------------------------------- sizes

    def table_sizes(self) -> list[Row]:
        """Every user table with its total size (heap, indexes, TOAST), largest first."""
        found = self._rows("""
            SELECT schemaname, relname, pg_total_relation_size(relid) AS bytes, n_live_tup
            FROM pg_stat_user_tables ORDER BY bytes DESC, schemaname, relname""")
        return [
            {
                "object": f"{r['schemaname']}.{r['relname']}",
                "size_mb": mb(r["bytes"]),
                "bytes": r["bytes"],
                "rows": r["n_live_tup"],
            }
            for r in found
        ]

    def cluster_data_bytes(self) -> int:
        """All databases together: what fills the server's storage."""
        return int(self._rows("SELECT sum(pg_database_size(oid)) AS b FROM pg_database")[0]["b"] or 0)

    def recent_rows(self, rule: RetentionRule, days: int) -> tuple[int, int]:
        """(rows of the last `days` by the table's time column, the planner's row estimate
        of the whole table: not count(*), a full count of a large table is a scan)."""
        query = sql.SQL(
            "SELECT count(*) AS n, (SELECT greatest(reltuples, 0)::bigint FROM pg_class"
            " WHERE oid = %s::regclass) AS total FROM {t} WHERE {c} >= now() - make_interval(days => %s)"
        ).format(t=table_identifier(rule.table), c=sql.Identifier(rule.column))
        r = self._rows(query, (table_identifier(rule.table).as_string(self.session.conn), days))[0]
        return r["n"], r["total"]

    # -------------------------------------------------------------------------- data rules

    def rows_older_than(self, rule: RetentionRule) -> tuple[int, Any]:
        """(how many rows are older than the rule's retention, the oldest time)."""
        query = sql.SQL(
            "SELECT count(*) AS n, min({c}) AS oldest FROM {t} WHERE {c} < now() - make_interval(secs => %s)"
        ).format(t=table_identifier(rule.table), c=sql.Identifier(rule.column))
        r = self._rows(query, (rule.days * 86400,))[0]
        return r["n"], r["oldest"]

    def quality_query(self, rule: DataQualityRule) -> list[Row]:
        """The rows of a data quality rule's query."""
        return self._profile_query(rule.query, f"data_quality {rule.name}: the query")

    # -------------------------------------------------------------------------- accounts

    def roles(self) -> list[Row]:
        """Every role but the built-in pg_* ones, with its attributes (pg_roles)."""
        return self._rows("""
            SELECT rolname, rolsuper, rolcanlogin, rolcreaterole, rolreplication, rolbypassrls,
                   CASE WHEN rolvaliduntil = 'infinity' THEN NULL ELSE rolvaliduntil END AS rolvaliduntil
            FROM pg_roles WHERE rolname !~ '^pg_' ORDER BY rolname""")

    def password_encryption(self) -> str:
        return self._rows("SHOW password_encryption")[0]["password_encryption"]

    def account_activity(self, cfg: InactiveAccounts) -> list[Row]:
        """The rows of the profile's inactive_accounts query (account, last_activity)."""
        return self._profile_query(cfg.query, "inactive_accounts.query")
