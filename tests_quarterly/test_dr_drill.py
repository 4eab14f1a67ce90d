"""Quarterly: the DR drill, the whole system restored from its newest backups and timed
(QSIGN 000 분기별 점검 1. 재해 복구 훈련: 전체 시스템 복구 시뮬레이션, RTO/RPO 달성 확인;
001 restore-postgresql.sh, restore-vault-snapshot.sh, disaster-recovery.sh; 002 전체 시스템 복구)."""

from opscheck.check import check
from opscheck.rules.dr_drill import describe_row, drill_problems, step_rows, total_seconds, worst_age_hours
from opscheck.timeutil import utc_now


@check("quarterly.dr-drill", severity="critical", covers=["000.quarterly.dr-drill"])
def test_dr_drill(dr_drill, dr_restore, evidence):
    """DR drill: the database, Vault and the manifests restore from their newest backups within the RTO and RPO

    The drill restores, one after the other as a recovery would:
      database   the newest dump into the restore drill's scratch database, rows counted
                 (by hand: pg_restore -d restore_test --no-owner <dump>);
      vault      the newest backup of OpenBao's storage served by a throwaway `bao server` on the
                 scratch address, unsealed with the key shares, the listed secrets read
                 (by hand: tar -xzf <backup> -C /tmp/bao-restore; bao server -config=<scratch.hcl>;
                 bao operator unseal; bao kv get <path>);
      manifests  every object of the newest manifest backup applied with server-side dry run
                 (by hand: kubectl apply --server-side --dry-run=server -f <backup>).
    A step with no backup: the backup job for it is not running (see the daily backup checks).
    Vault does not start or unseal: the backup was taken from a running server (PebbleDB needs it
    stopped) or with other unseal keys; take a new backup and keep the keys with it.
    A secret missing after the restore: it was written after the backup or the backup is of the
    wrong server. A manifest refused: the backup holds an object this cluster no longer admits
    (removed API version, invalid field, a policy): fix the source manifests and back up again.
    Over the RTO: restore the steps in parallel, from closer storage, or revise the RTO with the
    business. Over the RPO: back up more often. Update the recovery procedure document with
    the times measured here.
    """
    now = utc_now()
    steps = [dr_restore("database"), dr_restore("vault"), dr_restore("manifests")]
    evidence.table(step_rows(steps, now))
    for step in steps:
        if step.rows:
            evidence.note(f"{step.step}: " + ", ".join(describe_row(row) for row in step.rows))
    took, worst = total_seconds(steps), worst_age_hours(steps, now)
    evidence.note(
        f"total {took:.1f} s against the RTO {dr_drill.rto_minutes:g} min; oldest backup "
        f"{'none' if worst is None else f'{worst:.1f} h'} against the RPO {dr_drill.rpo_hours:g} h"
    )
    evidence.record(measured=round(took, 2), threshold=dr_drill.rto_minutes * 60, unit="s")
    problems = drill_problems(steps, now, dr_drill.rto_minutes, dr_drill.rpo_hours)
    if problems:
        evidence.fail(f"DR drill: {'; '.join(problems)}")
