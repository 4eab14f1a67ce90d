"""Weekly: database connections, slow queries, statistics and data retention
(SmartSensor 002: alert rules, performance tuning, weekly optimisation script)."""

from opscheck.check import check, component_absent, configured
from opscheck.rules.database import bloated_indexes, past_retention, stale_statistics
from opscheck.timeutil import utc_now


@check("weekly.db-connections", severity="high", covers=["002.perf.db-connections"])
def test_db_connections(postgres_config, database, evidence):
    """Database connections under the share of max_connections (DatabaseConnectionsHigh)

    SELECT datname, usename, application_name, state, count(*) FROM pg_stat_activity GROUP BY 1,2,3,4 ORDER BY 5 DESC;
    Idle connections piling up: close idle sessions older than 10 minutes
      SELECT pg_terminate_backend(pid) FROM pg_stat_activity
      WHERE state = 'idle' AND query_start < now() - interval '10 minutes';
    then fix the client's pool size (HikariCP maximumPoolSize x replicas must stay under
    max_connections) or put PgBouncer in front; raise max_connections only with the memory for it.
    """
    usage = database.connection_usage()
    limit = postgres_config.thresholds.connections_ratio * 100
    evidence.table(usage.per_database)
    evidence.note(f"{usage.backends} backends of max_connections {usage.max_connections}")
    evidence.expect_at_most(
        usage.percent,
        limit,
        unit="%",
        offenders=usage.per_database,
        what=f"database connections ({usage.backends} of max_connections {usage.max_connections})",
    )


@check("weekly.slow-queries", severity="medium", covers=["002.perf.slow-queries"])
def test_slow_queries(profile, postgres_config, database, evidence):
    """No statement's mean execution time over the threshold (pg_stat_statements)

    SELECT query, calls, total_exec_time, mean_exec_time FROM pg_stat_statements
    WHERE mean_exec_time > 100 ORDER BY total_exec_time DESC LIMIT 20;
    EXPLAIN (ANALYZE, BUFFERS) the statement: add the missing index, rewrite the query, or
    ANALYZE stale tables. After the fix, reset the statement's counters so the next run
    measures the new plan: SELECT pg_stat_statements_reset(userid, dbid, queryid).
    """
    reason = database.pg_stat_statements_absent()
    if reason:
        component_absent(profile.required, "pg_stat_statements", reason)
    t = postgres_config.thresholds
    slow = database.slow_queries(t)
    evidence.note(
        f"statements of database {postgres_config.dbname} with mean time over "
        f"{t.slow_query_mean_ms:g} ms and at least {t.slow_query_min_calls} calls; literals masked"
    )
    evidence.expect_none(slow, f"statements with mean time over {t.slow_query_mean_ms:g} ms")


@check("weekly.db-stats", severity="medium", covers=["002.weekly.db-stats"])
def test_db_stats(postgres_config, database, evidence):
    """Planner statistics up to date and B-tree indexes not bloated (weekly ANALYZE / REINDEX)

    ANALYZE <schema>.<table>;   (the weekly optimisation script runs ANALYZE on the whole database)
    A table that goes stale again: tune its autovacuum, as the runbook does for sensor data:
      ALTER TABLE sensors.sensor_data SET (autovacuum_analyze_scale_factor = 0.05, autovacuum_vacuum_scale_factor = 0.1);
    and check that autovacuum is on for it (reloptions in pg_class). A bloated index:
      REINDEX INDEX CONCURRENTLY <schema>.<index>;
    """
    t = postgres_config.thresholds
    tables = database.table_sizes()
    evidence.examined(tables, f"{len(tables)} tables in the database")
    offenders = stale_statistics(database.tables_modified_since_analyze(t.stats_min_modified_rows), t)
    if database.pgstattuple_available():
        offenders += bloated_indexes(database.btree_leaf_density(t.index_bloat_min_mb), t)
    else:
        evidence.note("index bloat not measured: the pgstattuple extension is not installed in this database")
    evidence.note(
        f"stale: at least {t.stats_min_modified_rows} rows modified since the last analyze, and over "
        f"{t.stats_max_modified_ratio:.0%} of the table or analyzed over {t.stats_max_age_days:g} days ago; "
        f"bloated: B-tree of at least {t.index_bloat_min_mb:g} MB with leaf density under "
        f"{t.index_min_leaf_density_percent:g}%"
    )
    evidence.expect_none(offenders, "tables with stale statistics or bloated indexes")


@check("weekly.data-retention", severity="medium", covers=["002.weekly.data-retention"])
def test_data_retention(profile, database, evidence):
    """No rows older than their retention period remain (the weekly cleanup ran)

    The weekly optimisation script (Sunday 02:00) deletes old sensor data; run its step by hand:
      DELETE FROM sensors.sensor_data WHERE timestamp < NOW() - INTERVAL '90 days';
      ANALYZE sensors.sensor_data;
    then find why the job did not run (its CronJob / cron log). For large backlogs delete in
    batches, or partition the table by time and drop old partitions.
    """
    rules = configured(
        profile.data_retention, profile.required, "data_retention", "no data_retention rules in this profile"
    )
    offenders = []
    for rule in rules:
        evidence.note(f"{rule.table}.{rule.column}: retention {rule.days:g} days")
        found = past_retention(rule, *database.rows_older_than(rule), utc_now())
        if found:
            offenders.append(found)
    evidence.expect_none(offenders, "tables keep rows past their retention")
