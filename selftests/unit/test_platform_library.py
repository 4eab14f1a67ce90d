"""Unit tests of the platform library's rules (no cluster): durations and versions as the
tools write them, label selectors, PDB arithmetic, Velero schedules, HPAs, Helm records,
references that keep a ConfigMap or Secret in use, over-provisioning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from opscheck.profile.platform import ClusterMesh, HpaBounds, NodePatches, VeleroSchedule
from opscheck.rules.availability import (
    hpa_bounds_problems,
    hpa_problems,
    pdb_allowed,
    pdb_problems,
    running_pod_nodes,
    selector_matches,
    spof_problems,
)
from opscheck.rules.housekeeping import over_provisioned, request_usage, unused
from opscheck.rules.platform import (
    application_problems,
    clustermesh_findings,
    cni_problems,
    external_secret_problems,
    go_duration,
    helm_offenders,
    helm_releases,
    image_version,
    last_due,
    schedule_problems,
    velero_backup_findings,
)
from opscheck.rules.versions import kubelet_skew_problems, node_patch_problems, parse_version, upgrade_path_problems
from opscheck.sources.clustermesh import selector
from opscheck.sources.prometheus import Sample

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("text,hours", [("720h0m0s", 720), ("168h", 168), ("1h30m", 1.5), ("0", 0), ("90m", 1.5)])
def test_go_durations(text, hours):
    assert go_duration(text) == timedelta(hours=hours)


@pytest.mark.parametrize("text", ["7d", "h", "", "1h 30m"])
def test_go_duration_rejects_what_go_would(text):
    assert go_duration(text) is None


@pytest.mark.parametrize(
    "text,version",
    [("v1.33.13", (1, 33, 13)), ("1.33", (1, 33, 0)), ("v1.30.4-eks-a737599", (1, 30, 4)), ("kwok-0.7.0", None)],
)
def test_versions(text, version):
    assert parse_version(text) == version


def test_image_versions():
    assert image_version("quay.io/cilium/cilium:v1.16.0@sha256:abc") == "v1.16.0"
    assert image_version("localhost:5000/cilium") is None
    assert image_version("cilium:latest") is None


def test_selectors():
    labels = {"app": "api", "tier": "web"}
    assert selector_matches({"matchLabels": {"app": "api"}}, labels)
    assert not selector_matches({"matchLabels": {"app": "db"}}, labels)
    assert selector_matches(
        {
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["web"]},
                {"key": "canary", "operator": "DoesNotExist"},
            ]
        },
        labels,
    )
    assert not selector_matches({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["web"]}]}, labels)
    assert selector_matches({}, labels)  # policy/v1: an empty selector selects every pod
    assert not selector_matches(None, labels)


def workload(replicas: int, name: str = "api") -> dict:
    return {
        "metadata": {"namespace": "ns", "name": name},
        "spec": {"replicas": replicas, "template": {"metadata": {"labels": {"app": name}}}},
    }


def pdb(spec: dict, allowed: int = 1, name: str = "api") -> dict:
    return {
        "metadata": {"namespace": "ns", "name": name},
        "spec": {"selector": {"matchLabels": {"app": "api"}}, **spec},
        "status": {"disruptionsAllowed": allowed},
    }


@pytest.mark.parametrize(
    "spec,replicas,allowed",
    [
        ({"minAvailable": 1}, 3, 2),
        ({"minAvailable": "50%"}, 3, 1),
        ({"maxUnavailable": "25%"}, 3, 1),
        ({"maxUnavailable": 0}, 2, 0),
    ],
)
def test_pdb_arithmetic_rounds_percentages_up(spec, replicas, allowed):
    assert pdb_allowed(pdb(spec), replicas)[0] == allowed


def test_pdb_problems():
    assert pdb_problems(workload(2), []) == ["no PodDisruptionBudget"]
    assert pdb_problems(workload(2), [pdb({"minAvailable": 1})]) == []
    assert pdb_problems(workload(2), [pdb({"minAvailable": 2}, 0)]) == [
        "PDB api allows no disruption (minAvailable 2 of 2 replicas)"
    ]
    assert pdb_problems(workload(2), [pdb({"maxUnavailable": "100%"})]) == [
        "PDB api lets all 2 replicas go at once (maxUnavailable 100%)"
    ]
    assert pdb_problems(workload(2), [pdb({"minAvailable": 1}, 0)]) == [
        "PDB api allows no disruption now (currentHealthy 0, desiredHealthy 0)"
    ]
    assert (
        "eviction API refuses"
        in pdb_problems(workload(2), [pdb({"minAvailable": 1}), pdb({"minAvailable": 1}, name="b")])[0]
    )


def pod(name: str, node: str, owner: str = "api") -> dict:
    return {
        "metadata": {"namespace": "ns", "name": name, "ownerReferences": [{"kind": "StatefulSet", "name": owner}]},
        "spec": {"nodeName": node},
        "status": {"phase": "Running"},
    }


def test_spof():
    pdbs = [pdb({"minAvailable": 1})]
    assert spof_problems(workload(1), ["n1"], pdbs) == ["1 replica"]
    assert spof_problems(workload(2), ["n1", "n1"], pdbs) == ["all 2 running replicas on node n1"]
    assert spof_problems(workload(2), ["n1", "n2"], []) == ["no PodDisruptionBudget"]
    assert spof_problems(workload(0), [], []) == []
    running = running_pod_nodes([pod("api-0", "n1"), pod("api-1", "n2"), pod("web-0", "n1", owner="web")])
    assert running == {"ns/api": ["n1", "n2"], "ns/web": ["n1"]}


def test_velero_schedule_rules():
    agreed = VeleroSchedule(name="daily-backup", schedule="0 2 * * *", ttl="168h", included_namespaces=["app"])
    good = {
        "metadata": {"namespace": "velero", "name": "daily-backup"},
        "spec": {"schedule": "0 2 * * *", "template": {"ttl": "168h0m0s", "includedNamespaces": ["default", "app"]}},
        "status": {"phase": "Enabled", "lastBackup": "2026-11-22T02:00:01Z"},
    }
    assert schedule_problems(good, agreed, NOW, timedelta(hours=1)) == []
    stale = {**good, "status": {"phase": "Enabled", "lastBackup": "2026-11-21T02:00:01Z"}}
    assert schedule_problems(stale, agreed, NOW, timedelta(hours=1)) == [
        "last backup 2026-11-21T02:00:01Z missed the run due at 2026-11-22T02:00:00Z"
    ]
    # within the grace period after the fire time, yesterday's run still counts
    assert schedule_problems(stale, agreed, datetime(2026, 11, 22, 2, 30, tzinfo=UTC), timedelta(hours=1)) == []
    other = {**good, "spec": {"schedule": "0 3 * * *", "paused": True, "template": {"includedNamespaces": ["default"]}}}
    assert schedule_problems(other, agreed, NOW, timedelta(hours=1))[:4] == [
        "paused",
        "schedule '0 3 * * *', agreed '0 2 * * *'",
        "TTL unset (720h default), agreed 168h",
        "does not include namespace(s) app",
    ]


def test_cron_tz_prefix():
    due = last_due("CRON_TZ=Asia/Seoul 0 2 * * *", NOW, timedelta(0))
    assert due == datetime(2026, 11, 21, 17, 0, tzinfo=UTC)  # 02:00 KST


def backup(name: str, schedule: str | None, start: datetime, phase: str = "Completed", errors: int = 0) -> dict:
    labels = {"velero.io/schedule-name": schedule} if schedule else {}
    return {
        "metadata": {"namespace": "velero", "name": name, "labels": labels, "creationTimestamp": ts(start)},
        "status": {
            "phase": phase,
            "errors": errors,
            "startTimestamp": ts(start),
            "completionTimestamp": ts(start + timedelta(minutes=1)),
        },
    }


def test_velero_backup_findings():
    sched = {"metadata": {"namespace": "velero", "name": "daily"}}
    fresh = backup("daily-1", "daily", NOW - timedelta(hours=7))
    old = backup("daily-0", "daily", NOW - timedelta(hours=31))
    _, offenders = velero_backup_findings([sched], [fresh, old], timedelta(hours=26), NOW)
    assert offenders == []
    partial = backup("daily-1", "daily", NOW - timedelta(hours=7), "PartiallyFailed", 3)
    _, offenders = velero_backup_findings([sched], [partial, old], timedelta(hours=26), NOW)
    assert [o["detail"] for o in offenders] == ["PartiallyFailed, 3 errors", "last Completed 31.0 h ago, over 26h"]
    running = backup("daily-2", "daily", NOW - timedelta(minutes=5), "InProgress")
    _, offenders = velero_backup_findings([sched], [running, fresh], timedelta(hours=26), NOW)
    assert offenders == []  # the newest finished one counts while one is in progress
    _, offenders = velero_backup_findings(
        [sched], [fresh, backup("manual", None, NOW, "Failed")], timedelta(hours=26), NOW
    )
    assert offenders == [{"object": "velero/manual", "detail": "Failed"}]
    _, offenders = velero_backup_findings([sched], [], timedelta(hours=26), NOW)
    assert offenders == [{"object": "schedule velero/daily", "detail": "no finished backup"}]


def test_external_secret_rules():
    es = {
        "metadata": {"namespace": "ns", "name": "db"},
        "spec": {"refreshInterval": "1h", "target": {"name": "db-creds"}},
        "status": {
            "refreshTime": ts(NOW - timedelta(minutes=30)),
            "conditions": [{"type": "Ready", "status": "True", "reason": "SecretSynced"}],
        },
    }
    assert external_secret_problems(es, {("ns", "db-creds")}, NOW, 2) == []
    assert external_secret_problems(es, set(), NOW, 2) == ["target Secret db-creds does not exist"]
    stale = {**es, "status": {**es["status"], "refreshTime": ts(NOW - timedelta(hours=3))}}
    assert external_secret_problems(stale, {("ns", "db-creds")}, NOW, 2) == [
        "last refreshed 3.0 h ago, refreshInterval 1h"
    ]
    once = {**stale, "spec": {**es["spec"], "refreshInterval": "0"}}  # refresh disabled: never stale
    assert external_secret_problems(once, {("ns", "db-creds")}, NOW, 2) == []


def test_application_rules():
    assert application_problems({"status": {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}}}) == []
    assert application_problems({"status": {"sync": {"status": "OutOfSync"}, "health": {"status": "Progressing"}}}) == [
        "OutOfSync",
        "Progressing",
    ]
    assert application_problems({}) == ["Unknown", "Unknown"]


def test_cni_rules():
    ds = {
        "spec": {"template": {"spec": {"containers": [{"image": "quay.io/cilium/cilium:v1.15.6"}]}}},
        "status": {"desiredNumberScheduled": 3, "numberReady": 2, "updatedNumberScheduled": 3, "numberAvailable": 2},
    }
    op = {
        "spec": {
            "replicas": 1,
            "template": {"spec": {"containers": [{"image": "quay.io/cilium/operator-generic:v1.16.0"}]}},
        },
        "status": {"availableReplicas": 1},
    }
    problems, _ = cni_problems(ds, op, "cilium-operator", "1.16.0")
    assert problems == [
        "2/3 agents ready",
        "2/3 agents available",
        "agent v1.15.6 is older than 1.16.0",
        "operator v1.16.0 and agents v1.15.6 differ (upgrade half done)",
    ]


def _mesh_series(values: dict[tuple[str, str], float]) -> list[Sample]:
    return [
        Sample({"cluster": "app1", "node": node, "target_cluster": remote}, value)
        for (node, remote), value in values.items()
    ]


def test_clustermesh_findings():
    now = datetime(2026, 12, 5, 12, tzinfo=UTC)
    # node-b sees mgmt down since 30 minutes; nobody has app2 configured; mgmt2 is not expected
    readiness = _mesh_series({("a", "mgmt"): 1, ("b", "mgmt"): 0, ("a", "mgmt2"): 1})
    failures = _mesh_series({("a", "mgmt"): 0, ("b", "mgmt"): (now - timedelta(minutes=30)).timestamp()})
    rows, problems = clustermesh_findings(["mgmt", "app2"], readiness, failures, now)
    assert problems == [
        "mgmt not ready on 1 of 2 agents (last failure 30 min ago)",
        "app2 missing (none of 2 agents has it configured)",
    ]
    assert rows == [
        {"object": "remote cluster mgmt", "agents_ready": "1/2", "last_failure": "30 min ago"},
        {"object": "remote cluster app2", "agents_ready": "0/2", "last_failure": "never"},
        {"object": "remote cluster mgmt2 (not expected)", "agents_ready": "", "last_failure": ""},
    ]
    healthy = _mesh_series({("a", "mgmt"): 1, ("b", "mgmt"): 1})
    assert clustermesh_findings(["mgmt"], healthy, [], now)[1] == []
    # no samples is never green
    assert clustermesh_findings(["mgmt"], [], [], now) == (
        [],
        ["no agent reports the cluster mesh (no readiness samples)"],
    )


def test_clustermesh_members_and_selector():
    mesh = ClusterMesh(clusters=["mgmt", "app1", "app2"])
    assert mesh.remotes_of("app1") == ["mgmt", "app2"]
    assert mesh.remotes_of("other") == []
    assert selector("cluster", "app1") == '{cluster="app1"}'
    assert selector(None, "app1") == ""


def test_kubelet_skew_and_upgrade_path():
    nodes = [
        {"object": "a", "kubelet": "v1.33.1"},
        {"object": "b", "kubelet": "v1.29.9"},
        {"object": "c", "kubelet": "v1.34.0"},
    ]
    details = [o["detail"] for o in kubelet_skew_problems((1, 33, 13), nodes, 3)]
    assert details == [
        "kubelet v1.29.9 is 4 minor versions behind the API server v1.33.13 (at most 3)",
        "kubelet v1.34.0 is newer than the API server v1.33.13 (not supported)",
    ]
    assert upgrade_path_problems((1, 33, 13), (1, 34, 2)) == []
    assert upgrade_path_problems((1, 33, 13), (1, 33, 13)) == []
    assert upgrade_path_problems((1, 33, 13), (1, 32, 0)) == [
        "target v1.32.0 is older than the running v1.33.13 (a downgrade)"
    ]


def test_node_patch_rules():
    patches = NodePatches(
        min_kubelet_patch={"1.33": "1.33.10"},
        min_kernel="6.1.0-25",
        os_images=["^Debian GNU/Linux 12 "],
        min_container_runtime={"containerd": "1.7.20"},
    )
    ok = {
        "object": "n",
        "kubelet": "v1.33.13",
        "kernel": "6.1.0-28-amd64",
        "os": "Debian GNU/Linux 12 (bookworm)",
        "runtime": "containerd://1.7.24",
    }
    assert node_patch_problems([ok], patches) == []
    bad = {
        "object": "n",
        "kubelet": "v1.33.4",
        "kernel": "6.1.0-9-amd64",
        "os": "Ubuntu 20.04.6 LTS",
        "runtime": "containerd://1.6.31",
    }
    assert node_patch_problems([bad], patches)[0]["detail"] == (
        "kubelet v1.33.4 below 1.33.10; kernel 6.1.0-9-amd64 below 6.1.0-25; OS 'Ubuntu 20.04.6 LTS' is not a "
        "supported release; containerd 1.6.31 below 1.7.20"
    )
    # 6.10 is newer than 6.1.0-28: numbers, not strings
    assert node_patch_problems([{**ok, "kernel": "6.10.2-1-amd64"}], patches) == []


def hpa(**status) -> dict:
    conditions = [{"type": "AbleToScale", "status": "True"}, {"type": "ScalingActive", "status": "True"}]
    return {
        "metadata": {"namespace": "ns", "name": "h"},
        "spec": {
            "minReplicas": 3,
            "maxReplicas": 20,
            "scaleTargetRef": {"kind": "Deployment", "name": "api"},
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
                }
            ],
        },
        "status": {"currentReplicas": 3, "conditions": conditions, **status},
    }


def test_hpa_rules():
    assert hpa_problems(hpa()) == []
    assert hpa_problems(hpa(currentReplicas=20)) == ["pinned at maxReplicas 20 (20 running)"]
    assert hpa_problems({"metadata": {}, "spec": {}}) == ["no status yet (the HPA controller has not processed it)"]
    assert hpa_bounds_problems(hpa(), HpaBounds()) == ["no memory utilization target (agreed 80%)"]
    assert hpa_bounds_problems(hpa(), HpaBounds(min_replicas=2, memory_percent=None)) == ["minReplicas 3, agreed 2"]


def test_helm_latest_revision_counts():
    def record(name: str, version: int, status: str) -> dict:
        return {
            "metadata": {
                "namespace": "ns",
                "name": f"sh.helm.release.v1.{name}.v{version}",
                "labels": {"owner": "helm", "name": name, "version": str(version), "status": status},
            }
        }

    releases = helm_releases(
        [
            record("a", 1, "deployed"),
            record("a", 2, "failed"),
            record("b", 2, "deployed"),
            record("b", 1, "failed"),
            record("c", 10, "pending-upgrade"),
            record("c", 9, "deployed"),
        ]
    )
    assert [(r["object"], r["revision"], r["status"]) for r in releases] == [
        ("ns/a", 2, "failed"),
        ("ns/b", 2, "deployed"),
        ("ns/c", 10, "pending-upgrade"),
    ]
    assert [o["detail"] for o in helm_offenders(releases)] == ["revision 2 failed", "revision 10 pending-upgrade"]


def test_references_keep_configmaps_and_secrets_in_use():
    cronjob = {
        "metadata": {"namespace": "ns", "name": "backup"},
        "spec": {
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "c",
                                    "envFrom": [{"configMapRef": {"name": "backup-config"}}],
                                    "env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "db", "key": "p"}}}],
                                }
                            ],
                            "volumes": [{"name": "v", "projected": {"sources": [{"configMap": {"name": "ca"}}]}}],
                        }
                    }
                }
            }
        },
    }
    ingress = {"metadata": {"namespace": "ns", "name": "web"}, "spec": {"tls": [{"secretName": "web-tls"}]}}
    cm = lambda name, **meta: {"metadata": {"namespace": "ns", "name": name, **meta}}  # noqa: E731
    secret = lambda name, type_="Opaque": {"metadata": {"namespace": "ns", "name": name}, "type": type_}  # noqa: E731
    rows = unused(
        [],
        [
            cm("backup-config"),
            cm("ca"),
            cm("kube-root-ca.crt"),
            cm("stale"),
            cm("owned", ownerReferences=[{"kind": "Foo"}]),
        ],
        [
            secret("db"),
            secret("web-tls"),
            secret("token", "kubernetes.io/service-account-token"),
            secret("sh.helm.release.v1.x.v1", "helm.sh/release.v1"),
            secret("old"),
        ],
        [cronjob],
        [ingress],
        ["configmaps", "secrets"],
        ignore=[],
    )
    assert [r["object"] for r in rows] == ["configmap/ns/stale", "secret/ns/old"]


def test_over_provisioning():
    def running(name: str, cpu: str) -> dict:
        return {
            "metadata": {"namespace": "ns", "name": name, "ownerReferences": [{"kind": "StatefulSet", "name": "db"}]},
            "spec": {"containers": [{"resources": {"requests": {"cpu": cpu, "memory": "256Mi"}}}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
        }

    def metrics(name: str, cpu: str) -> dict:
        return {
            "metadata": {"namespace": "ns", "name": name},
            "containers": [{"usage": {"cpu": cpu, "memory": "200Mi"}}],
        }

    rows = request_usage(
        [running("db-0", "500m"), running("db-1", "500m")], [metrics("db-0", "20m"), metrics("db-1", "20m")]
    )
    table, offenders = over_provisioned(rows, 10, 50, 64, [])
    assert offenders == [{"object": "ns/db", "detail": "CPU requests 1000m, uses 40m (4.0% < 10%)"}]
    assert over_provisioned(rows, 10, 600, 64, [])[1] == []  # 500m per pod is under a 600m floor
    crashing = running("db-1", "500m")
    crashing["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    rows = request_usage([running("db-0", "500m"), crashing], [metrics("db-0", "300m"), metrics("db-1", "0")])
    assert rows[0]["pods"] == 1 and over_provisioned(rows, 10, 50, 64, [])[1] == []
