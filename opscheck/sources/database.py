"""What the database checks read from PostgreSQL, over a read-only session.

Every function takes an open connection (opscheck.sources.postgres.read_only_connection) and
returns plain rows (dicts) with an `object` key naming the thing (`schema.table`,
`schema.index`, a role) and a `detail`, ready for `Evidence.expect_none`. Identifiers
from the profile are quoted with psycopg.sql, never pasted into SQL text.

The SQL follows the SmartSensor runbook (002): pg_stat_database for connections,
pg_stat_statements for slow queries, pg_stat_user_indexes / pg_stat_user_tables for index
use and statistics, pg_total_relation_size for table sizes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Sequence

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from opscheck.errors import DependencyError, ProfileError
from opscheck.profile import (DataQualityRule, InactiveAccounts, PostgresAccountPolicy, PostgresThresholds,
                              RetentionRule)

Row = dict[str, Any]
MB = 1024 * 1024


def rows(conn: psycopg.Connection[Any], query: str | sql.Composable, params: Any = None) -> list[Row]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        return list(cur.fetchall()) if cur.description else []


def table_identifier(qualified: str) -> sql.Identifier:
    schema, _, name = qualified.partition(".")
    return sql.Identifier(schema, name)


def mb(n_bytes: float | None) -> float:
    return round((n_bytes or 0) / MB, 2)


# ------------------------------------------------------------------------------ connections

@dataclass
class ConnectionUsage:
    backends: int
    max_connections: int
    per_database: list[Row]

    @property
    def percent(self) -> float:
        return 100.0 * self.backends / self.max_connections if self.max_connections else 0.0


def connection_usage(conn: psycopg.Connection[Any]) -> ConnectionUsage:
    """The runbook's DatabaseConnectionsHigh: sum(numbackends) over max_connections."""
    per_db = rows(conn, "SELECT datname, numbackends FROM pg_stat_database"
                        " WHERE datname IS NOT NULL ORDER BY numbackends DESC, datname")
    max_conn = int(rows(conn, "SELECT setting FROM pg_settings WHERE name = 'max_connections'")[0]["setting"])
    total = sum(r["numbackends"] for r in per_db)
    return ConnectionUsage(total, max_conn, [{"object": r["datname"], "detail": r["numbackends"],
                                              "connections": r["numbackends"]} for r in per_db if r["numbackends"]])


# ------------------------------------------------------------------------------ slow queries

_STRING_LITERAL = re.compile(r"(?:[EeBbXxNn]|U&)?'(?:[^']|'')*'")
_DOLLAR_QUOTED = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$.*?\$\1\$", re.S)


def redact_sql(text: str, limit: int = 160) -> str:
    """A statement safe for a report: pg_stat_statements keeps the text of utility
    statements as sent (ALTER ROLE ... PASSWORD 'x' included), so every quoted literal is
    masked, whitespace collapsed, and the text cut to `limit` characters."""
    text = _DOLLAR_QUOTED.sub("$$***$$", text)
    text = _STRING_LITERAL.sub("'***'", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def pg_stat_statements_absent(conn: psycopg.Connection[Any]) -> str | None:
    """Why pg_stat_statements cannot be read in this database, or None when it can."""
    db = rows(conn, "SELECT current_database() AS db")[0]["db"]
    if not rows(conn, "SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'"):
        return f"pg_stat_statements is not installed in database {db} (CREATE EXTENSION pg_stat_statements)"
    try:
        rows(conn, "SELECT 1 FROM pg_stat_statements LIMIT 1")
    except psycopg.errors.ObjectNotInPrerequisiteState:
        return "pg_stat_statements is installed but not loaded (shared_preload_libraries)"
    return None


def slow_queries(conn: psycopg.Connection[Any], t: PostgresThresholds, limit: int = 20) -> list[Row]:
    """Statements of this database whose mean execution time is over the threshold,
    heaviest total time first (the runbook's query; mean_exec_time since PostgreSQL 13)."""
    found = rows(conn, """
        SELECT s.queryid, r.rolname, s.query, s.calls,
               round(s.mean_exec_time::numeric, 1) AS mean_ms,
               round(s.total_exec_time::numeric, 1) AS total_ms
        FROM pg_stat_statements s
        LEFT JOIN pg_roles r ON r.oid = s.userid
        WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND s.mean_exec_time > %(mean)s AND s.calls >= %(calls)s
        ORDER BY s.total_exec_time DESC
        LIMIT %(limit)s""", {"mean": t.slow_query_mean_ms, "calls": t.slow_query_min_calls, "limit": limit})
    return [{"object": redact_sql(r["query"]), "detail": f"{float(r['mean_ms']):g} ms mean, {r['calls']} calls",
             "role": r["rolname"], "calls": r["calls"], "mean_ms": float(r["mean_ms"]),
             "total_ms": float(r["total_ms"]), "queryid": r["queryid"]} for r in found]


# ------------------------------------------------------------------------------ indexes

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


def indexes(conn: psycopg.Connection[Any]) -> list[Row]:
    return rows(conn, _INDEXES)


def unused_indexes(all_indexes: Sequence[Row], t: PostgresThresholds) -> list[Row]:
    """Indexes scanned fewer than unused_index_max_scans times, largest first, on tables
    large enough to matter. Indexes backing a primary key, unique or exclusion constraint
    are left out: they enforce the data model and cannot simply be dropped."""
    found = [r for r in all_indexes
             if not (r["indisprimary"] or r["indisunique"] or r["backs_constraint"])
             and r["table_rows"] >= t.index_min_table_rows and r["idx_scan"] < t.unused_index_max_scans]
    found.sort(key=lambda r: r["bytes"], reverse=True)
    return [{"object": f"{r['schema']}.{r['index_name']}",
             "detail": f"{r['idx_scan']} scans, {mb(r['bytes'])} MB, table {r['schema']}.{r['table_name']} {r['table_rows']} rows",
             "table": f"{r['schema']}.{r['table_name']}", "idx_scan": r["idx_scan"], "size_mb": mb(r["bytes"]),
             "table_rows": r["table_rows"]} for r in found]


def _signature(r: Row) -> tuple[Any, ...]:
    """Everything that makes two indexes interchangeable for lookups."""
    return (r["indrelid"], r["method"], tuple(r["keys"]), tuple(r["opclasses"]), tuple(r["collations"]),
            r["exprs"], r["pred"])


def redundant_indexes(all_indexes: Sequence[Row]) -> list[Row]:
    """Duplicates (same table, method, columns, operator classes, expressions, predicate)
    and B-tree indexes whose key columns are a leading prefix of another B-tree's keys.
    The one reported is the one that could go: never the one backing a constraint."""
    found: list[Row] = []
    by_table: dict[int, list[Row]] = {}
    for r in all_indexes:
        by_table.setdefault(r["indrelid"], []).append(r)

    def keeps_constraint(r: Row) -> bool:
        return bool(r["indisprimary"] or r["indisunique"] or r["backs_constraint"] or r["indisexclusion"])

    for table_indexes in by_table.values():
        reported: set[int] = set()
        for a in table_indexes:
            for b in table_indexes:
                if a is b or a["indexrelid"] in reported or b["indexrelid"] in reported:
                    continue
                reason = None
                if _signature(a) == _signature(b):
                    # Report the one that could go: not the constraint's index, else the newer.
                    ka, kb = keeps_constraint(a), keeps_constraint(b)
                    if (ka and not kb) or (ka == kb and a["indexrelid"] < b["indexrelid"]):
                        continue
                    reason = "duplicate of"
                elif (a["method"] == b["method"] == "btree" and not keeps_constraint(a)
                      and a["exprs"] is None and b["exprs"] is None and a["pred"] is None and b["pred"] is None
                      and len(a["keys"]) == a["nkeys"]  # no INCLUDE columns: not a covering index
                      and a["nkeys"] < b["nkeys"]
                      and list(a["keys"][: a["nkeys"]]) == list(b["keys"][: a["nkeys"]])
                      and list(a["opclasses"][: a["nkeys"]]) == list(b["opclasses"][: a["nkeys"]])
                      and list(a["collations"][: a["nkeys"]]) == list(b["collations"][: a["nkeys"]])):
                    reason = "prefix of"
                if reason:
                    reported.add(a["indexrelid"])
                    found.append({"object": f"{a['schema']}.{a['index_name']}",
                                  "detail": f"{reason} {b['schema']}.{b['index_name']}",
                                  "table": f"{a['schema']}.{a['table_name']}", "size_mb": mb(a["bytes"]),
                                  "idx_scan": a["idx_scan"]})
    return found


def heavy_seq_scans(conn: psycopg.Connection[Any], t: PostgresThresholds) -> list[Row]:
    """Large tables read mostly by sequential scans: a missing index."""
    found = rows(conn, """
        SELECT schemaname, relname, seq_scan, coalesce(idx_scan, 0) AS idx_scan, seq_tup_read, n_live_tup
        FROM pg_stat_user_tables
        WHERE n_live_tup >= %(rows)s AND seq_scan >= %(count)s
          AND seq_scan > %(ratio)s * (seq_scan + coalesce(idx_scan, 0))
        ORDER BY seq_tup_read DESC""",
        {"rows": t.index_min_table_rows, "count": t.seq_scan_min_count, "ratio": t.seq_scan_max_ratio})
    return [{"object": f"{r['schemaname']}.{r['relname']}",
             "detail": f"{r['seq_scan']} sequential vs {r['idx_scan']} index scans, {r['n_live_tup']} rows",
             "seq_scan": r["seq_scan"], "idx_scan": r["idx_scan"], "seq_tup_read": r["seq_tup_read"]} for r in found]


# ------------------------------------------------------------------------------ statistics

def stale_statistics(conn: psycopg.Connection[Any], t: PostgresThresholds) -> list[Row]:
    """Tables whose planner statistics lag behind their data (see PostgresThresholds)."""
    found = rows(conn, """
        SELECT schemaname, relname, n_live_tup, n_mod_since_analyze,
               greatest(last_analyze, last_autoanalyze) AS analyzed,
               extract(epoch FROM now() - greatest(last_analyze, last_autoanalyze)) / 86400 AS age_days
        FROM pg_stat_user_tables
        WHERE n_mod_since_analyze >= %(min_rows)s
        ORDER BY n_mod_since_analyze DESC""", {"min_rows": t.stats_min_modified_rows})
    stale = []
    for r in found:
        ratio = r["n_mod_since_analyze"] / max(r["n_live_tup"], 1)
        reasons = []
        if r["analyzed"] is None:
            reasons.append("never analyzed")
        elif float(r["age_days"]) > t.stats_max_age_days:
            reasons.append(f"last analyzed {float(r['age_days']):.1f} days ago, over {t.stats_max_age_days:g}")
        if ratio > t.stats_max_modified_ratio:
            reasons.append(f"{ratio:.0%} of rows modified since, over {t.stats_max_modified_ratio:.0%}")
        if reasons:
            stale.append({"object": f"{r['schemaname']}.{r['relname']}",
                          "detail": f"{r['n_mod_since_analyze']} rows modified since last analyze ({'; '.join(reasons)})",
                          "n_mod_since_analyze": r["n_mod_since_analyze"], "n_live_tup": r["n_live_tup"],
                          "last_analyzed": r["analyzed"].isoformat() if r["analyzed"] else "never"})
    return stale


def pgstattuple_available(conn: psycopg.Connection[Any]) -> bool:
    return bool(rows(conn, "SELECT 1 FROM pg_extension WHERE extname = 'pgstattuple'"))


def bloated_indexes(conn: psycopg.Connection[Any], t: PostgresThresholds) -> list[Row]:
    """B-tree indexes of at least index_bloat_min_mb whose leaf pages are mostly empty
    (pgstatindex reads the index: bounded by the session's statement_timeout)."""
    found = rows(conn, """
        SELECT n.nspname AS schema, c.relname AS index_name, pg_relation_size(c.oid) AS bytes,
               (pgstatindex(c.oid::regclass)).avg_leaf_density AS density
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_am am ON am.oid = c.relam
        WHERE c.relkind = 'i' AND am.amname = 'btree' AND c.relpersistence <> 't'
          AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
          AND pg_relation_size(c.oid) >= %(min_bytes)s
        ORDER BY bytes DESC""", {"min_bytes": int(t.index_bloat_min_mb * MB)})
    return [{"object": f"{r['schema']}.{r['index_name']}",
             "detail": f"leaf density {float(r['density']):.0f}%, under {t.index_min_leaf_density_percent:g}%, {mb(r['bytes'])} MB",
             "leaf_density_percent": float(r["density"]), "size_mb": mb(r["bytes"])}
            for r in found if float(r["density"]) < t.index_min_leaf_density_percent]


# ------------------------------------------------------------------------------ sizes

def table_sizes(conn: psycopg.Connection[Any]) -> list[Row]:
    """Every user table with its total size (heap, indexes, TOAST), largest first."""
    found = rows(conn, """
        SELECT schemaname, relname, pg_total_relation_size(relid) AS bytes, n_live_tup
        FROM pg_stat_user_tables ORDER BY bytes DESC, schemaname, relname""")
    return [{"object": f"{r['schemaname']}.{r['relname']}", "size_mb": mb(r["bytes"]), "bytes": r["bytes"],
             "rows": r["n_live_tup"]} for r in found]


def cluster_data_bytes(conn: psycopg.Connection[Any]) -> int:
    """All databases together: what fills the server's storage."""
    return int(rows(conn, "SELECT sum(pg_database_size(oid)) AS b FROM pg_database")[0]["b"] or 0)


def growth_per_day(conn: psycopg.Connection[Any], rule: RetentionRule, table_bytes: int, days: int = 7) -> Row:
    """Rows per day over the last `days` by the table's time column, and the bytes that
    makes at the table's current bytes per row."""
    # The planner's row estimate, not count(*): a full count of a large table is a scan.
    query = sql.SQL("SELECT count(*) AS n, (SELECT greatest(reltuples, 0)::bigint FROM pg_class"
                    " WHERE oid = %s::regclass) AS total FROM {t} WHERE {c} >= now() - make_interval(days => %s)").format(
        t=table_identifier(rule.table), c=sql.Identifier(rule.column))
    r = rows(conn, query, (table_identifier(rule.table).as_string(conn), days))[0]
    per_day = r["n"] / days
    bytes_per_row = table_bytes / r["total"] if r["total"] else 0
    return {"object": rule.table, "rows_per_day": round(per_day, 1),
            "mb_per_day": round(per_day * bytes_per_row / MB, 3)}


# ------------------------------------------------------------------------------ data rules

def rows_past_retention(conn: psycopg.Connection[Any], rule: RetentionRule) -> Row | None:
    query = sql.SQL("SELECT count(*) AS n, min({c}) AS oldest FROM {t}"
                    " WHERE {c} < now() - make_interval(secs => %s)").format(
        t=table_identifier(rule.table), c=sql.Identifier(rule.column))
    r = rows(conn, query, (rule.days * 86400,))[0]
    if not r["n"]:
        return None
    oldest = r["oldest"]
    age = (datetime.now(timezone.utc) - oldest).total_seconds() / 86400 if isinstance(oldest, datetime) else None
    oldest_text = f"{oldest:%Y-%m-%d}" if isinstance(oldest, datetime) else str(oldest)
    return {"object": rule.table,
            "detail": f"{r['n']} rows older than {rule.days:g} days, oldest {oldest_text}"
                      + (f" ({age:.0f} days)" if age is not None else ""),
            "rows": r["n"], "oldest": oldest_text, "retention_days": rule.days}


def quality_rule(conn: psycopg.Connection[Any], rule: DataQualityRule) -> tuple[list[Row], list[Row]]:
    """Run the rule's query; return (all rows, rows out of bounds with what is wrong)."""
    try:
        result = rows(conn, rule.query)
    except psycopg.errors.ReadOnlySqlTransaction:
        raise ProfileError(f"data_quality {rule.name}: the query tries to write; quality queries are read-only") from None
    except psycopg.Error as exc:
        raise DependencyError(f"data_quality {rule.name}: query failed: {str(exc).strip().splitlines()[0]}") from None
    if not result:
        return [], [{"object": rule.name, "detail": "the query returned no rows"}]
    missing = sorted((set(rule.max) | set(rule.min)) - set(result[0]))
    if missing:
        raise ProfileError(f"data_quality {rule.name}: the query returns no column {', '.join(missing)}")
    offenders = []
    for i, r in enumerate(result):
        name = f"{rule.name} {r['object']}" if r.get("object") is not None else (
            rule.name if len(result) == 1 else f"{rule.name} row {i + 1}")
        problems, failing = [], set()
        for col, limit in rule.max.items():
            v = r[col]
            if v is None or float(v) > limit:
                problems.append(f"{col} {_num(v)} over the maximum {limit:g}")
                failing.add(col)
        for col, limit in rule.min.items():
            v = r[col]
            if v is None or float(v) < limit:
                problems.append(f"{col} {_num(v)} under the minimum {limit:g}")
                failing.add(col)
        if problems:
            context = ", ".join(f"{k} {_num(v)}" for k, v in r.items() if k != "object" and k not in failing)
            offenders.append({"object": name, "detail": "; ".join(problems) + (f" ({context})" if context else "")})
    return [{"rule": rule.name, **{k: _plain(v) for k, v in r.items()}} for r in result], offenders


def _num(v: Any) -> str:
    if v is None:
        return "NULL"
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return f"{f:.4g}"


def _plain(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, (int, float, str)) or v is None:
        return v
    try:
        return float(v)
    except (TypeError, ValueError):
        return str(v)


# ------------------------------------------------------------------------------ accounts

def role_policy(conn: psycopg.Connection[Any], policy: PostgresAccountPolicy) -> tuple[list[Row], list[Row]]:
    """(every role with its attributes, roles breaking the policy).

    pg_roles is readable by any role; password hashes (pg_authid) are not, by design, so
    which roles lack a password or keep an md5 hash cannot be seen by a monitoring login:
    the server-wide password_encryption is checked instead."""
    roles = rows(conn, """
        SELECT rolname, rolsuper, rolcanlogin, rolcreaterole, rolreplication, rolbypassrls,
               CASE WHEN rolvaliduntil = 'infinity' THEN NULL ELSE rolvaliduntil END AS rolvaliduntil
        FROM pg_roles WHERE rolname !~ '^pg_' ORDER BY rolname""")
    now = datetime.now(timezone.utc)
    offenders = []
    for r in roles:
        name = r["rolname"]
        problems = []
        if r["rolsuper"] and name not in policy.approved_superusers:
            problems.append("superuser, not in the approved list")
        elif not r["rolsuper"] and name not in policy.approved_privileged_roles:
            extra = [a for a, on in (("CREATEROLE", r["rolcreaterole"]), ("REPLICATION", r["rolreplication"]),
                                     ("BYPASSRLS", r["rolbypassrls"])) if on]
            if extra:
                problems.append(f"{'/'.join(extra)}, not in the approved list")
        if (policy.password_max_age_days and r["rolcanlogin"] and name not in policy.password_expiry_exempt):
            until = r["rolvaliduntil"]
            if until is None:
                problems.append("password never expires (no VALID UNTIL)")
            elif (until - now).days > policy.password_max_age_days:
                problems.append(f"password valid until {until:%Y-%m-%d}, over {policy.password_max_age_days} days ahead")
        if problems:
            offenders.append({"object": name, "detail": "; ".join(problems)})
    table = [{"object": r["rolname"], "superuser": r["rolsuper"], "login": r["rolcanlogin"],
              "createrole": r["rolcreaterole"], "replication": r["rolreplication"], "bypassrls": r["rolbypassrls"],
              "valid_until": r["rolvaliduntil"].isoformat() if isinstance(r["rolvaliduntil"], datetime) else ""}
             for r in roles]
    encryption = rows(conn, "SHOW password_encryption")[0]["password_encryption"]
    if encryption not in policy.password_encryption:
        offenders.append({"object": "password_encryption",
                          "detail": f"{encryption}, not one of {', '.join(policy.password_encryption)}"})
    return table, offenders


def inactive_accounts(conn: psycopg.Connection[Any], cfg: InactiveAccounts) -> tuple[int, list[Row]]:
    """(enabled accounts seen, those without activity for max_inactive_days)."""
    try:
        result = rows(conn, cfg.query)
    except psycopg.errors.ReadOnlySqlTransaction:
        raise ProfileError("inactive_accounts.query tries to write; it must be a read-only query") from None
    except psycopg.Error as exc:
        raise DependencyError(f"inactive_accounts.query failed: {str(exc).strip().splitlines()[0]}") from None
    if result and not {"account", "last_activity"} <= set(result[0]):
        raise ProfileError("inactive_accounts.query must return the columns account and last_activity")
    now = datetime.now(timezone.utc)
    found = []
    for r in result:
        last = r["last_activity"]
        if last is None:
            found.append({"object": str(r["account"]), "detail": "never active", "last_activity": "never"})
            continue
        if not isinstance(last, datetime):
            raise ProfileError("inactive_accounts.query: last_activity must be a timestamp")
        if last.tzinfo is None:
            last = last.replace(tzinfo=timezone.utc)
        days = (now - last).total_seconds() / 86400
        if days > cfg.max_inactive_days:
            found.append({"object": str(r["account"]), "detail": f"last activity {last:%Y-%m-%d}, {days:.0f} days ago",
                          "last_activity": last.isoformat()})
    return len(result), found

