"""Fill the bench cluster with realistic objects, fast.

Per 100 pods one namespace bench-NNNN holding DEPLOYMENTS_PER_NAMESPACE Deployments, each
with its ReplicaSet and its pods (ownerReferences Deployment <- ReplicaSet <- Pod, the
pod-template-hash label), a Service and events; N/110 kwok nodes (+2). Pods are created
bound to a node (spec.nodeName) and the bench writes their status as a kubelet would
(the status kwok's stages in testenv/manifests/kwok-stages.yaml write): Running and Ready,
or, for RESTART_SHARE of them, restartCount 1 with a lastState terminated OOMKilled. Their
label STATUS_LABEL keeps kwok's stages off them (else kwok's Running status could land
after the bench's and overwrite it); left to kwok, pods went Running at about 3 a second
at 50k on this machine (hours for a 50k row).
The Deployments' and ReplicaSets' statuses are written by the bench as their controllers
would (those controllers are off in the bench cluster, so nothing fights the pods).

Creates are raw POSTs on one requests.Session (client certificate of the admin identity)
from a thread pool: the kubernetes client's typed models are much slower to build.
Growing is incremental: populate(10000) after populate(2000) adds only the difference.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from bench.cluster import BASE_NAMESPACE, TARGET
from testenv.cluster import KwokTarget

PODS_PER_NAMESPACE = 100
DEPLOYMENTS_PER_NAMESPACE = 4
PODS_PER_NODE = 110
EXTRA_NODES = 2
WARNING_EVENT_SHARE = 0.05
RESTART_SHARE = 0.02
THREADS = 24
# The label kwok's pod stages skip (testenv/manifests/kwok-stages.yaml): the bench writes
# these pods' status.
STATUS_LABEL = ("opscheck.bench/status", "written")


def session(target: KwokTarget = TARGET) -> requests.Session:
    """A raw HTTP session to a kwok cluster (the bench's by default) with the admin identity."""
    pki = target.cluster_dir() / "pki"
    s = requests.Session()
    # else REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE would override `verify` on every request
    s.trust_env = False
    s.cert = (str(pki / "admin.crt"), str(pki / "admin.key"))
    s.verify = str(pki / "ca.crt")
    s.mount("https://", HTTPAdapter(pool_connections=4, pool_maxsize=THREADS * 2))
    return s


def namespace_name(i: int) -> str:
    return f"bench-{i:04d}"


def node_name(i: int) -> str:
    return f"bench-node-{i:04d}"


def namespaces_for(pods: int) -> list[str]:
    return [namespace_name(i) for i in range(math.ceil(pods / PODS_PER_NAMESPACE))]


def nodes_for(pods: int) -> int:
    return math.ceil(pods / PODS_PER_NODE) + EXTRA_NODES


class Creator:
    """Parallel server-side creates; an object that exists already is left as it is."""

    def __init__(self, target: KwokTarget = TARGET) -> None:
        self.base = target.server_url()
        self.http = session(target)
        self.pool = ThreadPoolExecutor(THREADS)

    def post(self, path: str, obj: dict[str, Any]) -> dict[str, Any] | None:
        r = self.http.post(self.base + path, json=obj, timeout=60)
        if r.status_code == 409:
            return None
        if r.status_code >= 300:
            raise RuntimeError(f"POST {path}: {r.status_code} {r.text[:300]}")
        return r.json()

    def patch_status(self, path: str, status: dict[str, Any]) -> None:
        r = self.http.patch(
            self.base + path + "/status",
            json={"status": status},
            headers={"Content-Type": "application/merge-patch+json"},
            timeout=60,
        )
        if r.status_code >= 300:
            raise RuntimeError(f"PATCH {path}/status: {r.status_code} {r.text[:300]}")

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        r = self.http.get(self.base + path, params=params, timeout=120)
        r.raise_for_status()
        return r.json()

    def all(self, fn: Callable[..., Any], items: Iterable[Any]) -> list[Any]:
        return list(self.pool.map(fn, items))

    def close(self) -> None:
        self.pool.shutdown()
        self.http.close()


def _node(i: int) -> dict[str, Any]:
    name = node_name(i)
    resources = {"cpu": "32", "memory": "128Gi", "pods": str(PODS_PER_NODE), "ephemeral-storage": "500Gi"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {
                "kwok.x-k8s.io/node": "fake",
                "node.alpha.kubernetes.io/ttl": "0",
                "metrics.k8s.io/resource-metrics-path": f"/metrics/nodes/{name}/metrics/resource",
            },
            "labels": {
                "type": "kwok",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/os": "linux",
                "kubernetes.io/hostname": name,
                "node-role.kubernetes.io/worker": "",
                "topology.kubernetes.io/region": "bench",
                "topology.kubernetes.io/zone": f"bench-{'abc'[i % 3]}",
            },
        },
        "spec": {},
        "status": {
            "allocatable": resources,
            "capacity": resources,
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "kubeletVersion": "v1.33.13",
                "kubeProxyVersion": "v1.33.13",
            },
        },
    }


def _labels(app: str) -> dict[str, str]:
    return {
        "app": app,
        "app.kubernetes.io/name": app,
        "app.kubernetes.io/part-of": "bench",
        "app.kubernetes.io/managed-by": "Helm",
        "tier": "backend",
    }


def _container(name: str, image: str, port: int) -> dict[str, Any]:
    probe = {"httpGet": {"path": "/healthz", "port": port}, "periodSeconds": 10, "failureThreshold": 3}
    return {
        "name": name,
        "image": image,
        "ports": [{"containerPort": port, "name": "http" if port == 8080 else "metrics"}],
        "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "APP_PORT", "value": str(port)}],
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
        "livenessProbe": probe,
        "readinessProbe": {**probe, "initialDelaySeconds": 5},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True},
    }


def _pod_spec() -> dict[str, Any]:
    return {
        "containers": [
            _container("app", "registry.example.local/bench/app:1.4.2", 8080),
            _container("sidecar", "registry.example.local/bench/log-shipper:2.1.0", 9090),
        ],
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
        "terminationGracePeriodSeconds": 30,
        "automountServiceAccountToken": False,
    }


def _owner(obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _namespace(c: Creator, ns: str) -> None:
    c.post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    # ServiceAccount admission wants the default ServiceAccount before the first pod
    deadline = time.monotonic() + 120
    while c.http.get(f"{c.base}/api/v1/namespaces/{ns}/serviceaccounts/default", timeout=30).status_code != 200:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no default ServiceAccount in {ns}")
        time.sleep(0.2)


# At every size, as in any cluster: the DNS in kube-system and an ingress controller in
# the base namespace, two replicas each (so 0 extra pods still has workloads to judge).
BASE_DEPLOYMENTS = (("kube-system", 9000, 0, 2), (BASE_NAMESPACE, 9001, 0, 2))


def _deployment_plan(pods: int) -> list[tuple[str, int, int, int]]:
    """(namespace, namespace index, deployment index, replicas) of every bench Deployment."""
    plan = list(BASE_DEPLOYMENTS)
    for i, ns in enumerate(namespaces_for(pods)):
        in_ns = min(PODS_PER_NAMESPACE, pods - i * PODS_PER_NAMESPACE)
        per_deployment = math.ceil(in_ns / DEPLOYMENTS_PER_NAMESPACE)
        made = 0
        for d in range(DEPLOYMENTS_PER_NAMESPACE):
            replicas = min(per_deployment, in_ns - made)
            if replicas > 0:
                plan.append((ns, i, d, replicas))
                made += replicas
    return plan


def _deployment(c: Creator, ns: str, ns_index: int, d: int, replicas: int) -> dict[str, Any] | None:
    """The Deployment, its ReplicaSet (both with the status their controllers would write)
    and its Service; returns the ReplicaSet, None when it was there from an earlier size."""
    app = f"svc-{d}"
    labels = _labels(app)
    template_hash = f"{ns_index:04x}{d:02x}bc"
    annotations = {"deployment.kubernetes.io/revision": "1", "bench.opscheck/owner": "team-a"}
    deployment = c.post(
        f"/apis/apps/v1/namespaces/{ns}/deployments",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": app, "namespace": ns, "labels": labels, "annotations": annotations},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": app}},
                "template": {"metadata": {"labels": labels}, "spec": _pod_spec()},
            },
        },
    )
    if deployment is None:
        return None
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    ready = {"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas, "observedGeneration": 1}
    c.patch_status(
        f"/apis/apps/v1/namespaces/{ns}/deployments/{app}",
        {
            **ready,
            "updatedReplicas": replicas,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "lastUpdateTime": now},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "lastUpdateTime": now},
            ],
        },
    )
    rs_labels = {**labels, "pod-template-hash": template_hash}
    rs = c.post(
        f"/apis/apps/v1/namespaces/{ns}/replicasets",
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{app}-{template_hash}",
                "namespace": ns,
                "labels": rs_labels,
                "annotations": annotations,
                "ownerReferences": [_owner(deployment)],
            },
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": app, "pod-template-hash": template_hash}},
                "template": {"metadata": {"labels": rs_labels}, "spec": _pod_spec()},
            },
        },
    )
    c.patch_status(
        f"/apis/apps/v1/namespaces/{ns}/replicasets/{rs['metadata']['name']}",
        {**ready, "fullyLabeledReplicas": replicas},
    )
    c.post(
        f"/api/v1/namespaces/{ns}/services",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": app, "namespace": ns, "labels": labels},
            # headless: the kwok cluster's service range is one /24 (254 ClusterIPs)
            "spec": {
                "clusterIP": "None",
                "selector": {"app": app},
                "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
            },
        },
    )
    return rs


def _pod_status(pod: dict[str, Any], index: int, restarted: bool) -> dict[str, Any]:
    """What kwok's opscheck-pod-running stage (and, for a restarted pod, its oomkilled stage)
    would write: Running, Ready, a podIP unique in the bench (10.128.0.0/9 by index)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    uid = pod["metadata"]["uid"]
    containers = []
    for container in pod["spec"]["containers"]:
        status: dict[str, Any] = {
            "name": container["name"],
            "image": container["image"],
            "imageID": f"docker.io/{container['image']}@sha256:{'0' * 64}",
            "containerID": f"containerd://{uid}-{container['name']}",
            "ready": True,
            "started": True,
            "restartCount": 1 if restarted else 0,
            "state": {"running": {"startedAt": now}},
        }
        if restarted:
            status["lastState"] = {
                "terminated": {"exitCode": 137, "reason": "OOMKilled", "startedAt": now, "finishedAt": now}
            }
        containers.append(status)
    pod_ip = f"10.{128 + (index >> 16) % 128}.{(index >> 8) % 256}.{index % 256}"
    return {
        "phase": "Running",
        "conditions": [
            {"type": t, "status": "True", "lastTransitionTime": now}
            for t in ("Initialized", "PodReadyToStartContainers", "ContainersReady", "Ready", "PodScheduled")
        ],
        "containerStatuses": containers,
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": now,
        "qosClass": "Burstable",
    }


def _pod(c: Creator, rs: dict[str, Any], index: int, nodes: int) -> None:
    """Pod `index` (unique in the bench) of ReplicaSet `rs`, its status, and the kubelet's
    event about it (a Warning for WARNING_EVENT_SHARE of them)."""
    serial = index * 2654435761 % 2**32  # spreads names, nodes, restarts and Warnings
    ns = rs["metadata"]["namespace"]
    pod_labels = dict(rs["spec"]["template"]["metadata"]["labels"])
    pod_labels[STATUS_LABEL[0]] = STATUS_LABEL[1]
    restarted = serial % 1000 < RESTART_SHARE * 1000
    name = f"{rs['metadata']['name']}-{serial:08x}"
    node = node_name(serial % nodes)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": pod_labels,
            "annotations": {
                "prometheus.io/scrape": "true",
                "prometheus.io/port": "9090",
                "kubectl.kubernetes.io/default-container": "app",
            },
            "ownerReferences": [_owner(rs)],
        },
        "spec": {**_pod_spec(), "nodeName": node},
    }
    created = c.post(f"/api/v1/namespaces/{ns}/pods", pod)
    if created is not None:
        c.patch_status(f"/api/v1/namespaces/{ns}/pods/{name}", _pod_status(created, index, restarted))
    warning = serial % 1000 >= 1000 - WARNING_EVENT_SHARE * 1000
    reason, message = (
        ("Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503")
        if warning
        else ("Pulled", f"Container image {pod['spec']['containers'][0]['image']} already present on machine")
    )
    event_time = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    c.post(
        f"/api/v1/namespaces/{ns}/events",
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{name}.{serial:x}", "namespace": ns},
            "involvedObject": {"kind": "Pod", "namespace": ns, "name": name, "apiVersion": "v1"},
            "reason": reason,
            "message": message,
            "type": "Warning" if warning else "Normal",
            "source": {"component": "kubelet", "host": node},
            "firstTimestamp": event_time,
            "lastTimestamp": event_time,
            "count": 1,
            "reportingComponent": "kubelet",
            "reportingInstance": node,
        },
    )


def _base(c: Creator) -> None:
    """bench-base: the namespace whose TLS Secret the certificate check reads."""
    import base64

    from testenv import certs

    c.post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": BASE_NAMESPACE}})
    pair = certs.service_cert("ingress", BASE_NAMESPACE, days_valid=365)
    c.post(
        f"/api/v1/namespaces/{BASE_NAMESPACE}/secrets",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/tls",
            "metadata": {"name": "ingress-tls", "namespace": BASE_NAMESPACE},
            "data": {k: base64.b64encode(v).decode() for k, v in certs.tls_secret_data(pair).items()},
        },
    )


def populate(pods: int, log: Callable[[str], None], target: KwokTarget = TARGET) -> float:
    """Grow a bench cluster to `pods` bench pods (and their nodes, namespaces, objects) and
    check that none is left Pending. Returns the seconds it took."""
    started = time.monotonic()
    c = Creator(target)
    try:
        _base(c)
        node_count = nodes_for(pods)
        c.all(lambda i: c.post("/api/v1/nodes", _node(i)), range(node_count))
        # three flat parallel phases: namespaces, then Deployments/ReplicaSets/Services, then pods
        c.all(lambda ns: _namespace(c, ns), namespaces_for(pods))
        plan = _deployment_plan(pods)
        sets = c.all(lambda p: (p, _deployment(c, *p)), plan)
        log(f"  {len(plan)} Deployments ({time.monotonic() - started:.0f} s)")
        work = [
            (rs, ns_index * 1000 + d * 100 + r)
            for (ns, ns_index, d, replicas), rs in sets
            if rs is not None
            for r in range(replicas)
        ]
        c.all(lambda w: _pod(c, w[0], w[1], node_count), work)
        created = time.monotonic() - started
        _wait_running(c, pods, log)
        log(f"populated {pods} pods: created in {created:.0f} s, all Running after {time.monotonic() - started:.0f} s")
    finally:
        c.close()
    return time.monotonic() - started


def _wait_running(c: Creator, pods: int, log: Callable[[str], None], timeout: float = 1800) -> None:
    """Until no pod is Pending (a guard: the bench writes every pod's status itself, so a
    Pending pod means a status write was lost)."""
    deadline = time.monotonic() + timeout
    while True:
        pending = c.get("/api/v1/pods", {"fieldSelector": "status.phase=Pending", "limit": 1})
        left = (pending.get("metadata") or {}).get("remainingItemCount", 0) + len(pending.get("items") or [])
        if left == 0:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{left} pods still Pending after {timeout:.0f} s")
        log(f"  waiting: {left} pods Pending")
        time.sleep(5)
