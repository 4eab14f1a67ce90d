"""Monthly: index use, table sizes, database roles and inactive accounts
(SmartSensor 002: performance tuning, capacity planning, monthly security audit)."""

from opscheck.check import check, configured
from opscheck.rules.database import (
    MB,
    growth,
    inactive_accounts,
    index_rows,
    oversized_tables,
    role_policy,
    storage_over_trigger,
    storage_percent,
    unused_indexes,
)
from opscheck.timeutil import utc_now


@check("monthly.unused-indexes", severity="low", covers=["002.perf.unused-indexes"])
def test_unused_indexes(postgres_config, database, evidence):
    """No rarely used index on a large table (idx_scan under the threshold), largest first

    SELECT schemaname, relname, indexrelname, idx_scan, pg_size_pretty(pg_relation_size(indexrelid))
    FROM pg_stat_user_indexes WHERE idx_scan < 100 ORDER BY pg_relation_size(indexrelid) DESC;
    Check the counters cover a full business cycle (pg_stat_database.stats_reset) and that no
    replica uses the index (counters are per server), then drop it:
      DROP INDEX CONCURRENTLY <schema>.<index>;
    """
    t = postgres_config.thresholds
    all_indexes = database.indexes()
    evidence.examined(all_indexes, f"{len(all_indexes)} indexes in the database")
    evidence.table(index_rows(all_indexes, t))
    evidence.note(
        f"judged: indexes not backing a constraint, on tables of at least {t.index_min_table_rows} rows; "
        f"unused: fewer than {t.unused_index_max_scans} scans since the statistics were reset"
    )
    evidence.expect_none(
        unused_indexes(all_indexes, t), f"indexes scanned fewer than {t.unused_index_max_scans} times", table=False
    )


@check("monthly.table-sizes", severity="medium", covers=["002.capacity.table-sizes"])
def test_table_sizes(profile, postgres_config, database, evidence):
    """Largest tables and their growth; no table over its size limit, storage under the resize trigger

    SELECT schemaname, tablename, pg_size_pretty(pg_total_relation_size(schemaname||'.'||tablename))
    FROM pg_tables WHERE schemaname NOT IN ('information_schema', 'pg_catalog') ORDER BY 3 DESC;
    A table over its limit: check its retention cleanup ran (old sensor data), VACUUM to reuse dead
    space, or partition it. Storage over the resize trigger (80%): expand the PostgreSQL volume
    (storage_scaling: postgresql next_resize) before it fills.
    """
    t = postgres_config.thresholds
    tables = database.table_sizes()
    evidence.examined(tables, f"{len(tables)} tables in the database")
    evidence.table({k: v for k, v in r.items() if k != "bytes"} for r in tables[: t.largest_tables])
    offenders = oversized_tables(tables, t)
    by_name = {r["object"]: r["bytes"] for r in tables}
    for rule in profile.data_retention:
        if rule.table in by_name:
            g = growth(rule, *database.recent_rows(rule, 7), by_name[rule.table], 7)
            evidence.note(
                f"growth of {g['object']}: {g['rows_per_day']:g} rows/day, {g['mb_per_day']:g} MB/day (last 7 days)"
            )
    data = database.cluster_data_bytes()
    evidence.note(f"all databases: {data / MB:.1f} MB")
    used = storage_percent(data, t)
    if used is not None:
        evidence.note(
            f"storage: {used:.1f}% of {t.storage_capacity_gb:g} GB, resize trigger {t.storage_resize_trigger_percent:g}%"
        )
        offenders += storage_over_trigger(data, t)
    limit_text = f"{t.table_max_mb:g} MB" if t.table_max_mb is not None else "none"
    evidence.note(
        f"table size limit: {limit_text}"
        + (f", overrides {dict(t.table_max_mb_overrides)}" if t.table_max_mb_overrides else "")
    )
    evidence.expect_none(offenders, "tables or storage over their size limit", table=False)


@check("monthly.db-user-security", severity="high", covers=["002.monthly.user-security"])
def test_db_user_security(postgres_config, database, evidence):
    """Database roles: superusers approved, no unapproved privileged roles, password policy

    SELECT rolname, rolsuper, rolcreaterole, rolreplication, rolbypassrls, rolvaliduntil FROM pg_roles
    WHERE rolname !~ '^pg_';
    An unapproved superuser or privileged role: find who created it and why (the PostgreSQL log,
    the change record); ALTER ROLE <name> NOSUPERUSER (or NOCREATEROLE ...), or DROP ROLE after
    REASSIGN OWNED. Passwords: SET password_encryption = 'scram-sha-256' and have the roles reset
    their passwords; set an expiry: ALTER ROLE <name> VALID UNTIL '<date>'.
    """
    policy = postgres_config.accounts
    table, offenders = role_policy(database.roles(), database.password_encryption(), policy, utc_now())
    evidence.table(table)
    evidence.note(
        f"approved superusers: {', '.join(policy.approved_superusers) or 'none'}; "
        f"approved privileged roles: {', '.join(policy.approved_privileged_roles) or 'none'}; "
        f"password_encryption: {', '.join(policy.password_encryption)}"
        + (f"; password expiry within {policy.password_max_age_days} days" if policy.password_max_age_days else "")
    )
    evidence.expect_none(offenders, "database roles or settings break the account policy", table=False)


@check("monthly.inactive-accounts", severity="medium", covers=["002.security.inactive-accounts"])
def test_inactive_accounts(profile, database, evidence):
    # PostgreSQL does not record when a role last logged in, so database roles cannot show
    # inactivity; the runbook means the application's users (the auth server's accounts),
    # read from its users table with a query from the profile.
    """No enabled account without activity for the inactivity period (90 days)

    Confirm with the account's owner (last login in the auth-server log: login_success), then
    disable the account in the application (oauth2-server user admin), or remove it.
    Service accounts that never log in interactively: exclude them in the query with a reason.
    """
    cfg = configured(
        profile.inactive_accounts, profile.required, "inactive_accounts", "no inactive_accounts query in this profile"
    )
    accounts = database.account_activity(cfg)
    seen, inactive = len(accounts), inactive_accounts(accounts, cfg, utc_now())
    evidence.note(f"{seen} enabled accounts; inactive: no activity for over {cfg.max_inactive_days:g} days")
    evidence.expect_none(inactive, f"enabled accounts inactive for over {cfg.max_inactive_days:g} days")
