"""Fault injection on the platform checks: Velero, External Secrets, Argo CD, the CNI,
versions, node patches, Helm, PDBs, HPAs, volumes, unused resources, cost, single points
of failure. Each fault goes through the real API server (and, where one runs, its real
controller: the DaemonSet controller and kwok's stages for the CNI, the HPA controller,
the PV controller, the StatefulSet controller, the External Secrets operator syncing from
OpenBao); where no controller runs here (Velero, Argo CD), testenv writes the status those
controllers would.
Each test repairs what it broke.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from selftests.harness import broken
from testenv import cluster, external_secrets, faults
from testenv import platform_services as platform
from testenv.procs import wait_for

pytestmark = pytest.mark.usefixtures("testenv_up")

NS = "qsign"
K8S = cluster.K8S_VERSION


@pytest.fixture(scope="module", autouse=True)
def platform_up():
    """The platform objects as testenv/platform_services.py makes them (idempotent, ~1 s)."""
    platform.up()


# -- Velero -------------------------------------------------------------------------


def test_velero_backups_fails_on_a_partially_failed_backup(checks):
    newest = platform.newest_backup("daily-backup")["metadata"]["name"]
    with checks.fails_then_recovers(
        "daily.velero-backups",
        broken(lambda: platform.set_backup_phase(newest, "PartiallyFailed", errors=2), platform.restore_velero),
    ) as r:
        # (when the run before it is over 26 h old, that one is named too: the newest Completed backup)
        assert re.match(
            rf"[12] Velero backups not in order: velero/{newest} \(PartiallyFailed, 2 errors\)", r.message
        ), r.message


def test_velero_backups_fails_when_the_last_backups_are_missing(checks):
    """The schedule's two newest runs never happened: the newest left is 2 days old."""
    backups = sorted(
        cluster.list_("Backup", platform.VELERO_NS, "velero.io/schedule-name=hankook-smartsensor-backup"),
        key=lambda b: b["status"]["startTimestamp"],
        reverse=True,
    )
    gone, left = backups[:2], backups[2]["metadata"]["name"]
    with checks.fails_then_recovers(
        "daily.velero-backups",
        broken(
            lambda: [cluster.delete("Backup", platform.VELERO_NS, b["metadata"]["name"]) for b in gone],
            platform.restore_velero,
        ),
    ) as r:
        assert re.fullmatch(
            rf"1 Velero backups not in order: velero/{left} \(last Completed \d+\.\d (days|h) ago, over 26h\)",
            r.message,
        ), r.message


def test_velero_schedules_fails_on_a_paused_schedule_and_a_wrong_ttl(checks):
    def break_it() -> None:
        platform.set_schedule_spec("daily-backup", paused=True)
        platform.set_schedule_spec("hankook-smartsensor-backup", template={"ttl": "72h0m0s"})

    with checks.fails_then_recovers("monthly.velero-schedules", broken(break_it, platform.restore_velero)) as r:
        assert r.message == (
            "2 Velero Schedules not as agreed: velero/daily-backup (paused), "
            "velero/hankook-smartsensor-backup (TTL 72h0m0s, agreed 720h)"
        ), r.message


# -- External Secrets, Argo CD ------------------------------------------------------


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


def test_argocd_apps_fails_on_an_out_of_sync_degraded_application(checks):
    with checks.fails_then_recovers(
        "daily.argocd-apps",
        broken(
            lambda: platform.set_application_state(platform.ARGOCD_NS, "qsign", "OutOfSync", "Degraded"),
            lambda: platform.set_application_state(platform.ARGOCD_NS, "qsign", "Synced", "Healthy"),
        ),
    ) as r:
        assert r.message == (
            "1 Argo CD Applications not Synced and Healthy: argocd/qsign (OutOfSync, Degraded: "
            "Deployment api-server exceeded its progress deadline, last sync Failed: one or more "
            "objects failed to apply)"
        ), r.message


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


def test_k8s_version_fails_on_a_kubelet_below_the_supported_minimum(checks):
    with checks.fails_then_recovers("monthly.k8s-version", node_info("kwok-node-2", kubeletVersion="v1.31.4")) as r:
        assert r.message == (
            "1 Kubernetes versions out of the supported window: kwok-node-2 (kubelet v1.31.4 is "
            "older than the supported minimum 1.32)"
        ), r.message


def test_version_skew_fails_on_a_kubelet_too_far_behind(checks):
    with checks.fails_then_recovers("predeploy.version-skew", node_info("kwok-node-1", kubeletVersion="v1.29.15")) as r:
        assert r.message == (
            "1 version skew problems: kwok-node-1 (kubelet v1.29.15 is 4 minor versions behind "
            f"the API server {K8S} (at most 3))"
        ), r.message


def test_version_skew_fails_on_an_upgrade_that_skips_a_minor(checks):
    r = checks.until("predeploy.version-skew", "failed", env={"OPSCHECK_K8S_TARGET_VERSION": "1.35.1"})
    assert r.message == (
        f"1 version skew problems: upgrade path (target v1.35.1 is 2 minor versions ahead of {K8S}: "
        "upgrade one minor at a time (v1.34, v1.35))"
    ), r.message
    checks.until("predeploy.version-skew", "passed")


def test_security_patches_fails_on_an_unpatched_kernel(checks):
    with checks.fails_then_recovers(
        "monthly.security-patches", node_info("kwok-node-0", kernelVersion="6.1.0-18-amd64")
    ) as r:
        assert r.message == (
            "1 nodes below the agreed patch levels: kwok-node-0 (kernel 6.1.0-18-amd64 below 6.1.0-25)"
        ), r.message


# -- Helm, PDBs ---------------------------------------------------------------------


def test_helm_releases_fails_on_a_failed_upgrade(checks):
    with checks.fails_then_recovers(
        "predeploy.helm-releases",
        broken(
            lambda: platform.put_helm_release(NS, "qsign", 3, "failed"),
            lambda: platform.delete_helm_release(NS, "qsign", 3),
        ),
    ) as r:
        assert r.message == "1 Helm releases failed or pending: qsign/qsign (revision 3 failed)", r.message


def restore_pdb(name: str) -> None:
    platform._apply(platform._doc("PodDisruptionBudget", NS, name))
    wait_for(
        lambda: (
            (cluster.get("PodDisruptionBudget", NS, name) or {}).get("status", {}).get("disruptionsAllowed", 0) >= 1
        ),
        30,
        f"PDB {name} allowing a disruption",
    )


def test_pdb_fails_when_a_workload_loses_its_pdb(checks):
    with checks.fails_then_recovers(
        "predeploy.pdb",
        broken(lambda: cluster.delete("PodDisruptionBudget", NS, "postgresql"), lambda: restore_pdb("postgresql")),
    ) as r:
        assert r.message == (
            "1 workloads without a working PodDisruptionBudget: statefulset/qsign/postgresql (no PodDisruptionBudget)"
        ), r.message


def test_pdb_fails_on_a_pdb_that_allows_no_disruption(checks):
    with checks.fails_then_recovers(
        "predeploy.pdb",
        broken(
            lambda: cluster.patch("PodDisruptionBudget", NS, "vault", {"spec": {"maxUnavailable": 0}}),
            lambda: restore_pdb("vault"),
        ),
    ) as r:
        assert r.message.startswith(
            "1 workloads without a working PodDisruptionBudget: statefulset/qsign/vault "
            "(PDB vault allows no disruption (maxUnavailable 0 of 2 replicas)"
        ), r.message


# -- HPAs ---------------------------------------------------------------------------

HPA_NAME = f"{platform.HPA[0]}/{platform.HPA[1]}"


def scaling_active(status: str):
    return lambda hpa: platform._hpa_condition(hpa, "ScalingActive").get("status") == status


def test_hpa_behaviour_fails_when_the_metrics_are_unavailable(checks):
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
    with checks.fails_then_recovers(
        "weekly.hpa-behaviour",
        broken(
            lambda: platform.patch_hpa(*platform.HPA, {"metrics": rps}, until=scaling_active("False")),
            platform.restore_hpa,
        ),
    ) as r:
        assert r.message.startswith(
            f"1 HPAs not working: {HPA_NAME} (metrics unavailable (ScalingActive False: FailedGetPodsMetric: "
        ), r.message


def test_hpa_behaviour_fails_when_pinned_at_max(checks):
    with checks.fails_then_recovers(
        "weekly.hpa-behaviour",
        broken(lambda: platform.patch_hpa(*platform.HPA, {"maxReplicas": 3}), platform.restore_hpa),
    ) as r:
        assert r.message == f"1 HPAs not working: {HPA_NAME} (pinned at maxReplicas 3 (3 running))", r.message


def test_hpa_configured_fails_when_the_bounds_change(checks):
    doc = platform._doc("HorizontalPodAutoscaler", *platform.HPA)
    metrics = [dict(m) for m in doc["spec"]["metrics"]]
    metrics[0] = {
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 90}},
    }
    with checks.fails_then_recovers(
        "monthly.hpa-configured",
        broken(
            lambda: platform.patch_hpa(*platform.HPA, {"maxReplicas": 10, "metrics": metrics}), platform.restore_hpa
        ),
    ) as r:
        assert r.message == (
            f"1 workloads without the agreed HPA: hpa/{HPA_NAME} (maxReplicas 10, agreed 20; "
            "cpu target 90%, agreed 70%)"
        ), r.message


# -- volumes, unused resources, cost, SPOF ------------------------------------------


def test_pv_released_fails_on_a_released_volume(checks):
    with checks.fails_then_recovers(
        "monthly.pv-released",
        broken(
            lambda: platform.create_released_pv("opscheck-selftest-released"),
            lambda: cluster.delete("PersistentVolume", None, "opscheck-selftest-released"),
        ),
    ) as r:
        assert r.message == (
            "1 PersistentVolumes Released or Failed: opscheck-selftest-released (Released, was "
            "qsign/deleted-claim, reclaim policy Retain)"
        ), r.message


def test_unused_resources_fails_on_an_unmounted_pvc_and_an_unreferenced_configmap(checks):
    def break_it() -> None:
        platform.create_unused_pvc(NS, "opscheck-selftest-unused")
        platform.create_unused_configmap(NS, "opscheck-selftest-unused")

    def repair() -> None:
        platform.delete_unused_pvc(NS, "opscheck-selftest-unused")
        cluster.delete("ConfigMap", NS, "opscheck-selftest-unused")

    with checks.fails_then_recovers("monthly.unused-resources", broken(break_it, repair)) as r:
        assert r.message == (
            "2 unused resources: pvc/qsign/opscheck-selftest-unused (Bound, mounted by no pod), "
            "configmap/qsign/opscheck-selftest-unused (referenced by no pod or workload)"
        ), r.message


def test_cost_review_fails_on_an_over_provisioned_workload(checks):
    with checks.fails_then_recovers(
        "monthly.cost-review",
        broken(
            lambda: platform.set_pod_cpu_usage(NS, "app=vault", "1m"),
            lambda: platform.set_pod_cpu_usage(NS, "app=vault", None),
        ),
    ) as r:
        assert re.fullmatch(
            r"1 workloads over-provisioned: qsign/vault \(CPU requests 500m, uses [12]m "
            r"\(0\.[2-4]% < 10%\)\)",
            r.message,
        ), r.message


def test_spof_fails_on_a_workload_with_one_replica(checks):
    with checks.fails_then_recovers("quarterly.spof", faults.scaled(NS, "vault", 1, "StatefulSet")) as r:
        assert r.message == "1 single points of failure: statefulset/qsign/vault (1 replica)", r.message
