"""Daily: backups ran and succeeded (QSIGN 000 §4 and 정기 점검 §2)."""

from datetime import timedelta

from opscheck.check import check, configured
from opscheck.rules.backups import backup_problems, describe_hours, run_rows, schedule_problems, schedule_row
from opscheck.rules.objects import find


@check("daily.postgres-backup", severity="critical", covers=["000.daily.pg-backup-done", "003.backup.pg-cronjob"])
def test_postgres_backup(cluster, profile, evidence):
    """The PostgreSQL backup job succeeded within the backup age threshold

    kubectl logs -n qsign cronjob/postgresql-backup | tail -20
    kubectl get jobs -n qsign -l <cronjob selector> --sort-by=.metadata.creationTimestamp
    Fix the cause in the job's log (credentials, storage full), then run it now:
    kubectl create job -n qsign --from=cronjob/postgresql-backup postgresql-backup-manual-$(date +%s)
    Titanium: kubectl get cronjob -n titanium-prod postgres-backup; kubectl logs -n titanium-prod job/<last job>
    (backup-pvc full or unbound? pg_dump cannot reach postgres.titanium-prod.svc.cluster.local?).
    """
    ref = configured(
        profile.backups.postgres_cronjob,
        profile.required,
        "backups",
        "backups.postgres_cronjob is not set in this profile",
    )
    cronjob = find(cluster.list("cronjobs"), ref.namespace, ref.name)
    evidence.require(cronjob, f"CronJob {ref.namespace}/{ref.name} not found")
    jobs = cluster.list("jobs")
    max_age = timedelta(hours=ref.max_age_hours or profile.thresholds.backup_max_age_hours)
    evidence.table(run_rows(ref.namespace, cronjob, jobs))
    problems = backup_problems(cronjob, jobs, max_age)
    evidence.record(measured="; ".join(problems) or "ok", threshold=f"success within {describe_hours(max_age)}")
    if problems:
        evidence.fail(f"backup {ref.namespace}/{ref.name}: {'; '.join(problems)}")


@check("daily.vault-backup", severity="critical", covers=["000.daily.vault-backup-scheduled"])
def test_vault_backup(cluster, profile, evidence):
    """The Vault backup CronJob ran on schedule (lastScheduleTime) and its last job succeeded

    kubectl get cronjob -n qsign vault-backup -o yaml | grep lastScheduleTime
    kubectl get jobs -n qsign --sort-by=.metadata.creationTimestamp | grep vault-backup
    A missed schedule: the CronJob is suspended, the controller was down past
    startingDeadlineSeconds, or concurrencyPolicy blocked it. A failed job: read its pod's log.
    """
    ref = configured(
        profile.backups.vault_cronjob, profile.required, "backups", "backups.vault_cronjob is not set in this profile"
    )
    cronjob = find(cluster.list("cronjobs"), ref.namespace, ref.name)
    evidence.require(cronjob, f"CronJob {ref.namespace}/{ref.name} not found")
    jobs = cluster.list("jobs")
    max_age = timedelta(hours=ref.max_age_hours or profile.thresholds.backup_max_age_hours)
    evidence.table([schedule_row(ref.namespace, cronjob)])
    problems = schedule_problems(cronjob) + backup_problems(cronjob, jobs, max_age)
    evidence.record(
        measured="; ".join(problems) or "ok",
        threshold=f"on schedule, last job succeeded, success within {describe_hours(max_age)}",
    )
    if problems:
        evidence.fail(f"backup {ref.namespace}/{ref.name}: {'; '.join(problems)}")
