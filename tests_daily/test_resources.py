"""Daily: CPU, memory, disk and volumes (QSIGN 000 §2, §4 and resource-monitor.sh)."""

from opscheck.check import check, configured
from opscheck.rules.objects import present_namespaces
from opscheck.rules.resources import (
    container_usage,
    disk_usage_rows,
    node_usage_percent,
    over_percent,
    over_threshold,
    unbound_claims,
)


def _node_usage(cluster, evidence, resource: str, limit: float, *, what: str) -> None:
    """The busiest node's `resource` usage (metrics.k8s.io, percent of allocatable) is at most `limit`."""
    rows = node_usage_percent(cluster.list("node-metrics"), cluster.list("nodes"), resource)
    evidence.require(rows, "metrics.k8s.io returned no node usage")
    evidence.table(rows)
    evidence.expect_at_most(rows[0]["percent"], limit, what=what, unit="%", offenders=over_threshold(rows, limit))


@check("daily.node-cpu", severity="high", covers=["000.daily.cpu-under-70"])
def test_node_cpu(cluster, profile, evidence):
    """Node CPU usage under the threshold (metrics.k8s.io, as kubectl top nodes)

    kubectl top nodes; kubectl top pods -A --sort-by=cpu
    Find the heavy pods, then scale out (kubectl autoscale deployment ... --cpu-percent=70 --min=2 --max=10)
    or add nodes; check for a runaway process in the top pod.
    """
    _node_usage(cluster, evidence, "cpu", profile.thresholds.cpu_percent, what="highest node CPU usage")


@check("daily.node-memory", severity="high", covers=["000.daily.mem-under-80"])
def test_node_memory(cluster, profile, evidence):
    """Node memory usage under the threshold (metrics.k8s.io, as kubectl top nodes)

    kubectl top nodes; kubectl top pods -A --sort-by=memory
    Raise limits where pods are OOMKilled, scale out with an HPA, or add nodes:
    kubectl set resources deployment -n <namespace> <name> --limits=memory=1Gi
    """
    _node_usage(cluster, evidence, "memory", profile.thresholds.memory_percent, what="highest node memory usage")


@check(
    "daily.pod-resources",
    severity="medium",
    covers=["000.daily.pod-resource-thresholds", "000.daily.cpu-under-70", "000.daily.mem-under-80"],
)
def test_pod_resources(cluster, profile, evidence):
    """Each pod's CPU and memory usage under the thresholds of its limits

    kubectl top pods -n <namespace> --sort-by=cpu   (or --sort-by=memory)
    kubectl top pod -n <namespace> <pod> --containers
    Raise the limit if the load is legitimate, otherwise profile the application;
    scale out: kubectl autoscale deployment -n <namespace> <name> --cpu-percent=70 --min=2 --max=10
    """
    pods = cluster.in_namespaces("pods", profile.namespaces)
    metrics = cluster.in_namespaces("pod-metrics", profile.namespaces)
    t = profile.thresholds
    usage = container_usage(metrics, pods, t.cpu_percent, t.memory_percent)
    evidence.note(f"{usage.containers} containers with a usage sample in {len(usage.namespaces)} namespaces")
    if not usage.judged:
        evidence.fail(f"metrics.k8s.io returned no usage for containers with limits in {', '.join(profile.namespaces)}")
    # a row per namespace (the highest share of a limit, every container over a threshold):
    # a row per container would be 100k rows at 50k pods
    evidence.table(usage.rows())
    evidence.note(f"thresholds: CPU {t.cpu_percent:g}%, memory {t.memory_percent:g}% of limits")
    evidence.expect_none(usage.offenders, "containers over their usage threshold", table=False)


@check("daily.disk-usage", severity="high", covers=["000.daily.disk-under-80"])
def test_disk_usage(prometheus, profile, evidence):
    """Persistent volumes and node filesystems under the disk threshold

    kubectl get pv,pvc -n <namespace>
    kubectl exec -n qsign postgresql-0 -- df -h /var/lib/postgresql/data
    Free space (old WAL, logs, dumps) or expand the PVC (allowVolumeExpansion) before it fills.
    """
    cfg = profile.prometheus
    rows = disk_usage_rows(
        (label, sample)
        for label, query in (("volume", cfg.volume_usage_query), ("filesystem", cfg.filesystem_usage_query))
        if query
        for sample in prometheus.query(query)
    )
    evidence.require(rows, "Prometheus returned no volume or filesystem usage: are kubelet and node-exporter scraped?")
    limit = profile.thresholds.disk_percent
    evidence.table(rows)
    offenders = over_percent(rows, limit)
    evidence.note(f"threshold {limit:g}%")
    evidence.expect_none(offenders, f"volumes or filesystems over {limit:g}% used", table=False)


@check("daily.pvc-bound", severity="high", covers=["000.daily.pvc-bound", "002.daily.storage-80"])
def test_pvc_bound(cluster, profile, evidence):
    """Every PersistentVolumeClaim is Bound

    kubectl get pv,pvc -n <namespace>
    kubectl describe pvc -n <namespace> <name>   # provisioning events
    Pending: no matching PV or StorageClass, or the provisioner is failing; Lost: the PV is gone.
    """
    pvcs = cluster.in_namespaces("persistentvolumeclaims", profile.namespaces)
    present = present_namespaces(cluster.list("namespaces"), profile.namespaces)
    evidence.examined(present, f"monitored namespaces present: {', '.join(present) or 'none'}")
    configured(pvcs, profile.required, "volumes", f"no PersistentVolumeClaim in {', '.join(present)}")
    evidence.note(f"{len(pvcs)} PVCs in {', '.join(present)}")
    evidence.expect_none(unbound_claims(pvcs), "PVCs not Bound")
