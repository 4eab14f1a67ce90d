"""Fault injection on the platform checks: Velero, External Secrets, Argo CD, the CNI,
versions, node patches, Helm, PDBs, HPAs, volumes, unused resources, cost, single points
of failure. Each fault goes through the real API server (and, where one runs, its real
controller: the DaemonSet controller and kwok's stages for the CNI, the HPA controller,
the PV controller, the StatefulSet controller, the External Secrets operator syncing from
OpenBao, the Velero server backing up into its S3 bucket); where no controller runs here
(Argo CD), testenv writes the status those controllers would, and the Cilium agents'
cluster mesh metrics (testenv/clustermesh.py).
Each test repairs what it broke.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from selftests.faults.common import fails_with
from selftests.harness import broken
from testenv import cluster, clustermesh, external_secrets, faults, security, velero
from testenv import platform_services as platform
from testenv.procs import wait_for

pytestmark = pytest.mark.usefixtures("testenv_up")

NS = "qsign"
K8S = cluster.K8S_VERSION


@pytest.fixture(scope="module", autouse=True)
def platform_up():
    """The platform objects as testenv/platform_services.py makes them, Velero's server and
    its backups as testenv/velero.py does (idempotent, ~2 s)."""
    platform.up()
    velero.up()


# -- Velero -------------------------------------------------------------------------


def test_velero_backups_fails_on_a_partially_failed_backup(checks):
    """The schedule's backups run a pre-backup hook in QSIGN's two api-server pods, which
    have no exec (kwok): the real server's next backup ends PartiallyFailed, 2 errors."""
    made: dict[str, str] = {}

    def hook_and_back_up() -> None:
        made["backup"] = velero.add_failing_hook("daily-backup", NS, "api-server")["metadata"]["name"]

    with checks.fails_then_recovers("daily.velero-backups", broken(hook_and_back_up, velero.restore_velero)) as r:
        # (when the run before it is over 26 h old, that one is named too: the newest Completed backup)
        assert re.match(
            rf"[12] Velero backups not in order: velero/{made['backup']} \(PartiallyFailed, 2 errors\)", r.message
        ), r.message


def test_velero_backups_fails_when_the_object_store_is_down(checks):
    """The S3 endpoint stops: the real server finds the location Unavailable, and the
    schedule's next backup (`velero backup create --from-schedule`) really fails."""
    made: dict[str, str] = {}

    def stop_and_back_up() -> None:
        velero.stop_object_store()
        made["backup"] = velero.create_backup("daily-backup")["metadata"]["name"]

    with checks.fails_then_recovers("daily.velero-backups", broken(stop_and_back_up, velero.restore_velero)) as r:
        assert re.match(
            rf"[12] Velero backups not in order: velero/{made['backup']} \((FailedValidation|Failed)\b", r.message
        ), r.message


def test_velero_backups_fails_when_the_last_backups_are_missing(checks):
    """The schedule's two newest runs never happened: the newest left is 2 days old."""
    backups = sorted(
        cluster.list_("Backup", velero.NAMESPACE, "velero.io/schedule-name=hankook-smartsensor-backup"),
        key=lambda b: b["status"]["startTimestamp"],
        reverse=True,
    )
    gone, left = backups[:2], backups[2]["metadata"]["name"]
    with checks.fails_then_recovers(
        "daily.velero-backups",
        broken(
            lambda: [cluster.delete("Backup", velero.NAMESPACE, b["metadata"]["name"]) for b in gone],
            velero.restore_velero,
        ),
    ) as r:
        assert re.fullmatch(
            rf"1 Velero backups not in order: velero/{left} \(last Completed \d+\.\d (days|h) ago, over 26h\)",
            r.message,
        ), r.message


# -- External Secrets --------------------------------------------------------------


def test_externalsecrets_fails_when_the_vault_secret_is_removed(checks):
    """`vault kv delete secret/qsign/database`: the real operator's next read gets nothing
    and it marks the ExternalSecret SecretSyncedError itself."""
    since = datetime.now(UTC).replace(microsecond=0)
    with checks.fails_then_recovers(
        "daily.externalsecrets",
        broken(
            lambda: external_secrets.remove_vault_secret("qsign/database"),
            lambda: external_secrets.restore_vault_secret("qsign/database"),
        ),
    ) as r:
        assert r.message == (
            "1 ExternalSecrets not synced: qsign/qsign-db-credentials (Ready=False "
            "(SecretSyncedError: could not get secret data from provider))"
        ), r.message
        # the operator's own Warning names what its Vault provider answered
        events = cluster.list_(
            "Event", NS, field_selector="involvedObject.name=qsign-db-credentials,reason=UpdateFailed"
        )
        assert any(
            "(key: qsign/database), err: Secret does not exist" in e["message"]
            and datetime.fromisoformat(e["lastTimestamp"]) >= since
            for e in events
        ), [e["message"] for e in events]


# -- CNI ----------------------------------------------------------------------------


def test_cni_status_fails_when_the_agents_crashloop(checks):
    nodes = len(cluster.list_("Node"))  # one agent per node
    with checks.fails_then_recovers(
        "daily.cni-status",
        broken(
            lambda: platform.set_daemonset_crashloop(*platform.CILIUM, crashloop=True),
            lambda: platform.set_daemonset_crashloop(*platform.CILIUM, crashloop=False),
        ),
    ) as r:
        assert r.message.startswith(f"CNI kube-system/cilium: 0/{nodes} agents ready; "), r.message
        assert f"/{nodes} agents available" in r.message


# -- versions, node patches ---------------------------------------------------------


def node_info(node: str, **fields: str):
    return broken(
        lambda: platform.set_node_info(node, **fields),
        lambda: platform.set_node_info(node, kubeletVersion=K8S, kernelVersion=platform.NODE_INFO["kernelVersion"]),
    )


def test_version_skew_fails_on_an_upgrade_that_skips_a_minor(checks):
    r = checks.until("predeploy.version-skew", "failed", env={"OPSCHECK_K8S_TARGET_VERSION": "1.35.1"})
    assert r.message == (
        f"1 version skew problems: upgrade path (target v1.35.1 is 2 minor versions ahead of {K8S}: "
        "upgrade one minor at a time (v1.34, v1.35))"
    ), r.message
    checks.until("predeploy.version-skew", "passed")


# -- PDBs ---------------------------------------------------------------------------


def restore_pdb(name: str) -> None:
    platform._apply(platform._doc("PodDisruptionBudget", NS, name))
    wait_for(
        lambda: (
            (cluster.get("PodDisruptionBudget", NS, name) or {}).get("status", {}).get("disruptionsAllowed", 0) >= 1
        ),
        30,
        f"PDB {name} allowing a disruption",
    )


# -- HPAs ---------------------------------------------------------------------------

HPA_NAME = f"{platform.HPA[0]}/{platform.HPA[1]}"


def scaling_active(status: str):
    return lambda hpa: platform._hpa_condition(hpa, "ScalingActive").get("status") == status


# -- one fault, one check -----------------------------------------------------------


def mesh_peer_ready(ready: bool) -> None:
    """The demo cluster's agents see their mesh peer (testenv/clustermesh.py's metrics, as
    `cilium clustermesh status` would show it) ready or not."""
    cluster_name, peer = platform.DEMO_MESH
    clustermesh.set_ready(cluster_name, cluster_name, peer, ready)


OUTDATED_REPORT = "opscheck-selftest-outdated-hsm-adapter.json"


def outdated_image_report() -> None:
    """A newer Trivy report of a running image: built 400 days ago on Alpine 3.10 (end of
    life), with a CRITICAL OpenSSL finding fixed upstream since mid-2024."""
    now = datetime.now(UTC).replace(microsecond=0)
    published = datetime(2024, 6, 27, tzinfo=UTC)
    finding = ("CVE-2024-5535", "libssl3", "3.3.0-r2", "3.3.1-r1", "CRITICAL", "openssl: buffer overread", published)
    security.write_trivy_report(
        "qsign/hsm-adapter:1.4.2",
        [finding],
        name=OUTDATED_REPORT,
        image_created=now - timedelta(days=400),
        os=("alpine", "3.10.9"),
        eosl=True,
    )


def velero_schedules_off() -> None:
    velero.set_schedule_spec("daily-backup", paused=True)
    velero.set_schedule_spec("hankook-smartsensor-backup", template={"ttl": "72h0m0s"})


def application_state(sync: str, health: str) -> None:
    platform.set_application_state(platform.ARGOCD_NS, "qsign", sync, health)


def hpa_on_unserved_metrics():
    """Scaling on runbook 002's http_requests_per_second alone: no custom-metrics adapter
    serves it, so the real HPA controller cannot compute a replica count."""
    rps = [
        {
            "type": "Pods",
            "pods": {
                "metric": {"name": "http_requests_per_second"},
                "target": {"type": "AverageValue", "averageValue": "30"},
            },
        }
    ]
    return broken(
        lambda: platform.patch_hpa(*platform.HPA, {"metrics": rps}, until=scaling_active("False")), platform.restore_hpa
    )


def hpa_bounds_changed():
    doc = platform._doc("HorizontalPodAutoscaler", *platform.HPA)
    metrics = [dict(m) for m in doc["spec"]["metrics"]]
    metrics[0] = {
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 90}},
    }
    return broken(
        lambda: platform.patch_hpa(*platform.HPA, {"maxReplicas": 10, "metrics": metrics}), platform.restore_hpa
    )


def unused_resources_made():
    def make() -> None:
        platform.create_unused_pvc(NS, "opscheck-selftest-unused")
        platform.create_unused_configmap(NS, "opscheck-selftest-unused")

    def drop() -> None:
        platform.delete_unused_pvc(NS, "opscheck-selftest-unused")
        cluster.delete("ConfigMap", NS, "opscheck-selftest-unused")

    return broken(make, drop)


# case -> (check, the fault, the message in full (a regex))
PLATFORM_FAULTS = {
    "a paused velero schedule and a wrong ttl": (
        "monthly.velero-schedules",
        lambda: broken(velero_schedules_off, velero.restore_velero),
        re.escape(
            "2 Velero Schedules not as agreed: velero/daily-backup (paused), "
            "velero/hankook-smartsensor-backup (TTL 72h0m0s, agreed 720h)"
        ),
    ),
    "an argocd application out of sync and degraded": (
        "daily.argocd-apps",
        lambda: broken(
            lambda: application_state("OutOfSync", "Degraded"), lambda: application_state("Synced", "Healthy")
        ),
        re.escape(
            "1 Argo CD Applications not Synced and Healthy: argocd/qsign (OutOfSync, Degraded: "
            "Deployment api-server exceeded its progress deadline, last sync Failed: one or more "
            "objects failed to apply)"
        ),
    ),
    "a cluster mesh peer not ready": (
        "daily.cni-status",
        lambda: broken(lambda: mesh_peer_ready(False), lambda: mesh_peer_ready(True)),
        # every agent (one per node) has lost the peer, failed just now
        r"CNI kube-system/cilium: cluster mesh: dr not ready on (\d+) of \1 agents \(last failure [01] min ago\)",
    ),
    "a kubelet below the supported minimum": (
        "monthly.k8s-version",
        lambda: node_info("kwok-node-2", kubeletVersion="v1.31.4"),
        re.escape(
            "1 Kubernetes versions out of the supported window: kwok-node-2 (kubelet v1.31.4 is "
            "older than the supported minimum 1.32)"
        ),
    ),
    "a kubelet too far behind": (
        "predeploy.version-skew",
        lambda: node_info("kwok-node-1", kubeletVersion="v1.29.15"),
        re.escape(
            "1 version skew problems: kwok-node-1 (kubelet v1.29.15 is 4 minor versions behind "
            f"the API server {K8S} (at most 3))"
        ),
    ),
    "an unpatched kernel": (
        "monthly.security-patches",
        lambda: node_info("kwok-node-0", kernelVersion="6.1.0-18-amd64"),
        re.escape(
            "1 nodes or images below the agreed patch levels: kwok-node-0 (kernel 6.1.0-18-amd64 below 6.1.0-25)"
        ),
    ),
    "an old image on an end-of-life os with a fix not applied": (
        "monthly.security-patches",
        lambda: broken(outdated_image_report, lambda: security.remove_trivy_report(OUTDATED_REPORT)),
        r"1 nodes or images below the agreed patch levels: qsign/hsm-adapter:1\.4\.2 \(built 400 days ago, "
        r"\d{4}-\d\d-\d\d \(at most 90\); OS alpine 3\.10\.9 is end of life; 1 fixes not applied: "
        r"CVE-2024-5535 in libssl3 3\.3\.0-r2 \(fixed in 3\.3\.1-r1, public since 2024-06-27\)\)",
    ),
    "a failed helm upgrade": (
        "predeploy.helm-releases",
        lambda: broken(
            lambda: platform.put_helm_release(NS, "qsign", 3, "failed"),
            lambda: platform.delete_helm_release(NS, "qsign", 3),
        ),
        re.escape("1 Helm releases failed or pending: qsign/qsign (revision 3 failed)"),
    ),
    "a workload without its pdb": (
        "predeploy.pdb",
        lambda: broken(
            lambda: cluster.delete("PodDisruptionBudget", NS, "postgresql"), lambda: restore_pdb("postgresql")
        ),
        re.escape(
            "1 workloads without a working PodDisruptionBudget: statefulset/qsign/postgresql (no PodDisruptionBudget)"
        ),
    ),
    "a pdb allowing no disruption": (
        "predeploy.pdb",
        lambda: broken(
            lambda: cluster.patch("PodDisruptionBudget", NS, "vault", {"spec": {"maxUnavailable": 0}}),
            lambda: restore_pdb("vault"),
        ),
        re.escape(
            "1 workloads without a working PodDisruptionBudget: statefulset/qsign/vault "
            "(PDB vault allows no disruption (maxUnavailable 0 of 2 replicas)"
        )
        + ".*",
    ),
    "hpa metrics unavailable": (
        "weekly.hpa-behaviour",
        hpa_on_unserved_metrics,
        re.escape(f"1 HPAs not working: {HPA_NAME} (metrics unavailable (ScalingActive False: FailedGetPodsMetric: ")
        + ".*",
    ),
    "hpa pinned at max": (
        "weekly.hpa-behaviour",
        lambda: broken(lambda: platform.patch_hpa(*platform.HPA, {"maxReplicas": 3}), platform.restore_hpa),
        re.escape(f"1 HPAs not working: {HPA_NAME} (pinned at maxReplicas 3 (3 running))"),
    ),
    "hpa bounds changed": (
        "monthly.hpa-configured",
        hpa_bounds_changed,
        re.escape(
            f"1 workloads without the agreed HPA: hpa/{HPA_NAME} (maxReplicas 10, agreed 20; "
            "cpu target 90%, agreed 70%)"
        ),
    ),
    "a released volume": (
        "monthly.pv-released",
        lambda: broken(
            lambda: platform.create_released_pv("opscheck-selftest-released"),
            lambda: cluster.delete("PersistentVolume", None, "opscheck-selftest-released"),
        ),
        re.escape(
            "1 PersistentVolumes Released or Failed: opscheck-selftest-released (Released, was "
            "qsign/deleted-claim, reclaim policy Retain)"
        ),
    ),
    "an unmounted pvc and an unreferenced configmap": (
        "monthly.unused-resources",
        unused_resources_made,
        re.escape(
            "2 unused resources: pvc/qsign/opscheck-selftest-unused (Bound, mounted by no pod), "
            "configmap/qsign/opscheck-selftest-unused (referenced by no pod or workload)"
        ),
    ),
    "an over-provisioned workload": (
        "monthly.cost-review",
        lambda: broken(
            lambda: platform.set_pod_cpu_usage(NS, "app=vault", "1m"),
            lambda: platform.set_pod_cpu_usage(NS, "app=vault", None),
        ),
        r"1 workloads over-provisioned: qsign/vault \(CPU requests 500m, uses [1-3]m \(0\.[2-6]% < 10%\)\)",
    ),
    "a workload with one replica": (
        "quarterly.spof",
        lambda: faults.scaled(NS, "vault", 1, "StatefulSet"),
        re.escape("1 single points of failure: statefulset/qsign/vault (1 replica)"),
    ),
}


@pytest.mark.parametrize("case", PLATFORM_FAULTS)
def test_platform_checks_fail(checks, case):
    fails_with(checks, PLATFORM_FAULTS[case])
