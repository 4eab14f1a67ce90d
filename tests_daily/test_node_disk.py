"""Daily: node filesystems, read with df on the nodes (multi-cluster 004 디스크 용량 부족,
SmartSensor 002 저장소 사용량 확인)."""

from opscheck.check import check
from opscheck.rules.hosts import filesystems_over, hosts_without_filesystems


@check("daily.node-disk", severity="high", covers=["004.emergency.node-disk", "002.daily.storage-80"])
def test_node_disk(node_disk, node_filesystems, profile, evidence):
    """Node filesystems (the node's own and the image filesystem) under the disk threshold (df on each node)

    df -h on the node (multipass exec <node> -- df -h; or ssh); find what grew: du -xh --max-depth=1 <mount> | sort -h
    Image filesystem: remove unused images (crictl rmi --prune; the kubelet's image GC starts at
    --image-gc-high-threshold); logs: journalctl --vacuum-size=500M, old container logs;
    then grow the disk if the workload needs it. disk_space_low (002): clean old logs and temp files
    (find /var/log -name "*.log" -mtime +7 -delete).
    """
    limit = profile.thresholds.disk_percent
    rows, offenders, notes = filesystems_over(node_filesystems, limit)
    for note in notes:
        evidence.note(note)
    empty = hosts_without_filesystems(node_filesystems)
    if empty:
        evidence.fail(f"none of {', '.join(node_disk.paths_on(empty[0]))} exists on {empty[0]}")
    evidence.table(rows)
    evidence.note(f"threshold {limit:g}% (df Use%)")
    evidence.expect_none(offenders, f"node filesystems over {limit:g}% used", table=False)
