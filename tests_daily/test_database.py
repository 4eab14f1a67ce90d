"""Daily: the database answers (SmartSensor 002 daily checks)."""
import time

from opscheck.check import check
from opscheck.errors import DependencyError
from opscheck.sources.postgres import describe_error, read_only_connection


@check(
    id="daily.postgres-select1",
    title="PostgreSQL accepts a connection and answers SELECT 1",
    severity="critical",
    covers=["002.daily.postgres-select1"],
    remediation="""\
kubectl get pods -n qsign -l app=postgresql
kubectl exec -n qsign postgresql-0 -- psql -U qsign -c "SELECT 1;"
Restart it if it is wedged: kubectl rollout restart statefulset -n qsign postgresql
Then check the application's connection pool settings (datasource.hikari).""",
)
def test_postgres_select1(postgres_config, evidence):
    # The database's availability is this check's subject: unreachable is a failure.
    start = time.monotonic()
    try:
        with read_only_connection(postgres_config) as conn:
            value = conn.execute("SELECT 1").fetchone()[0]
            version = conn.execute("SHOW server_version").fetchone()[0]
    except DependencyError as exc:
        evidence.fail(str(exc))
    except Exception as exc:  # a query error on a live server
        evidence.fail(describe_error(postgres_config, exc))
    elapsed_ms = (time.monotonic() - start) * 1000
    evidence.table([{"object": f"{postgres_config.host}:{postgres_config.port}/{postgres_config.dbname}",
                     "server_version": version, "answer": value, "ms": round(elapsed_ms)}])
    evidence.record(measured=value, threshold=1)
    if value != 1:
        evidence.fail(f"SELECT 1 answered {value!r}")
