"""Judging what the database checks read (opscheck/sources/database.py): unused and
redundant indexes, stale statistics, bloated indexes, table sizes, data rules, roles and
accounts. Rows in (dicts from the catalog views), offender rows out: each with an
`object` (`schema.table`, `schema.index`, a role) and a `detail`, ready for
`Evidence.expect_none`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from opscheck.errors import ProfileError
from opscheck.profile import DataQualityRule, InactiveAccounts, PostgresAccountPolicy, PostgresThresholds, RetentionRule

Row = dict[str, Any]
MB = 1024 * 1024


def mb(n_bytes: float | None) -> float:
    return round((n_bytes or 0) / MB, 2)


# ------------------------------------------------------------------------------ indexes


def unused_indexes(all_indexes: Sequence[Row], t: PostgresThresholds) -> list[Row]:
    """Indexes scanned fewer than unused_index_max_scans times, largest first, on tables
    large enough to matter. Indexes backing a primary key, unique or exclusion constraint
    are left out: they enforce the data model and cannot simply be dropped."""
    found = [
        r
        for r in all_indexes
        if not (r["indisprimary"] or r["indisunique"] or r["backs_constraint"])
        and r["table_rows"] >= t.index_min_table_rows
        and r["idx_scan"] < t.unused_index_max_scans
    ]
    found.sort(key=lambda r: r["bytes"], reverse=True)
    return [
        {
            "object": f"{r['schema']}.{r['index_name']}",
            "detail": f"{r['idx_scan']} scans, {mb(r['bytes'])} MB, table {r['schema']}.{r['table_name']} {r['table_rows']} rows",
            "table": f"{r['schema']}.{r['table_name']}",
            "idx_scan": r["idx_scan"],
            "size_mb": mb(r["bytes"]),
            "table_rows": r["table_rows"],
        }
        for r in found
    ]


def _signature(r: Row) -> tuple[Any, ...]:
    """Everything that makes two indexes interchangeable for lookups."""
    return (
        r["indrelid"],
        r["method"],
        tuple(r["keys"]),
        tuple(r["opclasses"]),
        tuple(r["collations"]),
        r["exprs"],
        r["pred"],
    )


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
                elif (
                    a["method"] == b["method"] == "btree"
                    and not keeps_constraint(a)
                    and a["exprs"] is None
                    and b["exprs"] is None
                    and a["pred"] is None
                    and b["pred"] is None
                    and len(a["keys"]) == a["nkeys"]  # no INCLUDE columns: not a covering index
                    and a["nkeys"] < b["nkeys"]
                    and list(a["keys"][: a["nkeys"]]) == list(b["keys"][: a["nkeys"]])
                    and list(a["opclasses"][: a["nkeys"]]) == list(b["opclasses"][: a["nkeys"]])
                    and list(a["collations"][: a["nkeys"]]) == list(b["collations"][: a["nkeys"]])
                ):
                    reason = "prefix of"
                if reason:
                    reported.add(a["indexrelid"])
                    found.append(
                        {
                            "object": f"{a['schema']}.{a['index_name']}",
                            "detail": f"{reason} {b['schema']}.{b['index_name']}",
                            "table": f"{a['schema']}.{a['table_name']}",
                            "size_mb": mb(a["bytes"]),
                            "idx_scan": a["idx_scan"],
                        }
                    )
    return found


def index_rows(all_indexes: Sequence[Row], t: PostgresThresholds) -> list[Row]:
    """The indexes the unused-index check judges, for the evidence table."""
    return [
        {
            "object": f"{r['schema']}.{r['index_name']}",
            "table": f"{r['schema']}.{r['table_name']}",
            "idx_scan": r["idx_scan"],
            "size_mb": round(r["bytes"] / MB, 2),
            "table_rows": r["table_rows"],
            "constraint": r["backs_constraint"] or r["indisunique"],
        }
        for r in all_indexes
        if r["table_rows"] >= t.index_min_table_rows
    ]


def bloated_indexes(found: Sequence[Row], t: PostgresThresholds) -> list[Row]:
    """B-tree indexes (read with their leaf density) whose leaf pages are mostly empty."""
    return [
        {
            "object": f"{r['schema']}.{r['index_name']}",
            "detail": f"leaf density {float(r['density']):.0f}%, under {t.index_min_leaf_density_percent:g}%, {mb(r['bytes'])} MB",
            "leaf_density_percent": float(r["density"]),
            "size_mb": mb(r["bytes"]),
        }
        for r in found
        if float(r["density"]) < t.index_min_leaf_density_percent
    ]


# ------------------------------------------------------------------------------ statistics


def stale_statistics(found: Sequence[Row], t: PostgresThresholds) -> list[Row]:
    """Tables whose planner statistics lag behind their data (see PostgresThresholds), from
    the tables with at least stats_min_modified_rows modified since their last analyze."""
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
            stale.append(
                {
                    "object": f"{r['schemaname']}.{r['relname']}",
                    "detail": f"{r['n_mod_since_analyze']} rows modified since last analyze ({'; '.join(reasons)})",
                    "n_mod_since_analyze": r["n_mod_since_analyze"],
                    "n_live_tup": r["n_live_tup"],
                    "last_analyzed": r["analyzed"].isoformat() if r["analyzed"] else "never",
                }
            )
    return stale


# ------------------------------------------------------------------------------ sizes


def oversized_tables(tables: Sequence[Row], t: PostgresThresholds) -> list[Row]:
    """Tables over their size limit (table_max_mb, or its per-table override)."""
    offenders = []
    for r in tables:
        limit = t.table_max_mb_overrides.get(r["object"], t.table_max_mb)
        if limit is not None and r["bytes"] > limit * MB:
            offenders.append({"object": r["object"], "detail": f"{r['size_mb']:g} MB, over {limit:g} MB"})
    return offenders


def storage_percent(data_bytes: int, t: PostgresThresholds) -> float | None:
    """All databases' size as a share of storage_capacity_gb; None when no capacity is set."""
    if t.storage_capacity_gb is None:
        return None
    return 100.0 * data_bytes / (t.storage_capacity_gb * 1024 * MB)


def storage_over_trigger(data_bytes: int, t: PostgresThresholds) -> list[Row]:
    used = storage_percent(data_bytes, t)
    if used is None or used <= t.storage_resize_trigger_percent:
        return []
    return [
        {
            "object": "all databases",
            "detail": f"{data_bytes / MB:.0f} MB, {used:.0f}% of "
            f"{t.storage_capacity_gb:g} GB, over the resize trigger {t.storage_resize_trigger_percent:g}%",
        }
    ]


def growth(rule: RetentionRule, recent_rows: int, total_rows: int, table_bytes: int, days: int) -> Row:
    """Rows per day over the last `days`, and the bytes that makes at the table's bytes per row."""
    per_day = recent_rows / days
    bytes_per_row = table_bytes / total_rows if total_rows else 0
    return {
        "object": rule.table,
        "rows_per_day": round(per_day, 1),
        "mb_per_day": round(per_day * bytes_per_row / MB, 3),
    }


# ------------------------------------------------------------------------------ data rules


def past_retention(rule: RetentionRule, count: int, oldest: Any, now: datetime) -> Row | None:
    """The table's rows older than its retention, or None when there is none."""
    if not count:
        return None
    age = (now - oldest).total_seconds() / 86400 if isinstance(oldest, datetime) else None
    oldest_text = f"{oldest:%Y-%m-%d}" if isinstance(oldest, datetime) else str(oldest)
    return {
        "object": rule.table,
        "detail": f"{count} rows older than {rule.days:g} days, oldest {oldest_text}"
        + (f" ({age:.0f} days)" if age is not None else ""),
        "rows": count,
        "oldest": oldest_text,
        "retention_days": rule.days,
    }


def quality_bounds(rule: DataQualityRule, result: Sequence[Row]) -> tuple[list[Row], list[Row]]:
    """(all rows, rows out of the rule's bounds with what is wrong) of a quality query's result."""
    if not result:
        return [], [{"object": rule.name, "detail": "the query returned no rows"}]
    missing = sorted((set(rule.max) | set(rule.min)) - set(result[0]))
    if missing:
        raise ProfileError(f"data_quality {rule.name}: the query returns no column {', '.join(missing)}")
    offenders = []
    for i, r in enumerate(result):
        name = (
            f"{rule.name} {r['object']}"
            if r.get("object") is not None
            else (rule.name if len(result) == 1 else f"{rule.name} row {i + 1}")
        )
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


def quality_bounds_text(rule: DataQualityRule) -> str:
    bounds = [f"{c} <= {v:g}" for c, v in rule.max.items()] + [f"{c} >= {v:g}" for c, v in rule.min.items()]
    return f"{rule.name}: {', '.join(bounds)}"


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


def role_policy(
    roles: Sequence[Row], encryption: str, policy: PostgresAccountPolicy, now: datetime
) -> tuple[list[Row], list[Row]]:
    """(every role with its attributes, roles breaking the policy), from pg_roles and the
    server's password_encryption.

    pg_roles is readable by any role; password hashes (pg_authid) are not, by design, so
    which roles lack a password or keep an md5 hash cannot be seen by a monitoring login:
    the server-wide password_encryption is checked instead."""
    offenders = []
    for r in roles:
        name = r["rolname"]
        problems = []
        if r["rolsuper"] and name not in policy.approved_superusers:
            problems.append("superuser, not in the approved list")
        elif not r["rolsuper"] and name not in policy.approved_privileged_roles:
            extra = [
                a
                for a, on in (
                    ("CREATEROLE", r["rolcreaterole"]),
                    ("REPLICATION", r["rolreplication"]),
                    ("BYPASSRLS", r["rolbypassrls"]),
                )
                if on
            ]
            if extra:
                problems.append(f"{'/'.join(extra)}, not in the approved list")
        if policy.password_max_age_days and r["rolcanlogin"] and name not in policy.password_expiry_exempt:
            until = r["rolvaliduntil"]
            if until is None:
                problems.append("password never expires (no VALID UNTIL)")
            elif (until - now).days > policy.password_max_age_days:
                problems.append(
                    f"password valid until {until:%Y-%m-%d}, over {policy.password_max_age_days} days ahead"
                )
        if problems:
            offenders.append({"object": name, "detail": "; ".join(problems)})
    table = [
        {
            "object": r["rolname"],
            "superuser": r["rolsuper"],
            "login": r["rolcanlogin"],
            "createrole": r["rolcreaterole"],
            "replication": r["rolreplication"],
            "bypassrls": r["rolbypassrls"],
            "valid_until": r["rolvaliduntil"].isoformat() if isinstance(r["rolvaliduntil"], datetime) else "",
        }
        for r in roles
    ]
    if encryption not in policy.password_encryption:
        offenders.append(
            {
                "object": "password_encryption",
                "detail": f"{encryption}, not one of {', '.join(policy.password_encryption)}",
            }
        )
    return table, offenders


def inactive_accounts(result: Sequence[Row], cfg: InactiveAccounts, now: datetime) -> list[Row]:
    """The enabled accounts (the profile's query: account, last_activity) without activity
    for max_inactive_days."""
    if result and not {"account", "last_activity"} <= set(result[0]):
        raise ProfileError("inactive_accounts.query must return the columns account and last_activity")
    found = []
    for r in result:
        last = r["last_activity"]
        if last is None:
            found.append({"object": str(r["account"]), "detail": "never active", "last_activity": "never"})
            continue
        if not isinstance(last, datetime):
            raise ProfileError("inactive_accounts.query: last_activity must be a timestamp")
        if last.tzinfo is None:
            last = last.replace(tzinfo=UTC)
        days = (now - last).total_seconds() / 86400
        if days > cfg.max_inactive_days:
            found.append(
                {
                    "object": str(r["account"]),
                    "detail": f"last activity {last:%Y-%m-%d}, {days:.0f} days ago",
                    "last_activity": last.isoformat(),
                }
            )
    return found
