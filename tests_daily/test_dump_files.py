"""Daily: database dump files on the backup host (SmartSensor 002 PostgreSQL backup script)."""
from datetime import timedelta

from opscheck.check import check
from opscheck.rules.dumps import dump_problems, hours
from opscheck.timeutil import utc_now


@check(
    id="daily.backup-dump-files",
    title="The newest database dump is recent and not empty, and none past retention is kept",
    severity="critical",
    covers=["002.backup.dump-files"],
    remediation="""\
ls -lt /backups/postgresql | head    (on the backup host)
No recent dump: run the backup script by hand and read its output (pg_dump credentials, disk
space on the backup host, the kubectl exec into postgresql-cluster-0); an empty dump means
pg_dump failed half-way. Old dumps kept: the cleanup step did not run:
  find /backups/postgresql -name "*.gz" -mtime +30 -delete""",
)
def test_backup_dump_files(profile, dump_files, backup_hosts, evidence):
    now = utc_now()
    max_age = timedelta(hours=dump_files.max_age_hours or profile.thresholds.backup_max_age_hours)
    retention = timedelta(days=dump_files.retention_days)
    problems = []
    for backup_host in backup_hosts:
        name = backup_host.name
        dumps = backup_host.dumps(dump_files.path, dump_files.pattern)
        where = f"{name}:{dump_files.path}"
        if dumps is None:
            problems.append(f"{where}: directory does not exist")
            continue
        evidence.table({**d.row(now), "host": name} for d in reversed(dumps[-10:]))
        problems += [f"{where}: {p}" for p in dump_problems(dumps, now, max_age=max_age, retention=retention,
                                                            min_size=dump_files.min_size_bytes)]
    evidence.record(measured="; ".join(problems) or "ok",
                    threshold=f"newest within {hours(max_age)}, at least {dump_files.min_size_bytes} bytes, "
                              f"none older than {dump_files.retention_days:g} days")
    if problems:
        evidence.fail("; ".join(problems))
