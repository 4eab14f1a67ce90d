"""Predeploy: a verified backup exists before the change (QSIGN 001 pre-deployment checklist)."""

from datetime import timedelta

from opscheck.check import check
from opscheck.rules.dumps import hours
from opscheck.timeutil import utc_now


@check("predeploy.backup-verified", severity="critical", covers=["001.predeploy.backup-verified"])
def test_backup_verified(profile, dump_files, backup_hosts, evidence):
    """A recent database dump exists and reads through completely, with data for the key tables

    Do not deploy without a restorable backup. Take one now and verify it:
      kubectl create job -n <namespace> --from=cronjob/postgresql-backup postgresql-backup-predeploy-$(date +%s)
      pg_restore --list <dump> | grep "TABLE DATA"; pg_restore -f /dev/null <dump>
    A dump that does not read through is broken (disk full, pg_dump interrupted): find why in the
    backup job's log before relying on older dumps.
    """
    now = utc_now()
    max_age = timedelta(
        hours=dump_files.verified_max_age_hours or dump_files.max_age_hours or profile.thresholds.backup_max_age_hours
    )
    tables = [t.name for t in profile.restore_drill.tables]
    problems = []
    for backup_host in backup_hosts:
        name = backup_host.name
        dumps = backup_host.dumps(dump_files.path, dump_files.pattern)
        if not dumps:
            problems.append(f"{name}:{dump_files.path}: no dump file")
            continue
        newest = dumps[-1]
        evidence.table([{**newest.row(now), "host": name}])
        if newest.age(now) > max_age:
            problems.append(f"{name}: newest dump {newest.name} is {hours(newest.age(now))} old, over {hours(max_age)}")
            continue
        problems += [
            f"{name}: {p}"
            for p in backup_host.verify(
                newest, dump_files.pg_restore, tables, int(dump_files.verify_timeout_minutes * 60)
            )
        ]
    evidence.record(
        measured="; ".join(problems) or "verified",
        threshold=f"newer than {hours(max_age)}, reads through" + (f", data for {', '.join(tables)}" if tables else ""),
    )
    if problems:
        evidence.fail("; ".join(problems))
