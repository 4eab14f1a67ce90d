"""Daily: etcd snapshot backups on the control-plane hosts (multi-cluster 004 etcd 스냅샷
백업: etcd-snapshot.sh saves, verifies and keeps 7 days)."""

from datetime import timedelta

from opscheck.check import check
from opscheck.rules.dumps import hours, snapshot_report
from opscheck.timeutil import utc_now


@check("daily.etcd-snapshot", severity="critical", covers=["004.backup.etcd-snapshot"])
def test_etcd_snapshot(etcd_backups, etcd_snapshots, evidence):
    r"""The newest etcd snapshot on each control-plane host is recent and valid; none kept past retention

    ls -l /var/backups/etcd; ETCDCTL_API=3 etcdctl snapshot status <file> --write-out=table
    Run the backup now (scripts/backup/etcd-snapshot.sh):
    ETCDCTL_API=3 etcdctl snapshot save /var/backups/etcd/etcd-snapshot-$(date +%Y%m%d-%H%M%S).db \
      --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt \
      --cert=/etc/kubernetes/pki/etcd/server.crt --key=/etc/kubernetes/pki/etcd/server.key
    then fix its schedule (cron/systemd timer) and its retention (find /var/backups/etcd -name "etcd-snapshot-*.db" -mtime +7 -delete).
    An invalid snapshot cannot restore the cluster: delete it and take a new one.
    """
    max_age = timedelta(hours=etcd_backups.max_age_hours)
    retention = timedelta(days=etcd_backups.retention_days)
    rows, offenders = snapshot_report(etcd_snapshots, etcd_backups, utc_now(), max_age=max_age, retention=retention)
    evidence.table(rows)
    evidence.note(
        f"newest snapshot within {hours(max_age)}, valid (etcdutl snapshot status); "
        f"retention {etcd_backups.retention_days:g} days"
    )
    evidence.expect_none(offenders, "etcd snapshot problems", table=False)
