"""Predeploy: an etcd backup exists before a cluster upgrade (multi-cluster 004 업그레이드
사전 체크리스트: etcd 백업 완료)."""

from datetime import timedelta

from opscheck.check import check
from opscheck.rules.dumps import hours, snapshot_report
from opscheck.timeutil import utc_now


@check("predeploy.etcd-backup", severity="critical", covers=["004.upgrade.etcd-backup-done"])
def test_etcd_backup(etcd_backups, etcd_snapshots, evidence):
    """Before an upgrade: a valid etcd snapshot newer than the predeploy threshold on each control-plane host

    Take the snapshot now, right before the upgrade (scripts/backup/etcd-snapshot.sh), verify it
    (ETCDCTL_API=3 etcdctl snapshot status <file> --write-out=table) and copy it off the node;
    do not start the upgrade (kubeadm upgrade apply) without it.
    """
    max_age = timedelta(hours=etcd_backups.predeploy_max_age_hours)
    rows, offenders = snapshot_report(etcd_snapshots, etcd_backups, utc_now(), max_age=max_age, retention=None)
    evidence.table(rows)
    evidence.note(f"a valid snapshot newer than {hours(max_age)} before the upgrade")
    evidence.expect_none(offenders, "control-plane hosts without a fresh etcd backup", table=False)
