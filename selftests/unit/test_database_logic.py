"""Unit tests of the database and backup checks' rules (no database, no host)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import yaml

from opscheck.errors import ProfileError
from opscheck.profile import PostgresConfig, PostgresThresholds, load_profile
from opscheck.profile.database import single_select
from opscheck.rules.database import redundant_indexes, unused_indexes
from opscheck.rules.dr_drill import drill_problems, step_rows
from opscheck.rules.dumps import dump_problems, history_gaps
from opscheck.sources.database import redact_sql
from opscheck.sources.dr_drill import StepResult, restorable
from opscheck.sources.dumps import DumpFile, archive_tables
from opscheck.sources.restore_drill import MARKER, ScratchFacts, scratch_verdict
from selftests.pluginsuite import KUBECONFIG

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def index(
    name,
    keys,
    *,
    table=1,
    oid=None,
    unique=False,
    primary=False,
    method="btree",
    exprs=None,
    pred=None,
    nkeys=None,
    scans=500,
    rows=50000,
    constraint=False,
):
    return {
        "schema": "s",
        "table_name": f"t{table}",
        "index_name": name,
        "indexrelid": oid or hash(name) % 10000,
        "indrelid": table,
        "indisunique": unique,
        "indisprimary": primary,
        "indisexclusion": False,
        "keys": keys,
        "nkeys": nkeys if nkeys is not None else len(keys),
        "opclasses": [1] * len(keys),
        "collations": [0] * len(keys),
        "method": method,
        "exprs": exprs,
        "pred": pred,
        "idx_scan": scans,
        "bytes": 1 << 20,
        "table_rows": rows,
        "backs_constraint": constraint or primary,
    }


def test_duplicate_index_reports_the_newer_one_and_never_the_constraint():
    found = redundant_indexes([index("a_ts", [2], oid=10), index("a_ts_copy", [2], oid=20)])
    assert [(r["object"], r["detail"]) for r in found] == [("s.a_ts_copy", "duplicate of s.a_ts")]
    found = redundant_indexes([index("pk", [1], oid=30, primary=True, unique=True), index("plain", [1], oid=10)])
    assert [(r["object"], r["detail"]) for r in found] == [("s.plain", "duplicate of s.pk")]


def test_prefix_index_is_redundant_unless_unique_partial_or_covering():
    wide = index("a_b", [1, 2], oid=10)
    assert [r["object"] for r in redundant_indexes([index("a", [1], oid=20), wide])] == ["s.a"]
    assert redundant_indexes([index("a", [1], oid=20, unique=True, constraint=True), wide]) == []
    assert redundant_indexes([index("a", [1], oid=20, pred="(x > 0)"), wide]) == []
    assert redundant_indexes([index("a", [1, 3], nkeys=1, oid=20), wide]) == []  # INCLUDE (3)
    assert redundant_indexes([index("b", [2], oid=20), wide]) == []  # not a leading prefix
    assert redundant_indexes([index("a", [1], oid=20, table=2), wide]) == []  # another table
    assert redundant_indexes([index("a", [1], oid=20, method="hash"), wide]) == []


def test_unused_indexes_skip_constraints_and_small_tables():
    t = PostgresThresholds()
    rows = [
        index("used", [1], scans=100),
        index("unused", [2], scans=3),
        index("pk", [3], primary=True, scans=0),
        index("small", [4], scans=0, rows=500),
    ]
    assert [r["object"] for r in unused_indexes(rows, t)] == ["s.unused"]


def dump(hours_ago: float, size: int = 1000) -> DumpFile:
    return DumpFile(f"/b/d-{hours_ago}.dump", NOW - timedelta(hours=hours_ago), size)


def test_dump_problems():
    rules = {"max_age": timedelta(hours=26), "retention": timedelta(days=30), "min_size": 1}
    assert dump_problems([dump(24 * 2), dump(1)], NOW, **rules) == []
    assert dump_problems([], NOW, **rules) == ["no dump file found"]
    assert dump_problems([dump(30)], NOW, **rules) == ["newest dump d-30.dump is 30.0 h old, over 26.0 h"]
    assert dump_problems([dump(1, size=0)], NOW, **rules) == ["newest dump d-1.dump is 0 bytes, under 1 bytes"]
    assert dump_problems([dump(24 * 31), dump(1)], NOW, **rules) == [
        "1 dumps older than the 30-day retention kept: d-744.dump (31 days)"
    ]


def test_history_gaps_find_the_missed_day_and_ignore_empty_dumps():
    daily = [dump(h) for h in (7, 31, 55, 79, 103, 127, 151, 175)]
    assert history_gaps(daily, NOW, days=7, max_gap=timedelta(hours=26), min_size=1) == []
    missed = [d for d in daily if d.mtime != NOW - timedelta(hours=79)]
    gaps = history_gaps(missed, NOW, days=7, max_gap=timedelta(hours=26), min_size=1)
    assert gaps == [
        {"object": "2026-11-18 02:00Z .. 2026-11-20 02:00Z", "detail": "48.0 h without a dump, over 26.0 h"}
    ]
    empty = [dump(79, size=0) if d.mtime == NOW - timedelta(hours=79) else d for d in daily]
    assert len(history_gaps(empty, NOW, days=7, max_gap=timedelta(hours=26), min_size=1)) == 1
    # No history before the window: the days without a dump are a gap too.
    assert history_gaps([dump(7)], NOW, days=7, max_gap=timedelta(hours=26), min_size=1)[0]["detail"].startswith(
        "161.0 h"
    )


def test_archive_tables_reads_table_data_entries():
    toc = (
        "; Archive created at ...\n"
        "218; 1259 16419 TABLE public signatures qsign\n"
        "3359; 0 16419 TABLE DATA public signatures qsign\n"
        "3360; 0 16500 TABLE DATA sensors sensor_data qsign\n"
    )
    assert archive_tables(toc) == {"public.signatures", "sensors.sensor_data"}


def test_redact_sql_masks_literals_such_as_passwords():
    assert redact_sql("ALTER ROLE app PASSWORD 'hunter2'") == "ALTER ROLE app PASSWORD '***'"
    assert redact_sql("SELECT $tag$secret$tag$, E'it''s', $1") == "SELECT $$***$$, '***', $1"
    assert redact_sql("SELECT  1\n  FROM t") == "SELECT 1 FROM t"
    assert len(redact_sql("SELECT " + "x, " * 200, limit=40)) == 40


@pytest.fixture
def demo(tmp_path):
    from selftests.harness import DEMO_PROFILE

    # A kubeconfig of its own: the profile rules are judged without a test environment.
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)

    def write(change):
        data = yaml.safe_load(DEMO_PROFILE.read_text())
        for cluster in data["clusters"]:
            cluster.update(kubeconfig=str(kubeconfig), context="ctx")
        data.get("postgres", {}).pop("passfile", None)
        change(data)
        path = tmp_path / "p.yaml"
        path.write_text(yaml.safe_dump(data))
        return path

    return write


def test_restore_drill_profile_rules(demo):
    def same_db(d):
        d["restore_drill"]["connection"]["dbname"] = d["postgres"]["dbname"]

    with pytest.raises(ProfileError, match="restore_drill.connection.dbname: 'qsign' is the monitored database"):
        load_profile(demo(same_db))
    with pytest.raises(ProfileError, match="restore_drill: enabled: list the tables to verify"):
        load_profile(demo(lambda d: d["restore_drill"].update(tables=[])))
    with pytest.raises(ProfileError, match="restore_drill: enabled without database_backups"):
        load_profile(demo(lambda d: d.pop("database_backups")))
    with pytest.raises(ProfileError, match=r"data_retention\[0\].table: String should match pattern"):
        load_profile(demo(lambda d: d["data_retention"][0].update(table="sensor_data; DROP TABLE x")))
    with pytest.raises(ProfileError, match=r"data_quality\[0\]: give max and/or min bounds"):
        load_profile(demo(lambda d: d["data_quality"][0].update(max={}, min={})))
    assert (
        load_profile(
            demo(lambda d: (d["restore_drill"].update(enabled=False, tables=[]), d["dr_drill"].update(enabled=False)))
        ).restore_drill.enabled
        is False
    )


def test_dr_drill_profile_rules(demo):
    def monitored_vault(d):
        d["dr_drill"]["vault"]["scratch_address"] = d["vault"]["address"]

    with pytest.raises(ProfileError, match="dr_drill.vault.scratch_address: http://127.0.0.1:18200 is the monitored"):
        load_profile(demo(monitored_vault))
    with pytest.raises(ProfileError, match="dr_drill: enabled without restore_drill"):
        load_profile(demo(lambda d: d["restore_drill"].update(enabled=False)))
    with pytest.raises(ProfileError, match="dr_drill: enabled: give both vault"):
        load_profile(demo(lambda d: d["dr_drill"].pop("manifests")))
    with pytest.raises(ProfileError, match=r"dr_drill.vault.scratch_address: String should match pattern"):
        load_profile(demo(lambda d: d["dr_drill"]["vault"].update(scratch_address="http://vault.example:8200")))


def test_dr_drill_judgment():
    now = datetime(2026, 1, 10, 12, tzinfo=UTC)
    fresh = DumpFile("/b/openbao-1.tar.gz", now - timedelta(hours=2), 10)
    stale = DumpFile("/b/qsign-1.dump", now - timedelta(hours=30), 10)
    steps = [
        StepResult("database", "dump", stale, 100.0),
        StepResult("vault", "storage", fresh, 50.0, ["secret secret/data/qsign/database missing after the restore"]),
        StepResult("manifests", "objects", None, 0.0, ["no backup (*.yaml) in backup:/b"]),
    ]
    assert [r["result"] for r in step_rows(steps, now)][0] == "ok"
    assert step_rows(steps, now)[2]["backup"] == "none"
    assert drill_problems(steps, now, rto_minutes=2, rpo_hours=26) == [
        "vault: secret secret/data/qsign/database missing after the restore",
        "manifests: no backup (*.yaml) in backup:/b",
        "the drill took 150.0 s, over the RTO 2 min (120 s)",
        "database: backup qsign-1.dump is 30.0 h old, over the RPO 26 h",
    ]
    assert drill_problems(steps[:1], now, rto_minutes=3, rpo_hours=31) == []


@pytest.mark.parametrize(
    ("query", "refusal"),
    [
        ("BEGIN READ WRITE; INSERT INTO t VALUES (1); COMMIT", "holds several statements"),
        ("SET default_transaction_read_only=off; COMMIT; DELETE FROM t", "holds several statements"),
        ("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE", "must be one read-only SELECT, not SET"),
        ("WITH x AS (INSERT INTO t VALUES (1) RETURNING *) SELECT count(*) FROM x", r"writes \(INSERT\)"),
        ("WITH x AS (DELETE FROM t RETURNING *) SELECT 1 AS n", r"writes \(DELETE\)"),
        ("SELECT 1 AS n; DROP TABLE t", "holds several statements"),
        ("COPY (SELECT 1) TO PROGRAM 'id'", "not COPY"),
        ("SELECT * INTO t2 FROM t", "SELECT INTO creates a table"),
        ("  ", "empty query"),
    ],
)
def test_profile_sql_must_be_one_select(demo, query, refusal):
    with pytest.raises(ProfileError, match=rf"data_quality\[0\].query: .*{refusal}"):
        load_profile(demo(lambda d: d["data_quality"][0].update(query=query)))
    with pytest.raises(ProfileError, match=rf"inactive_accounts.query: .*{refusal}"):
        load_profile(demo(lambda d: d["inactive_accounts"].update(query=query)))


@pytest.mark.parametrize(
    "query",
    [
        "SELECT 1 AS n;",
        "select ';' AS semicolon_in_a_literal, $$;$$ AS dollar, $q$;$q$ AS tagged -- a comment; here\n",
        '(SELECT "update; x" FROM t)',
        "WITH a AS (SELECT 1 AS n) SELECT n FROM a /* ; */",
        "VALUES (1)",
    ],
)
def test_profile_sql_single_selects_are_accepted(query):
    assert single_select(query) == query


def scratch(objects=(), comment=None, owner="drill", role="drill", superuser=False):
    return ScratchFacts("scratch", "db:5432", owner, role, superuser, comment, list(objects))


DRILL_CFG = PostgresConfig(host="db", port=5432, dbname="scratch", user="drill", sslmode="disable")
MONITORED = PostgresConfig(host="db", port=5432, dbname="app", user="opscheck", sslmode="disable")
MARKED_IDLE = f"{MARKER} {'a' * 32}; state=idle; 2026-12-05T08:00:00Z"
MARKED_RESTORING = f"{MARKER} {'a' * 32}; state=restoring; 2026-12-05T08:00:00Z"
APP_TABLE = ("table", "public.accounts", "app_owner")


def test_scratch_database_is_claimed_only_when_empty_and_owned_by_the_drill_role():
    assert scratch_verdict(scratch(), MONITORED, DRILL_CFG) == "claim"
    assert scratch_verdict(scratch(comment=MARKED_IDLE), MONITORED, DRILL_CFG) is None
    # An interrupted drill left its own restored tables: they may go.
    restored = [("table", "public.signatures", "drill"), ("schema", "sensors", "drill")]
    assert scratch_verdict(scratch(restored, MARKED_RESTORING), MONITORED, DRILL_CFG) is None


@pytest.mark.parametrize(
    ("facts", "refusal"),
    [
        # The case: an application database its non-superuser owner points the drill at.
        (
            scratch([("table", "public.accounts", "drill")], owner="drill"),
            r"database scratch on db:5432 is not the drill's scratch database \(no opscheck marker\) and holds "
            r"1 objects \(table public.accounts\); refusing to empty it",
        ),
        (scratch(owner="app_owner"), "is owned by app_owner, not by the drill role drill; .*refusing to empty it"),
        (scratch(superuser=True), "role drill is a superuser"),
        (scratch([APP_TABLE], MARKED_RESTORING), r"holds objects of other roles \(table public.accounts\)"),
        (
            scratch([("table", "public.t", "drill")], MARKED_IDLE),
            r"holds 1 objects the drill did not restore \(table public.t\)",
        ),
        (scratch(comment="opscheck restore-drill scratch database forged"), None),
    ],
)
def test_restore_drill_refuses_what_it_cannot_prove_is_its_scratch_database(facts, refusal):
    if refusal is None:  # a malformed marker is no marker: empty, so claimable again
        assert scratch_verdict(facts, MONITORED, DRILL_CFG) == "claim"
        return
    with pytest.raises(ProfileError, match=rf"^restore_drill.connection: .*{refusal}"):
        scratch_verdict(facts, MONITORED, DRILL_CFG)


def test_restore_drill_refuses_the_monitored_database():
    same = PostgresConfig(host="db", port=5432, dbname="scratch", user="opscheck", sslmode="disable")
    with pytest.raises(ProfileError, match="is the monitored database"):
        scratch_verdict(scratch(comment=MARKED_IDLE), same, DRILL_CFG)


def test_a_restored_manifest_leaves_out_what_the_api_server_assigns():
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "api", "namespace": "qsign", "uid": "u", "resourceVersion": "7", "labels": {"a": "b"}},
        "spec": {"clusterIP": "10.0.0.103", "clusterIPs": ["10.0.0.103"], "ports": [{"port": 80}]},
        "status": {"loadBalancer": {}},
    }
    assert restorable(service) == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "api", "namespace": "qsign", "labels": {"a": "b"}},
        "spec": {"ports": [{"port": 80}]},
    }
    headless = {"kind": "Service", "metadata": {"name": "db"}, "spec": {"clusterIP": "None"}}
    assert restorable(headless)["spec"] == {"clusterIP": "None"}
    assert service["spec"]["clusterIP"] == "10.0.0.103"  # the backup's object is left as it was
