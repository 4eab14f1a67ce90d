"""Platform services in the demo cluster: Argo CD, Cilium, Helm releases,
PodDisruptionBudgets, an autoscaled workload, and the nodes' software versions (External
Secrets and Velero have their real servers: testenv/external_secrets.py, testenv/velero.py;
the Velero helpers below write the multi-cluster system's backups, testenv/multicluster.py).

The runbooks check these through the Kubernetes API (`kubectl get applications -n argocd`,
`cilium status`, `helm list -A`, `kubectl get hpa`, `kubectl get nodes -o wide`), so the
test environment gives the demo cluster the objects those commands read:

  * manifests/crds-platform.yaml: the CRDs of Argo CD (Application), waited on until
    Established (its Velero stand-ins serve the multi-cluster system only);
  * manifests/platform.yaml: their objects, the Cilium agent DaemonSet and operator (kwok
    plays their pods), PodDisruptionBudgets for the QSIGN StatefulSets, and a Deployment
    with runbook 002's HorizontalPodAutoscaler in namespace opscheck-autoscaling, scaled
    for real by kube-controller-manager's HPA controller from metrics-server's numbers
    (its Velero Schedules are testenv/velero.py's);
  * what no controller writes here, because the Argo CD application controller does not
    run: the Applications' status (Synced, Healthy); Helm's release Secrets (type
    helm.sh/release.v1, the payload encoded as Helm does); the kwok nodes' kernel and
    container runtime versions, as a kubelet reports them.

`up()` converges all of it and undoes what the fault helpers below left (call it only when
no self-test has a fault injected). Time-dependent status is written as of the moment
`up()` runs.

Fault helpers (each waits until the change shows through the API; each has its repair):
    set_application_state, set_daemonset_crashloop, set_node_info, put_helm_release /
    delete_helm_release, create_released_pv, create_unused_pvc / create_unused_configmap,
    set_pod_cpu_usage, patch_hpa / restore_hpa, delete_injected
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from testenv import cluster, clustermesh, faults, readiness
from testenv.procs import wait_for

MANIFESTS = Path(__file__).resolve().parent / "manifests"
VELERO_NS = "velero"
ARGOCD_NS = "argocd"
AUTOSCALING_NS = "opscheck-autoscaling"
HPA = (AUTOSCALING_NS, "scaled-api")
# Its own field manager: other testenv modules apply objects it shares (the argocd
# namespace, say) under "opscheck-testenv", and one manager's apply drops the fields the
# same manager applied before but no longer lists.
FIELD_MANAGER = "opscheck-testenv-platform"
CILIUM = ("kube-system", "cilium")
CILIUM_OPERATOR = ("kube-system", "cilium-operator")
# The demo cluster's Cilium Cluster Mesh: itself and its peer (which runs nowhere here).
DEMO_MESH = ("demo", "dr")
INJECTED = "opscheck.testenv/injected"
BACKUPS_PER_SCHEDULE = 3
# What a Debian 12 node with containerd reports (kwok's default is "kwok-<version>").
NODE_INFO = {
    "kernelVersion": "6.1.0-28-amd64",
    "containerRuntimeVersion": "containerd://1.7.24",
    "osImage": "Debian GNU/Linux 12 (bookworm)",
}
# Helm releases: (namespace, release, chart, app version, revisions); the last revision is
# deployed, the earlier ones superseded, as `helm upgrade` leaves them.
HELM_RELEASES = [
    (cluster.NAMESPACE, "qsign", "qsign", "1.4.2", 2),
    ("kube-system", "cilium", "cilium", "1.16.0", 1),
    ("velero", "velero", "velero", "1.14.1", 1),
]
# The Applications of platform.yaml and their healthy status.
APPLICATIONS = [(ARGOCD_NS, "qsign"), (ARGOCD_NS, "velero")]
GIT_REVISION = "3f9c2a7d1e6b4c0a8f5e2d9b7a1c4e6f8d0b2a4c"


def _log(msg: str) -> None:
    print(f"testenv.platform_services: {msg}", file=sys.stderr, flush=True)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _ts(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _apply(obj: dict) -> dict:
    """Server-side apply under this module's own field manager."""
    return cluster.apply(obj, field_manager=FIELD_MANAGER)


def _docs(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((MANIFESTS / name).read_text()) if d]


def _doc(kind: str, namespace: str | None, name: str) -> dict:
    for d in _docs("platform.yaml"):
        if d["kind"] == kind and d["metadata"]["name"] == name and d["metadata"].get("namespace") == namespace:
            return d
    raise LookupError(f"{kind} {namespace}/{name} is not in platform.yaml")


_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|m|s)")


def go_duration(text: str) -> dt.timedelta:
    """Velero's TTL as Go writes it: 720h0m0s, 168h, 90m."""
    parts = _GO_DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a Go duration: {text!r}")
    unit = {"h": 3600, "m": 60, "s": 1}
    return dt.timedelta(seconds=sum(float(n) * unit[u] for n, u in parts))


# --------------------------------------------------------------------------- CRDs


def _crd_established(name: str) -> bool:
    crd = cluster.request("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
    return any(
        c.get("type") == "Established" and c.get("status") == "True"
        for c in (crd.get("status") or {}).get("conditions") or []
    )


def _crds() -> list[dict]:
    """The stand-in CRDs this cluster takes from crds-platform.yaml: Velero's are its own
    release's (testenv/velero.py); the multi-cluster system takes them all."""
    return [d for d in _docs("crds-platform.yaml") if d["spec"]["group"] != "velero.io"]


def _ensure_crds() -> None:
    crds = _crds()
    for crd in crds:
        _apply(crd)
    for crd in crds:
        wait_for(
            lambda n=crd["metadata"]["name"]: _crd_established(n), 60, f"CRD {crd['metadata']['name']} Established"
        )
    # the API server serves a new group a moment after Established: wait for discovery
    for crd in crds:
        group, version = crd["spec"]["group"], crd["spec"]["versions"][0]["name"]
        wait_for(
            lambda p=f"/apis/{group}/{version}/{crd['spec']['names']['plural']}": cluster.request("GET", p) is not None,
            60,
            f"{group}/{version} served",
        )


# ------------------- Velero history as a past server left it (testenv/velero.py, multicluster.py)


def _previous_fires(schedule: str, n: int, now: dt.datetime) -> list[dt.datetime]:
    from croniter import croniter

    it = croniter(schedule, now)
    return [it.get_prev(dt.datetime) for _ in range(n)]


def _backup_name(schedule: str, fire: dt.datetime) -> str:
    return f"{schedule}-{fire.astimezone(dt.UTC):%Y%m%d%H%M%S}"


def _completed_status(start: dt.datetime, ttl: str, items: int) -> dict:
    return {
        "phase": "Completed",
        "version": 1,
        "formatVersion": "1.1.0",
        "startTimestamp": _ts(start),
        "completionTimestamp": _ts(start + dt.timedelta(seconds=47)),
        "expiration": _ts(start + go_duration(ttl)),
        "progress": {"totalItems": items, "itemsBackedUp": items},
        "errors": 0,
        "warnings": 0,
    }


# ------------------------------------------------------------------------- Argo CD


def _application_status(app: dict, sync: str, health: str, now: dt.datetime) -> dict:
    ok = sync == "Synced" and health == "Healthy"
    return {
        "sync": {
            "status": sync,
            "revision": GIT_REVISION,
            "comparedTo": {"source": app["spec"]["source"], "destination": app["spec"]["destination"]},
        },
        "health": {"status": health}
        | ({} if ok else {"message": "Deployment api-server exceeded its progress deadline"}),
        "reconciledAt": _ts(now),
        "sourceType": "Kustomize",
        "operationState": {
            "phase": "Succeeded" if ok else "Failed",
            "message": "successfully synced (all tasks run)" if ok else "one or more objects failed to apply",
            "startedAt": _ts(now - dt.timedelta(minutes=3)),
            "finishedAt": _ts(now - dt.timedelta(minutes=2)),
            "syncResult": {"revision": GIT_REVISION},
        },
    }


def _ensure_applications(now: dt.datetime | None = None) -> None:
    now = now or _now()
    for ns, name in APPLICATIONS:
        doc = _doc("Application", ns, name)
        _apply(doc)
        cluster.patch("Application", ns, name, {"status": _application_status(doc, "Synced", "Healthy", now)})


def set_application_state(namespace: str, name: str, sync: str, health: str) -> dict:
    """What the Argo CD application controller reports, e.g. OutOfSync/Degraded after a
    failed sync; Synced/Healthy repairs."""
    app = cluster.get("Application", namespace, name)
    cluster.patch("Application", namespace, name, {"status": _application_status(app, sync, health, _now())})
    wait_for(
        lambda: (
            (cluster.get("Application", namespace, name) or {}).get("status", {}).get("health", {}).get("status")
            == health
        ),
        20,
        f"Application {name} {health}",
    )
    return cluster.get("Application", namespace, name)


# ----------------------------------------------------------------------------- Helm


def _helm_release_secret(
    namespace: str, release: str, chart: str, app_version: str, revision: int, status: str, when: dt.datetime
) -> dict:
    """A release Secret as Helm 3's secrets driver stores it: data.release is the release
    record, JSON, gzipped, base64-encoded (and base64 again as Secret data)."""
    record = {
        "name": release,
        "namespace": namespace,
        "version": revision,
        "info": {
            "first_deployed": _ts(when),
            "last_deployed": _ts(when),
            "status": status,
            "description": "Upgrade complete"
            if status in ("deployed", "superseded")
            else f'Upgrade "{release}" failed: context deadline exceeded',
        },
        "chart": {"metadata": {"name": chart, "version": app_version, "appVersion": app_version, "apiVersion": "v2"}},
        "config": {},
        "manifest": f"# Source: {chart}/templates/...\n",
    }
    payload = base64.b64encode(gzip.compress(json.dumps(record).encode())).decode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "helm.sh/release.v1",
        "metadata": {
            "name": f"sh.helm.release.v1.{release}.v{revision}",
            "namespace": namespace,
            "labels": {
                "name": release,
                "owner": "helm",
                "status": status,
                "version": str(revision),
                "modifiedAt": str(int(when.timestamp())),
            },
        },
        "data": {"release": base64.b64encode(payload.encode()).decode()},
    }


def _ensure_helm_releases(now: dt.datetime | None = None) -> None:
    now = now or _now()
    for ns, release, chart, version, revisions in HELM_RELEASES:
        for rev in range(1, revisions + 1):
            status = "deployed" if rev == revisions else "superseded"
            name = f"sh.helm.release.v1.{release}.v{rev}"
            current = cluster.get("Secret", ns, name)
            if current is None or (current["metadata"].get("labels") or {}).get("status") != status:
                _apply(
                    _helm_release_secret(
                        ns, release, chart, version, rev, status, now - dt.timedelta(days=2 * (revisions - rev) + 1)
                    )
                )
        # revisions a fault helper added on top
        for s in cluster.list_("Secret", ns, f"owner=helm,name={release}"):
            if int(s["metadata"]["labels"].get("version", "0")) > revisions:
                cluster.delete("Secret", ns, s["metadata"]["name"])


def put_helm_release(namespace: str, release: str, revision: int, status: str) -> dict:
    """Add a revision of an existing release in `status` (failed, pending-upgrade, ...),
    as an interrupted or failed `helm upgrade` leaves it."""
    for ns, rel, chart, version, _ in HELM_RELEASES:
        if (ns, rel) == (namespace, release):
            body = _helm_release_secret(ns, rel, chart, version, revision, status, _now())
            body["metadata"]["labels"][INJECTED] = "true"
            _apply(body)
            return cluster.get("Secret", ns, body["metadata"]["name"])
    raise LookupError(f"no Helm release {namespace}/{release} in the test environment")


def delete_helm_release(namespace: str, release: str, revision: int) -> None:
    cluster.delete("Secret", namespace, f"sh.helm.release.v1.{release}.v{revision}")


# ---------------------------------------------------------------------- nodes, CNI


def set_node_info(node: str, **fields: str) -> dict:
    """Patch what a node's "kubelet" reports in status.nodeInfo (kubeletVersion,
    kernelVersion, osImage, containerRuntimeVersion); kwok's heartbeat keeps it."""
    cluster.patch("Node", None, node, {"status": {"nodeInfo": fields}}, sub="status")
    wait_for(
        lambda: all(cluster.get("Node", None, node)["status"]["nodeInfo"].get(k) == v for k, v in fields.items()),
        20,
        f"node {node} nodeInfo {fields}",
    )
    return cluster.get("Node", None, node)


def _ensure_node_info() -> None:
    want = {**NODE_INFO, "kubeletVersion": cluster.K8S_VERSION, "kubeProxyVersion": cluster.K8S_VERSION}
    for n in cluster.list_("Node"):
        info = (n.get("status") or {}).get("nodeInfo") or {}
        if any(info.get(k) != v for k, v in want.items()):
            set_node_info(n["metadata"]["name"], **want)


def _daemonset_done(ds: dict | None) -> bool:
    """readiness.daemonset_done, and no pod counted unavailable."""
    return readiness.daemonset_done(ds) and not (ds.get("status") or {}).get("numberUnavailable")


def set_daemonset_crashloop(namespace: str, name: str, crashloop: bool, timeout: float = 90) -> dict:
    """crashloop=True: the fault label on the DaemonSet's pod template; the DaemonSet
    controller rolls it out and kwok's crashloop stage takes every new agent pod down
    (not ready, CrashLoopBackOff); waits until no pod is ready. False: remove the label,
    wait until the rollout is back to all pods ready, drop the BackOff warnings."""
    ds = cluster.get("DaemonSet", namespace, name)
    labels = ds["spec"]["template"]["metadata"].get("labels") or {}
    faults.patch_template_fault("DaemonSet", namespace, name, labels, "crashloop" if crashloop else None)
    if crashloop:
        wait_for(
            lambda: (
                cluster.get("DaemonSet", namespace, name)["status"].get("numberReady", 0) == 0
                and cluster.get("DaemonSet", namespace, name)["status"].get("updatedNumberScheduled", 0)
                == cluster.get("DaemonSet", namespace, name)["status"].get("desiredNumberScheduled")
            ),
            timeout,
            f"DaemonSet {namespace}/{name} crashlooping",
        )
    else:
        wait_for(
            lambda: (
                _daemonset_done(cluster.get("DaemonSet", namespace, name))
                and not any(
                    p["metadata"].get("deletionTimestamp") or cluster.FAULT_LABEL in p["metadata"].get("labels", {})
                    for p in cluster.list_(
                        "Pod", namespace, ",".join(f"{k}={v}" for k, v in ds["spec"]["selector"]["matchLabels"].items())
                    )
                )
            ),
            timeout,
            f"DaemonSet {namespace}/{name} ready",
        )
        cluster.delete_events(namespace, lambda o: o.get("kind") == "Pod" and o.get("name", "").startswith(name + "-"))
    return cluster.get("DaemonSet", namespace, name)


# ------------------------------------------------------------------- volumes, config


def _host_path_pv(name: str, reclaim_policy: str, namespace: str, claim: str, uid: str | None = None) -> dict:
    """An injected 1Gi hostPath PersistentVolume bound ahead to the claim namespace/claim."""
    claim_ref = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": namespace, "name": claim}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name, "labels": {INJECTED: "true"}},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": reclaim_policy,
            "storageClassName": "manual",
            "hostPath": {"path": f"/tmp/opscheck-testenv-{name}", "type": "DirectoryOrCreate"},
            "claimRef": claim_ref | ({"uid": uid} if uid else {}),
        },
    }


def _created_in_phase(obj: dict, phase: str, what: str) -> dict:
    """`obj` created (unless it exists), once its status.phase is `phase` (within 30 s)."""
    kind, namespace, name = obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"]
    cluster.create_if_missing(obj)
    wait_for(
        lambda: (cluster.get(kind, namespace, name) or {}).get("status", {}).get("phase") == phase,
        30,
        f"{what} {phase}",
    )
    return cluster.get(kind, namespace, name)


def create_released_pv(name: str, claim: str = "deleted-claim", namespace: str = cluster.NAMESPACE) -> dict:
    """A Retain PersistentVolume whose claim is gone: the PV controller finds its bound
    claim (claimRef with a uid) missing and moves it to Released, as after `kubectl delete
    pvc` of a claim whose volume has persistentVolumeReclaimPolicy Retain."""
    # The uid says the claim once existed: without it the PV would wait Available for it.
    pv = _host_path_pv(name, "Retain", namespace, claim, uid="0f5c4c2e-6d5e-4c1b-9a57-3f3f0e1d2c4b")
    return _created_in_phase(pv, "Released", f"PV {name}")


def create_unused_pvc(namespace: str, name: str) -> dict:
    """A claim Bound to a volume of its own that no pod mounts (a leftover, say, of a
    StatefulSet scaled down with whenScaled: Retain)."""
    pv_name = f"{namespace}-{name}"
    cluster.create_if_missing(_host_path_pv(pv_name, "Delete", namespace, name))
    pvc = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": namespace, "labels": {INJECTED: "true"}},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "manual",
            "volumeName": pv_name,
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }
    return _created_in_phase(pvc, "Bound", f"PVC {namespace}/{name}")


def delete_unused_pvc(namespace: str, name: str) -> None:
    cluster.delete("PersistentVolumeClaim", namespace, name)
    if cluster.get("PersistentVolume", None, f"{namespace}-{name}") is not None:
        cluster.delete("PersistentVolume", None, f"{namespace}-{name}")


def create_unused_configmap(namespace: str, name: str) -> dict:
    cluster.create_if_missing(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": {INJECTED: "true"}},
            "data": {"LOG_LEVEL": "debug"},
        }
    )
    return cluster.get("ConfigMap", namespace, name)


def delete_injected() -> None:
    """Objects the helpers above created (label opscheck.testenv/injected=true) go."""
    for kind, namespaced in (
        ("PersistentVolumeClaim", True),
        ("ConfigMap", True),
        ("Secret", True),
        ("PersistentVolume", False),
    ):
        for obj in cluster.list_(kind, None, f"{INJECTED}=true"):
            cluster.delete(kind, obj["metadata"].get("namespace") if namespaced else None, obj["metadata"]["name"])


# --------------------------------------------------------------- usage, autoscaling


def set_pod_cpu_usage(namespace: str, selector: str, cpu: str | None, timeout: float = 90) -> None:
    """Set the simulated CPU usage (kwok.x-k8s.io/usage-cpu) on the running pods
    themselves, without a rollout (None: back to their template's value), and wait until
    the metrics API reports it for each (within 10%)."""
    pods = [p for p in cluster.list_("Pod", namespace, selector) if not p["metadata"].get("deletionTimestamp")]
    if cpu is None and pods:
        owner = (pods[0]["metadata"].get("ownerReferences") or [{}])[0]
        kind = {"ReplicaSet": "ReplicaSet", "StatefulSet": "StatefulSet"}.get(owner.get("kind"))
        tpl = cluster.get(kind, namespace, owner["name"])["spec"]["template"] if kind else {}
        cpu = ((tpl.get("metadata") or {}).get("annotations") or {}).get("kwok.x-k8s.io/usage-cpu", "1m")
    faults.annotate_usage(namespace, pods, cpu or "1m", None, timeout)


def _hpa_condition(hpa: dict | None, ctype: str) -> dict:
    return next((c for c in ((hpa or {}).get("status") or {}).get("conditions") or [] if c.get("type") == ctype), {})


def hpa_settled(namespace: str = HPA[0], name: str = HPA[1]) -> bool:
    """The controller computed its metrics (ScalingActive True) and the target runs at the
    replicas it asked for."""
    hpa = cluster.get("HorizontalPodAutoscaler", namespace, name)
    st = (hpa or {}).get("status") or {}
    return _hpa_condition(hpa, "ScalingActive").get("status") == "True" and st.get("currentReplicas") == st.get(
        "desiredReplicas"
    )


def patch_hpa(namespace: str, name: str, spec: dict, until=None, timeout: float = 60) -> dict:
    """Merge-patch an HPA's spec, then wait (when given) until `until(hpa)` holds, i.e.
    until the HPA controller has acted on it (it syncs every 15 s)."""
    cluster.patch("HorizontalPodAutoscaler", namespace, name, {"spec": spec})
    if until is not None:
        wait_for(
            lambda: until(cluster.get("HorizontalPodAutoscaler", namespace, name)),
            timeout,
            f"HPA {namespace}/{name} after {spec}",
        )
    return cluster.get("HorizontalPodAutoscaler", namespace, name)


def restore_hpa(timeout: float = 90) -> dict:
    """The HPA back to platform.yaml (server-side apply takes the fields back) and settled."""
    _apply(_doc("HorizontalPodAutoscaler", *HPA))
    wait_for(lambda: hpa_settled(*HPA), timeout, f"HPA {HPA[0]}/{HPA[1]} computing metrics again")
    return cluster.get("HorizontalPodAutoscaler", *HPA)


# ------------------------------------------------------------------------ lifecycle


def _apply_manifests() -> None:
    docs = _docs("platform.yaml")
    for d in docs:
        if d["kind"] == "Namespace":
            _apply(d)
    for ns in [d["metadata"]["name"] for d in docs if d["kind"] == "Namespace"]:
        wait_for(
            lambda ns=ns: cluster.get("ServiceAccount", ns, "default") is not None, 60, f"ServiceAccount {ns}/default"
        )
    for d in docs:
        if d["kind"] not in ("Namespace", "Schedule", "Application"):
            _apply(d)
    # a leftover crashloop fault on the agent DaemonSet
    ds = cluster.get("DaemonSet", *CILIUM)
    if cluster.FAULT_LABEL in (ds["spec"]["template"]["metadata"].get("labels") or {}):
        set_daemonset_crashloop(*CILIUM, crashloop=False)


def _wait_healthy(timeout: float = 180) -> None:
    wait_for(lambda: _daemonset_done(cluster.get("DaemonSet", *CILIUM)), timeout, "cilium DaemonSet ready")
    for ns, name in (CILIUM_OPERATOR, (AUTOSCALING_NS, "scaled-api")):
        wait_for(
            lambda ns=ns, name=name: readiness.deployment_done(cluster.get("Deployment", ns, name)),
            timeout,
            f"Deployment {ns}/{name} available",
        )
    wait_for(
        lambda: all(cluster.pod_ready(p) for p in cluster.list_("Pod", AUTOSCALING_NS)),
        timeout,
        f"pods in {AUTOSCALING_NS} ready",
    )
    # metrics-server needs two scrapes of a new pod before the HPA controller gets numbers
    wait_for(lambda: hpa_settled(*HPA), timeout, f"HPA {HPA[0]}/{HPA[1]} computing metrics", interval=1)


def up() -> dict:
    t0 = time.monotonic()
    _ensure_crds()
    _apply_manifests()
    delete_injected()
    _ensure_node_info()
    now = _now()
    _ensure_applications(now)
    _ensure_helm_releases(now)
    # the hand-made QSIGN faults these self-tests use leave vault's pods with a usage override
    for p in cluster.list_("Pod", cluster.NAMESPACE, "app=vault"):
        if (p["metadata"].get("annotations") or {}).get("kwok.x-k8s.io/usage-cpu") != "30m":
            set_pod_cpu_usage(cluster.NAMESPACE, "app=vault", None)
            break
    _wait_healthy()
    # the demo cluster is meshed with a disaster-recovery peer (environments/demo.yaml):
    # its agents' metrics, as Prometheus would scrape them (testenv/clustermesh.py)
    clustermesh.publish(
        DEMO_MESH[0], list(DEMO_MESH), {DEMO_MESH[0]: [n["metadata"]["name"] for n in cluster.list_("Node")]}
    )
    info = status()
    info["up_seconds"] = round(time.monotonic() - t0, 1)
    return info


def down() -> None:
    """Nothing runs on its own here: the objects go with the cluster (cluster.down)."""


def status() -> dict:
    info: dict[str, Any] = {"running": False}
    if not cluster.kubeconfig().exists():
        return info
    try:
        crds = [d["metadata"]["name"] for d in _crds()]
        info["crds"] = {n: _crd_established(n) for n in crds}
        info["velero_backups"] = len(cluster.list_("Backup", VELERO_NS))
        info["applications"] = {
            a["metadata"]["name"]: (a.get("status") or {}).get("health", {}).get("status")
            for a in cluster.list_("Application", ARGOCD_NS)
        }
        info["cilium_ready"] = _daemonset_done(cluster.get("DaemonSet", *CILIUM))
        info["hpa_active"] = hpa_settled(*HPA)
        info["running"] = all(info["crds"].values()) and info["cilium_ready"]
    except Exception as exc:
        info["error"] = str(exc)
    return info


if __name__ == "__main__":  # python -m testenv.platform_services up|status
    print(json.dumps(up() if sys.argv[1:] == ["up"] else status(), indent=2))
