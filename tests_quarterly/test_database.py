"""Quarterly: database index optimisation (QSIGN 000 quarterly performance optimisation)."""

from opscheck.check import check
from opscheck.rules.database import redundant_indexes, unused_indexes


@check("quarterly.db-index", severity="medium", covers=["000.quarterly.db-index"])
def test_db_index(postgres_config, database, evidence):
    """No duplicate or redundant index, no unused index, no large table read mostly by sequential scans

    Duplicate or redundant index: drop the one reported (its twin or the wider index serves the same
    lookups): DROP INDEX CONCURRENTLY <schema>.<index>;
    Unused index: confirm over a full business cycle and on every replica, then drop it.
    Sequential scans on a large table: find the queries (pg_stat_statements, EXPLAIN ANALYZE) and add
    the index they need: CREATE INDEX CONCURRENTLY ... ON <table> (<columns>);
    """
    t = postgres_config.thresholds
    all_indexes = database.indexes()
    evidence.examined(all_indexes, f"{len(all_indexes)} indexes in the database")
    offenders = redundant_indexes(all_indexes)
    offenders += [{**r, "detail": f"unused: {r['detail']}"} for r in unused_indexes(all_indexes, t)]
    offenders += [{**r, "detail": f"mostly sequential: {r['detail']}"} for r in database.heavy_seq_scans(t)]
    evidence.note(
        f"unused: fewer than {t.unused_index_max_scans} scans on tables of at least "
        f"{t.index_min_table_rows} rows; sequential: over {t.seq_scan_max_ratio:.0%} of at least "
        f"{t.seq_scan_min_count} scans"
    )
    evidence.expect_none(offenders, "index problems")
