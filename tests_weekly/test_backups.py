"""Weekly: a backup every day of the week, and the restore drill (SmartSensor 002 backup
verification script, QSIGN 000/001 DR tests, Titanium 003)."""

from datetime import timedelta

from opscheck.check import check, component_absent
from opscheck.rules.backups import daily_history
from opscheck.rules.dumps import history_report, hours
from opscheck.rules.objects import find
from opscheck.timeutil import utc_now


@check("weekly.backup-job-history", severity="high", covers=["003.weekly.db-backup"])
def test_backup_job_history(cluster, profile, evidence):
    """The backup CronJob ran and succeeded for every scheduled day of the last week

    kubectl get jobs -n <namespace> --sort-by=.metadata.creationTimestamp | grep postgres-backup
    kubectl get cronjob -n <namespace> postgres-backup -o yaml   # schedule, suspend, successfulJobsHistoryLimit
    For a failed day: kubectl logs -n <namespace> job/<job> (credentials, backup-pvc full, database unreachable).
    For a day with no Job: the CronJob was suspended, the controller was down past startingDeadlineSeconds,
    or concurrencyPolicy Forbid skipped it behind a hung run. Keep a week of history
    (successfulJobsHistoryLimit >= 7) so the week can be read. Take a backup now:
    kubectl create job -n <namespace> --from=cronjob/postgres-backup postgres-backup-manual-$(date +%s)
    """
    ref = profile.backups.postgres_cronjob
    if ref is None or ref.history_days is None:
        component_absent(profile.required, "backups", "no backups.postgres_cronjob.history_days in this profile")
    cronjob = find(cluster.list("cronjobs"), ref.namespace, ref.name)
    evidence.require(cronjob, f"CronJob {ref.namespace}/{ref.name} not found")
    rows, offenders = daily_history(cronjob, cluster.list("jobs"), utc_now(), ref.history_days)
    evidence.table(rows)
    evidence.note(
        f"schedule {cronjob['spec']['schedule']!r}: a successful Job for each fire of the last {ref.history_days} days"
    )
    evidence.expect_none(offenders, f"backup runs missing or failed over {ref.history_days} days", table=False)


@check("weekly.db-backup-history", severity="high", covers=["003.weekly.db-backup"])
def test_db_backup_history(profile, dump_files, dump_listings, evidence):
    """A database dump for every day of the last week (no gap over the backup age threshold)

    List the week's dumps on the backup host: ls -lt /backups | head -10
    For each missing day read that night's backup job: kubectl get jobs -n <namespace> | grep postgres-backup;
    kubectl logs job/<job>. Usual causes: the job failed (credentials, disk full on backup-pvc), the
    CronJob was suspended, or the controller missed the schedule. Take a backup now:
    kubectl create job -n <namespace> --from=cronjob/postgres-backup postgres-backup-manual-$(date +%s)
    """
    max_gap = timedelta(hours=dump_files.max_age_hours or profile.thresholds.backup_max_age_hours)
    missing = [listing.host for listing in dump_listings if listing.dumps is None]
    if missing:
        evidence.fail(f"{missing[0]}:{dump_files.path}: directory does not exist")
    rows, offenders = history_report(
        dump_listings, utc_now(), days=dump_files.history_days, max_gap=max_gap, min_size=dump_files.min_size_bytes
    )
    evidence.table(rows)
    evidence.note(f"a non-empty dump at least every {hours(max_gap)} over the last {dump_files.history_days} days")
    evidence.expect_none(offenders, "gaps in the daily backups", table=False)


@check(
    "weekly.restore-drill",
    severity="critical",
    covers=[
        "002.weekly.backup-restore-verify",
        "000.monthly.dr-restore-test",
        "001.monthly.backup-restore-test",
        "003.monthly.dr-test",
    ],
    also=["monthly"],
)
def test_restore_drill(restore_drill, drill, dump_files, backup_hosts, evidence):
    """Restore drill: the newest dump restores into a scratch database, with rows, within RTO and RPO

    Restore by hand to see the whole error:
      pg_restore --list <dump> | head; createdb restore_test; pg_restore -d restore_test --no-owner <dump>
    A dump that does not restore: the backup job produced a broken file (disk full, pg_dump killed):
    fix the job, take a new backup now, and keep the last good dump until one restores.
    Too few rows: the dump was taken from the wrong database or before the data arrived.
    Over the RTO: restore with parallel jobs (pg_restore -j), from closer storage, or revise the RTO.
    Over the RPO: backups are not running often enough (see the backup checks).
    """
    backup_host = backup_hosts[0]
    name = backup_host.name
    dumps = backup_host.dumps(dump_files.path, dump_files.pattern)
    evidence.require(dumps, f"{name}:{dump_files.path}: no dump file to restore")
    result = drill(backup_host, dumps[-1])
    cfg = restore_drill.connection
    evidence.table(result.counts)
    evidence.note(
        f"restored {name}:{result.dump.path} ({result.dump.size} bytes, modified "
        f"{result.dump.mtime:%Y-%m-%d %H:%M:%S}Z) into {cfg.user}@{cfg.host}:{cfg.port}/{cfg.dbname}, "
        "emptied again afterwards"
    )
    if result.skipped_entries:
        evidence.note(f"not restored (superuser only): {', '.join(result.skipped_entries)}")
    evidence.note(
        f"RTO {restore_drill.rto_minutes:g} min, RPO {restore_drill.rpo_hours:g} h, "
        f"dump age {hours(result.dump.age(utc_now()))}"
    )
    evidence.record(measured=round(result.seconds, 2), threshold=restore_drill.rto_minutes * 60, unit="s")
    if result.problems:
        evidence.fail(f"restore drill of {result.dump.name}: {'; '.join(result.problems)}")
    evidence.note(f"restore and verification took {result.duration}")
