"""Daily: the database answers (SmartSensor 002 daily checks)."""

from opscheck.check import check


@check("daily.postgres-select1", severity="critical", covers=["002.daily.postgres-select1"], availability=True)
def test_postgres_select1(postgres, evidence):
    """PostgreSQL accepts a connection and answers SELECT 1

    kubectl get pods -n qsign -l app=postgresql
    kubectl exec -n qsign postgresql-0 -- psql -U qsign -c "SELECT 1;"
    Restart it if it is wedged: kubectl rollout restart statefulset -n qsign postgresql
    Then check the application's connection pool settings (datasource.hikari).
    """
    answer = postgres.select1()
    evidence.table(
        [
            {
                "object": postgres.address,
                "server_version": answer.server_version,
                "answer": answer.value,
                "ms": round(answer.elapsed_ms),
            }
        ]
    )
    evidence.record(measured=answer.value, threshold=1)
    if answer.value != 1:
        evidence.fail(f"SELECT 1 answered {answer.value!r}")
