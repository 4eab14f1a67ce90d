"""Daily: database dump files on the backup host (SmartSensor 002 PostgreSQL backup script)."""

from datetime import timedelta

from opscheck.check import check
from opscheck.rules.dumps import dump_file_report, hours
from opscheck.timeutil import utc_now


@check("daily.backup-dump-files", severity="critical", covers=["002.backup.dump-files"])
def test_backup_dump_files(profile, dump_files, dump_listings, evidence):
    """The newest database dump is recent and not empty, and none past retention is kept

    ls -lt /backups/postgresql | head    (on the backup host)
    No recent dump: run the backup script by hand and read its output (pg_dump credentials, disk
    space on the backup host, the kubectl exec into postgresql-cluster-0); an empty dump means
    pg_dump failed half-way. Old dumps kept: the cleanup step did not run:
      find /backups/postgresql -name "*.gz" -mtime +30 -delete
    """
    max_age = timedelta(hours=dump_files.max_age_hours or profile.thresholds.backup_max_age_hours)
    rows, problems = dump_file_report(
        dump_listings,
        dump_files.path,
        utc_now(),
        max_age=max_age,
        retention=timedelta(days=dump_files.retention_days),
        min_size=dump_files.min_size_bytes,
    )
    evidence.table(rows)
    evidence.record(
        measured="; ".join(problems) or "ok",
        threshold=f"newest within {hours(max_age)}, at least {dump_files.min_size_bytes} bytes, "
        f"none older than {dump_files.retention_days:g} days",
    )
    if problems:
        evidence.fail("; ".join(problems))
