"""Monthly: the Kubernetes platform (QSIGN 000/001 versions, patches and cost, SmartSensor 002
HPA and Velero schedule, Titanium 003 versions and unused resources, multi-cluster 004
Velero schedule and Released volumes)."""

from datetime import UTC, datetime, timedelta

from opscheck.check import check, component_absent, configured
from opscheck.rules.availability import describe_bounds, hpa_configured_findings
from opscheck.rules.housekeeping import USER_KINDS, over_provisioned, released_volumes, request_usage, unused
from opscheck.rules.image_scans import image_patch_findings, no_scan_source, running_images
from opscheck.rules.objects import in_namespace
from opscheck.rules.platform import velero_schedule_findings
from opscheck.rules.versions import (
    below_minimum,
    kubelet_skew_problems,
    kubelets,
    minors_between,
    node_patch_problems,
    parse_version,
)
from opscheck.timeutil import utc_now


@check("monthly.velero-schedules", severity="high", covers=["002.backup.velero-schedule", "004.backup.velero-schedule"])
def test_velero_schedules(cluster, profile, evidence):
    """The agreed Velero Schedules exist with their cron, TTL and namespaces, are not paused, and backed up at their
    last run

    velero schedule get; velero schedule describe <schedule>; kubectl -n velero get schedule <schedule> -o yaml
    Missing or different: re-apply the agreed manifest (velero-schedule.yaml: schedule "0 2 * * *", template.ttl,
    includedNamespaces), e.g. kubectl apply -f velero-schedule.yaml.
    Paused: velero schedule unpause <schedule>. FailedValidation: the describe output names the invalid field.
    No backup at the last run: Velero is down or cannot reach its storage (kubectl -n velero logs deploy/velero;
    velero backup-location get); take one now: velero backup create --from-schedule <schedule> --wait
    """
    cfg = profile.platform.velero
    schedules = cluster.list_served("velero-schedules")
    if schedules is None:
        component_absent(profile.required, "velero", f"no Velero Schedule CRD in cluster {cluster.name}")
    schedules = in_namespace(schedules, cfg.namespace)
    if not schedules and not cfg.schedules:
        evidence.fail(f"no Velero Schedule in namespace {cfg.namespace}: backups are not scheduled")
    rows, offenders = velero_schedule_findings(
        schedules,
        {s.name: s for s in cfg.schedules},
        cfg.namespace,
        datetime.now(UTC),
        timedelta(minutes=cfg.schedule_grace_minutes),
    )
    evidence.table(rows)
    evidence.expect_none(offenders, "Velero Schedules not as agreed", table=False)


@check("monthly.k8s-version", severity="medium", covers=["000.monthly.k8s-version", "003.monthly.k8s-version"])
def test_k8s_version(kube_versions, profile, evidence):
    """The API server and every kubelet run a supported Kubernetes version, within the kubelet skew

    kubectl version; kubectl get nodes -o wide
    Plan the upgrade (runbook 004 §4.1): one minor version at a time, control plane first
    (kubeadm upgrade plan; kubeadm upgrade apply v<version>), then each node (kubectl drain <node> --ignore-daemonsets;
    kubeadm upgrade node; upgrade kubelet and kubectl; kubectl uncordon <node>). Take an etcd snapshot first and check
    the PodDisruptionBudgets.
    """
    cfg = profile.platform.kubernetes
    server_text, server, nodes = kube_versions()
    evidence.table(nodes)
    offenders = below_minimum(nodes, server_text, cfg.min_version) if cfg.min_version else []
    offenders += kubelet_skew_problems(server, nodes, cfg.max_kubelet_skew)
    evidence.note(
        f"API server {server_text}"
        + (
            f"; supported minimum {cfg.min_version}"
            if cfg.min_version
            else "; no platform.kubernetes.min_version in the profile"
        )
    )
    if cfg.latest_version:
        behind = minors_between(parse_version(cfg.latest_version), server)
        evidence.note(f"{max(behind, 0)} minor version(s) behind the latest release {cfg.latest_version}")
    evidence.expect_none(offenders, "Kubernetes versions out of the supported window", table=False)


@check("monthly.security-patches", severity="high", covers=["001.monthly.security-patches"])
def test_security_patches(cluster, profile, image_scans, evidence):
    """Every node's kubelet, kernel, OS release and container runtime are at the agreed patch levels; every running image is within the patch window, on a supported OS, with upstream fixes applied

    kubectl get nodes -o wide   # KERNEL-VERSION, OS-IMAGE, CONTAINER-RUNTIME
    Patch one node at a time: kubectl drain <node> --ignore-daemonsets --delete-emptydir-data; apt-get update &&
    apt-get upgrade (kernel, containerd), upgrade kubelet to the patch release; reboot; kubectl uncordon <node>.
    Images: trivy image <image> (Metadata.ImageConfig.created: when it was built; Metadata.OS.EOSL: an
    end-of-life base; FixedVersion: fixed upstream). Rebuild on a current, supported base image with the
    fixed packages (docker build --pull --no-cache), push, roll the workload out, scan again.
    No scan report: trivy image --format json --output <report> <image> into the report directory.
    """
    patches = profile.platform.node_patches
    if not patches.configured:
        component_absent(profile.required, "node-patches", "no platform.node_patches in this profile")
    nodes = kubelets(cluster.list("nodes"))
    evidence.examined(nodes, f"{len(nodes)} nodes")
    evidence.table(nodes)
    offenders = node_patch_problems(nodes, patches)
    if patches.image_max_age_days is None:
        evidence.note("nodes only: no platform.node_patches.image_max_age_days (the images' patch window)")
    else:
        scans = profile.security.vulnerability_scans
        results, sources, notes = image_scans
        evidence.require(sources, f"images: {no_scan_source(cluster.name)}")
        namespaces = profile.namespaces if scans.namespaces is None else scans.namespaces
        images = running_images(cluster.in_namespaces("pods", namespaces))
        evidence.examined(images, f"{len(images)} running images in {', '.join(namespaces)}")
        rows, image_offenders = image_patch_findings(
            images, results, patches.image_max_age_days, scans.severities, scans.accepted, utc_now()
        )
        evidence.table(rows)
        for line in sources + notes:
            evidence.note(line)
        unknown = [row["object"] for row in rows if row["built"] == "unknown"]
        if unknown:
            evidence.note(f"build time not in the report (trivy-operator states none): {', '.join(unknown)}")
        offenders += image_offenders
    evidence.expect_none(offenders, "nodes or images below the agreed patch levels", table=False)


@check("monthly.hpa-configured", severity="medium", covers=["002.perf.hpa-configured"])
def test_hpa_configured(cluster, profile, evidence):
    """Each critical workload has an HPA with the agreed min/max replicas and CPU/memory targets

    kubectl get hpa -n <namespace> <hpa> -o yaml
    Apply the agreed HPA (runbook 002 api-server-hpa.yaml: minReplicas 3, maxReplicas 20, cpu averageUtilization 70,
    memory averageUtilization 80, the scaleUp/scaleDown behavior): kubectl apply -f api-server-hpa.yaml
    or edit it: kubectl edit hpa -n <namespace> <hpa>
    """
    cfg = profile.platform.autoscaling
    if not cfg.workloads:
        component_absent(profile.required, "hpa", "no platform.autoscaling.workloads in this profile")
    rows, offenders = hpa_configured_findings(cfg.workloads, cluster.list("horizontalpodautoscalers"), cfg.bounds)
    evidence.table(rows)
    evidence.note(f"agreed: {describe_bounds(cfg.bounds)}")
    evidence.expect_none(offenders, "workloads without the agreed HPA", table=False)


@check("monthly.pv-released", severity="low", covers=["004.troubleshoot.pv-released"])
def test_pv_released(cluster, evidence):
    """No PersistentVolume is Released or Failed (a volume left behind by a deleted claim)

    kubectl get pv | grep -E 'Released|Failed'; kubectl describe pv <pv>
    A Released volume (reclaim policy Retain) keeps its data and its disk: back up what is needed, then delete it
    (kubectl delete pv <pv>, and the disk at the storage provider), or make it bindable again by removing
    spec.claimRef (kubectl patch pv <pv> --type json -p '[{"op":"remove","path":"/spec/claimRef"}]').
    Failed: the automatic reclaim (Delete/Recycle) failed: read the PV's events.
    """
    pvs = cluster.list("persistentvolumes")
    evidence.examined(pvs, f"{len(pvs)} PersistentVolumes")
    evidence.expect_none(released_volumes(pvs), "PersistentVolumes Released or Failed")


@check("monthly.unused-resources", severity="low", covers=["003.monthly.unused-resources"])
def test_unused_resources(cluster, profile, evidence):
    """No PVC mounted by no pod, and no ConfigMap or Secret referenced by nothing, in the monitored namespaces

    kubectl get pvc,configmap,secret -n <namespace>; for a PVC: kubectl describe pvc -n <namespace> <pvc> (Used By)
    Confirm nothing needs it (a CronJob between runs, a StatefulSet scaled down that will come back, an external
    consumer), back up what matters, then delete it: kubectl delete pvc|configmap|secret -n <namespace> <name>.
    Kept on purpose: list it under platform.unused_resources.ignore in the profile.
    """
    cfg = profile.platform.unused_resources
    ns = profile.namespaces
    users = [o for kind in USER_KINDS for o in cluster.in_namespaces(kind, ns)]
    evidence.examined(users, f"{len(users)} pods and workloads that could use them in {', '.join(ns)}")
    rows = unused(
        cluster.in_namespaces("persistentvolumeclaims", ns),
        cluster.in_namespaces("configmaps", ns),
        cluster.in_namespaces("secrets", ns) if "secrets" in cfg.kinds else [],
        users,
        cluster.in_namespaces("ingresses", ns),
        cfg.kinds,
        cfg.ignore,
    )
    evidence.note(
        f"{', '.join(cfg.kinds)} in {', '.join(ns)}; references from pods, workload templates and Ingress TLS"
    )
    evidence.expect_none(rows, "unused resources")


@check("monthly.cost-review", severity="low", covers=["001.monthly.cost-review"])
def test_cost_review(cluster, profile, evidence):
    """No workload uses less than the agreed share of the CPU or memory it requests (over-provisioning)

    kubectl top pods -n <namespace>; compare with the requests: kubectl get deploy,sts -n <namespace> -o yaml | grep -A3 requests
    Lower the requests towards the observed peak plus headroom (kubectl set resources deployment -n <namespace> <name>
    --requests=cpu=...,memory=...), or let a VPA recommend them (updateMode: "Off"); fewer, fuller nodes cost less.
    """
    cfg = profile.platform.cost
    pods = cluster.in_namespaces("pods", profile.namespaces)
    metrics = cluster.in_namespaces("pod-metrics", profile.namespaces)
    table, offenders = over_provisioned(
        request_usage(pods, metrics),
        cfg.min_usage_percent,
        cfg.min_request_cpu_millicores,
        cfg.min_request_memory_mib,
        cfg.ignore,
    )
    evidence.table(table)
    evidence.note(
        f"usage now (metrics-server) must be at least {cfg.min_usage_percent:g}% of the requests; requests under {cfg.min_request_cpu_millicores:g}m CPU or "
        f"{cfg.min_request_memory_mib:g}Mi memory per pod are left out"
    )
    configured(table, profile.required, "cost", f"no running pod with metrics in {', '.join(profile.namespaces)}")
    evidence.expect_none(offenders, "workloads over-provisioned", table=False)
