"""Reading a Kubernetes cluster: one paginated LIST per resource kind per run.

Objects come back as raw JSON dicts (`_preload_content=False`): parsing into the client's
typed models is several times slower on large lists and buys nothing here. Every request
has a timeout and goes through the run cache, so checks and xdist workers share it.
Only GET requests are ever sent: opscheck never changes what it checks.

Time is bounded: no retries (set on the Configuration before the client builds its
connection pool, which is when urllib3 takes it); the timeout is a total deadline per
request (opscheck/sources/deadline.py), so a server that drips its answer cannot hold a
check; and an API server that gave no answer once answers every later request of the run
(any kind, any worker) with that error at once.
"""

from __future__ import annotations

import io
import os
import re
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import ijson
import orjson
import urllib3
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.incluster_config import InClusterConfigLoader

from opscheck.errors import DependencyError
from opscheck.profile import ClusterConfig, serviceaccount_dir
from opscheck.sources.deadline import bound_pools, total_deadline
from opscheck.sources.packed import PackedList, packed_if_big
from opscheck.sources.runcache import RunCache
from opscheck.sources.tuning import int_setting

# Objects per LIST page. A decoded page of pods holds ~40 KB a pod (managedFields and all,
# before projection): 250 keep that near 10 MB (500 made every big LIST's pass peak at ~75 MB
# over the process's steady size). Measured on the bench (bench/results/2026-12-06-*):
# at 50k pods pages of 100 took 302 s against 172 s with 250 and 225 s with 500 (every page
# pays the API server's fixed cost), at 10k 14-16 s against 13-14 s; peak RSS 194 / 223 /
# 221 MB at 50k. OPSCHECK_PAGE_SIZE (read at each LIST) changes it.
PAGE_SIZE_VAR = "OPSCHECK_PAGE_SIZE"
PAGE_SIZE = 250
# A final page bigger than this is decoded object by object (ijson) rather than at once
# (OPSCHECK_STREAM_MIN_BYTES, read at each LIST).
STREAM_MIN_BYTES_VAR = "OPSCHECK_STREAM_MIN_BYTES"
STREAM_MIN_BYTES = 1024 * 1024

# Resource kind -> collection path (all namespaces).
KINDS: dict[str, str] = {
    "pods": "/api/v1/pods",
    "nodes": "/api/v1/nodes",
    "events": "/api/v1/events",
    "services": "/api/v1/services",
    "endpointslices": "/apis/discovery.k8s.io/v1/endpointslices",
    "persistentvolumeclaims": "/api/v1/persistentvolumeclaims",
    "persistentvolumes": "/api/v1/persistentvolumes",
    # read per namespace only (PER_NAMESPACE): GET /api/v1/namespaces/<ns>/secrets
    "secrets": "/api/v1/secrets",
    "configmaps": "/api/v1/configmaps",
    "namespaces": "/api/v1/namespaces",
    "deployments": "/apis/apps/v1/deployments",
    "statefulsets": "/apis/apps/v1/statefulsets",
    "daemonsets": "/apis/apps/v1/daemonsets",
    "replicasets": "/apis/apps/v1/replicasets",
    "controllerrevisions": "/apis/apps/v1/controllerrevisions",
    "jobs": "/apis/batch/v1/jobs",
    "cronjobs": "/apis/batch/v1/cronjobs",
    "ingresses": "/apis/networking.k8s.io/v1/ingresses",
    "node-metrics": "/apis/metrics.k8s.io/v1beta1/nodes",
    "pod-metrics": "/apis/metrics.k8s.io/v1beta1/pods",
    "poddisruptionbudgets": "/apis/policy/v1/poddisruptionbudgets",
    "horizontalpodautoscalers": "/apis/autoscaling/v2/horizontalpodautoscalers",
    "networkpolicies": "/apis/networking.k8s.io/v1/networkpolicies",
    "clusterroles": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    "clusterrolebindings": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    "roles": "/apis/rbac.authorization.k8s.io/v1/roles",
    "rolebindings": "/apis/rbac.authorization.k8s.io/v1/rolebindings",
    "serviceaccounts": "/api/v1/serviceaccounts",
    "endpoints": "/api/v1/endpoints",
    "ingressclasses": "/apis/networking.k8s.io/v1/ingressclasses",
    "storageclasses": "/apis/storage.k8s.io/v1/storageclasses",
    "customresourcedefinitions": "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
    # custom resources: check `served(kind)` first (their CRD may not be installed)
    "certificates": "/apis/cert-manager.io/v1/certificates",
    "vulnerabilityreports": "/apis/aquasecurity.github.io/v1alpha1/vulnerabilityreports",
    # v1beta1: served by every Istio release still in use (v1 only from 1.22)
    "peerauthentications": "/apis/security.istio.io/v1beta1/peerauthentications",
    "velero-backups": "/apis/velero.io/v1/backups",
    "velero-schedules": "/apis/velero.io/v1/schedules",
    # external-secrets serves v1 since 0.16, older releases only v1beta1: checks use the served one
    "externalsecrets": "/apis/external-secrets.io/v1/externalsecrets",
    "externalsecrets-v1beta1": "/apis/external-secrets.io/v1beta1/externalsecrets",
    "argocd-applications": "/apis/argoproj.io/v1alpha1/applications",
}
# The kinds above that are not namespaced (their objects have no metadata.namespace).
CLUSTER_SCOPED: frozenset[str] = frozenset(
    {
        "nodes",
        "persistentvolumes",
        "namespaces",
        "clusterroles",
        "clusterrolebindings",
        "node-metrics",
        "ingressclasses",
        "storageclasses",
        "customresourcedefinitions",
    }
)

# Kinds read namespace by namespace, never cluster-wide: the production identity
# (deploy/rbac/) may read Secrets only in the namespaces a Role grants it, those whose TLS
# certificates, Helm releases or ExternalSecret targets the checks read.
PER_NAMESPACE: frozenset[str] = frozenset({"secrets"})

# The controllers whose pods are an application's workloads: kind -> KINDS key.
WORKLOAD_KINDS: dict[str, str] = {"Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets"}

# Only public material is kept from Secrets: their certificates. Everything else in
# `data` (passwords, keys, tokens) is dropped before anything is cached or evaluated.
PUBLIC_SECRET_KEYS = ("tls.crt", "ca.crt")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


# Fields no check reads, dropped from every object before it is cached or kept in memory:
# on a big cluster they are most of its bytes (a pod's volume mounts, IPs, tolerations,
# container and image IDs). selftests/unit/test_kube_projection.py asserts that no code
# outside this module names any of them; a check that needs one removes it here.
UNREAD_METADATA = ("managedFields", "generateName", "resourceVersion", "selfLink")
UNREAD_POD_SPEC = (
    "tolerations",
    "dnsPolicy",
    "terminationGracePeriodSeconds",
    "schedulerName",
    "enableServiceLinks",
    "preemptionPolicy",
    "priority",
)
UNREAD_CONTAINER = (
    "volumeMounts",
    "terminationMessagePath",
    "terminationMessagePolicy",
    "imagePullPolicy",
    "ports",
    "command",
    "args",
    "workingDir",
)
UNREAD_POD_STATUS = ("hostIP", "hostIPs", "podIP", "podIPs", "qosClass")
UNREAD_CONTAINER_STATUS = ("imageID", "containerID", "allocatedResources", "volumeMounts")
UNREAD_EVENT = ("reportingComponent", "reportingInstance", "action", "related", "firstTimestamp")
UNREAD_NODE_STATUS = ("images", "daemonEndpoints", "volumesAttached")
UNREAD_FIELDS = (
    UNREAD_METADATA
    + UNREAD_POD_SPEC
    + UNREAD_CONTAINER
    + UNREAD_POD_STATUS
    + UNREAD_CONTAINER_STATUS
    + UNREAD_EVENT
    + UNREAD_NODE_STATUS
    + ("lastProbeTime", "fieldPath")
)
# Where a kind carries a pod template: the path to it.
POD_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "deployments": ("spec", "template"),
    "statefulsets": ("spec", "template"),
    "daemonsets": ("spec", "template"),
    "replicasets": ("spec", "template"),
    "jobs": ("spec", "template"),
    "cronjobs": ("spec", "jobTemplate", "spec", "template"),
}


def _drop(obj: dict[str, Any] | None, names: tuple[str, ...]) -> None:
    if obj:
        for name in names:
            obj.pop(name, None)


def _slim_pod_spec(spec: dict[str, Any] | None) -> None:
    if not spec:
        return
    _drop(spec, UNREAD_POD_SPEC)
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for container in spec.get(key) or []:
            _drop(container, UNREAD_CONTAINER)


def _slim_pod_status(status: dict[str, Any] | None) -> None:
    if not status:
        return
    _drop(status, UNREAD_POD_STATUS)
    for condition in status.get("conditions") or []:
        condition.pop("lastProbeTime", None)
    for key in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
        for container in status.get(key) or []:
            _drop(container, UNREAD_CONTAINER_STATUS)


def project(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    _drop(meta, UNREAD_METADATA)
    annotations = meta.get("annotations") or {}
    # last-applied holds a full copy of the object, a Secret's values included.
    annotations.pop(LAST_APPLIED, None)
    if kind == "secrets":
        data = obj.get("data") or {}
        obj["data"] = {k: v for k, v in data.items() if k in PUBLIC_SECRET_KEYS}
        obj.pop("stringData", None)
    elif kind == "pods":
        _slim_pod_spec(obj.get("spec"))
        _slim_pod_status(obj.get("status"))
    elif kind == "events":
        _drop(obj, UNREAD_EVENT)
        (obj.get("involvedObject") or {}).pop("fieldPath", None)
    elif kind == "nodes":
        _drop(obj.get("status"), UNREAD_NODE_STATUS)
    elif kind in POD_TEMPLATE_PATHS:
        template: Any = obj
        for step in POD_TEMPLATE_PATHS[kind]:
            template = (template or {}).get(step)
        if template:
            _drop(template.get("metadata"), UNREAD_METADATA)
            _slim_pod_spec(template.get("spec"))
    return obj


# The head of a LIST's body as the API server writes it (Go's field order: kind, apiVersion,
# the list's metadata, then items), and the continue token in that metadata.
_LIST_HEAD = re.compile(rb'\{"kind":"[^"]*","apiVersion":"[^"]*","metadata":\{([^{}]*)\},"items":')
_CONTINUE = re.compile(rb'"continue":"([A-Za-z0-9+/=_-]*)"')
# How far into a body its head is looked for (a list's metadata is a few hundred bytes).
LIST_HEAD_BYTES = 4096


def continue_token(body: bytes) -> tuple[bool, str | None]:
    """(known, token): the continue token of a LIST page read from its head, without decoding
    the page (known=False: the head is not in the expected shape; decode the page to know)."""
    head = _LIST_HEAD.match(body[:LIST_HEAD_BYTES])
    if head is None:
        return False, None
    token = _CONTINUE.search(head.group(1))
    return True, token.group(1).decode() if token else None


# The next page of a LIST, fetched while the current one is decoded (see _list_all).
_PAGES = ThreadPoolExecutor(max_workers=4, thread_name_prefix="opscheck-kube-page")

# Reads of the profile's other clusters started ahead (see KubeCluster.peers): a check runs
# once per cluster, so what it reads from one it reads from all of them next.
_AHEAD = ThreadPoolExecutor(max_workers=4, thread_name_prefix="opscheck-kube-ahead")
_started_ahead: set[str] = set()
_ahead_lock = threading.Lock()

# One API client per cluster per run (per RunCache), shared by every KubeCluster of that
# cluster: the `cluster` fixture makes one per check and a read ahead one per read, and a
# client of its own would load the kubeconfig again and open new TLS connections each time
# (~60 ms a fetch on a loaded 2-core machine, three times over with three clusters).
_clients: weakref.WeakKeyDictionary[RunCache, dict[str, tuple[ClusterConfig, k8s_client.ApiClient]]] = (
    weakref.WeakKeyDictionary()
)
_clients_lock = threading.Lock()


@dataclass
class KubeCluster:
    """One cluster of the profile, read through the run cache. `peers`: the profile's other
    clusters, whose same read is started in the background the first time this one makes
    it, so that a multi-cluster run reads its clusters concurrently."""

    config: ClusterConfig
    cache: RunCache
    peers: tuple[ClusterConfig, ...] = ()
    ahead: bool = False  # this instance reads ahead for a peer

    def _read_ahead(self, what: str, read: Callable[[KubeCluster], object]) -> None:
        with _ahead_lock:
            fresh = [p for p in self.peers if f"{id(self.cache)}/{p.name}/{what}" not in _started_ahead]
            _started_ahead.update(f"{id(self.cache)}/{p.name}/{what}" for p in fresh)
        for peer in fresh:
            _AHEAD.submit(_quietly, read, KubeCluster(peer, self.cache, ahead=True))

    @property
    def name(self) -> str:
        return self.config.name

    # -- transport ---------------------------------------------------------------------
    def _api(self) -> k8s_client.ApiClient:
        if not hasattr(self, "_api_client"):
            with _clients_lock:
                per_run = _clients.setdefault(self.cache, {})
                known = per_run.get(self.name)
                if known is None or known[0] != self.config:
                    known = (self.config, self._new_api())
                    per_run[self.name] = known
            self._api_client = known[1]
        return self._api_client

    def _new_api(self) -> k8s_client.ApiClient:
        configuration = k8s_client.Configuration()
        try:
            if self.config.in_cluster:
                # The client's own in-cluster loader, at the mount this run was given; it
                # re-reads the token as the kubelet rotates it.
                mount = serviceaccount_dir()
                InClusterConfigLoader(
                    token_filename=str(mount / "token"), cert_filename=str(mount / "ca.crt")
                ).load_and_set(configuration)
            else:
                # Several files (from $KUBECONFIG) are merged by the client, as kubectl does.
                k8s_config.load_kube_config(
                    config_file=os.pathsep.join(map(str, self.config.kubeconfig_files)),
                    context=self.config.context,
                    client_configuration=configuration,
                    persist_config=False,
                )
        except (ConfigException, OSError, ValueError) as exc:
            what = "in-cluster configuration" if self.config.in_cluster else "kubeconfig"
            raise DependencyError(f"cluster {self.name}: cannot load {what}: {exc}") from None
        # Fail fast on a down API server: no urllib3 retry loop. The REST client hands
        # `retries` to its PoolManager when built, so it is set before (after is too late).
        configuration.retries = False
        api = k8s_client.ApiClient(configuration)
        bound_pools(api.rest_client.pool_manager)
        return api

    @property
    def server(self) -> str:
        try:
            return self._api().configuration.host
        except DependencyError:
            return "?"

    def _get(
        self, path: str, query: list[tuple[str, Any]] | None = None, *, raw: bool = False, missing_ok: bool = False
    ) -> Any:
        """GET `path`, decoded (text with `raw`); with missing_ok, a 404 answers None instead of raising."""
        body = self._fetch(path, query, missing_ok=missing_ok)
        if body is None:
            return None
        # orjson: a page of 500 pods is ~4 MB of JSON; the stdlib decoder takes about twice as long
        return body.decode("utf-8", "replace") if raw else orjson.loads(body)

    def _fetch(
        self, path: str, query: list[tuple[str, Any]] | None = None, *, missing_ok: bool = False
    ) -> bytes | None:
        """The body of GET `path`; with missing_ok, a 404 answers None instead of raising."""
        api = self._api()
        timeout = self.config.timeout_seconds
        outage_key = f"kubernetes {api.configuration.host}"
        if known := self.cache.known_outage(outage_key):
            raise DependencyError(known)
        try:
            with total_deadline(timeout) as deadline:
                try:
                    resp = api.call_api(
                        path,
                        "GET",
                        query_params=query or [],
                        header_params={"Accept": "application/json"},
                        auth_settings=["BearerToken"],
                        _preload_content=False,
                        _request_timeout=(min(timeout, 5.0), timeout),
                        _return_http_data_only=True,
                    )
                    body = resp.data  # read inside the deadline too
                except (urllib3.exceptions.HTTPError, OSError) as exc:
                    reason = f"no complete answer within {timeout:g}s" if deadline.expired else _root_cause(exc)
                    raise _NoAnswer(reason) from None
        except ApiException as exc:
            if missing_ok and exc.status == 404:
                return None
            raise DependencyError(self._describe_status(path, exc.status, exc.reason)) from None
        except _NoAnswer as exc:
            message = f"cluster {self.name} ({api.configuration.host}) unreachable: {exc}"
            self.cache.record_outage(outage_key, message)
            raise DependencyError(message) from None
        return body

    def _describe_status(self, path: str, status: int, reason: str) -> str:
        if status == 401:
            rejected = "ServiceAccount token was" if self.config.in_cluster else "kubeconfig credentials were"
            return f"cluster {self.name}: authentication failed (401): the {rejected} rejected"
        if status == 403 and path.endswith("/secrets") and "/namespaces/" in path:
            namespace = path.split("/namespaces/", 1)[1].split("/", 1)[0]
            return (
                f"cluster {self.name}: forbidden (403) to read Secrets in namespace {namespace}: "
                f"bind the Role of deploy/rbac/secret-reader.yaml there (kubectl apply -n {namespace} -f ...)"
            )
        if status == 403:
            return f"cluster {self.name}: forbidden (403) to read {path}: the identity lacks get/list permission"
        if status == 404:
            return f"cluster {self.name}: {path} not found (404)"
        if status == 503 and "metrics.k8s.io" in path:
            return f"cluster {self.name}: metrics API unavailable (503): is metrics-server running?"
        return f"cluster {self.name}: GET {path} failed: {status} {reason}"

    # -- reads ---------------------------------------------------------------------------
    def version(self) -> dict[str, Any]:
        """The server's /version; also the cluster's reachability probe."""
        self._read_ahead("version", KubeCluster.version)
        return self.cache.get(f"{self.name}/version", lambda: self._get("/version"), self.ahead)

    def list(self, kind: str) -> Sequence[dict[str, Any]]:
        """Every object of `kind` in the cluster, fetched once per run."""
        if kind in PER_NAMESPACE:
            raise ValueError(f"{kind} are read per namespace: use in_namespaces({kind!r}, namespaces)")
        path = KINDS[kind]
        self._read_ahead(f"list/{kind}", lambda peer: peer.list(kind))
        return self.cache.get(f"{self.name}/list/{kind}", lambda: packed_if_big(self._list_all(kind, path)), self.ahead)

    def served(self, kind: str) -> bool:
        """Whether the API server serves `kind` (a custom resource's CRD is installed): one
        discovery GET of its group version per run. Discovery is open to every
        authenticated identity (system:discovery)."""
        group_version, plural = KINDS[kind].rsplit("/", 1)
        doc = self.cache.get(f"{self.name}/discovery{group_version}", lambda: self._get(group_version, missing_ok=True))
        return any(r.get("name") == plural for r in (doc or {}).get("resources") or [])

    def list_served(self, *kinds: str) -> Sequence[dict[str, Any]] | None:
        """Every object of the first of `kinds` the cluster serves (one per API version of a
        custom resource, newest first); None when it serves none (the CRD is not installed)."""
        for kind in kinds:
            if self.served(kind):
                return self.list(kind)
        return None

    def _list_all(self, kind: str, path: str) -> Iterator[dict[str, Any]]:
        """Every object of a paginated LIST, projected page by page. The next page is
        requested as soon as a page's body is in (its continue token read from the body's
        head), so the API server prepares it while this thread decodes and projects."""

        page_size = int_setting(PAGE_SIZE_VAR, PAGE_SIZE, 1, "objects per LIST page")

        def page_query(token: str | None) -> list[tuple[str, Any]]:
            return [("limit", page_size)] + ([("continue", token)] if token else [])

        stream_min_bytes = int_setting(
            STREAM_MIN_BYTES_VAR, STREAM_MIN_BYTES, 0, "the size in bytes over which a last page is streamed"
        )
        body = self._fetch(path, page_query(None))
        while body is not None:
            known, token = continue_token(body)
            ahead = _PAGES.submit(self._fetch, path, page_query(token)) if known and token else None
            if known and not token and len(body) > stream_min_bytes:
                # the last or only page, and a big one: a server that ignores `limit` (the
                # metrics API) sends every object at once; decoded whole, 50k pods' metrics
                # would be ~400 MB of Python objects for a moment
                try:
                    for obj in ijson.items(io.BytesIO(body), "items.item", use_float=True):
                        yield project(kind, obj)
                except ijson.JSONError as exc:
                    raise DependencyError(f"cluster {self.name}: {path}: the LIST's body is not JSON: {exc}") from None
                return
            page = orjson.loads(body)
            del body  # the raw bytes and the decoded page are not both kept longer than needed
            decoded = (page.get("metadata") or {}).get("continue") or None
            if known and decoded != token:
                raise DependencyError(f"cluster {self.name}: {path}: page head and body disagree on the continue token")
            for obj in page.pop("items", None) or []:
                yield project(kind, obj)
            if ahead is not None:
                body = ahead.result()
            else:
                body = self._fetch(path, page_query(decoded)) if decoded else None

    def in_namespaces(self, kind: str, namespaces: list[str]) -> Sequence[dict[str, Any]]:
        wanted = set(namespaces)
        if kind in PER_NAMESPACE:
            return [o for ns in sorted(wanted) for o in self._list_namespace(kind, ns)]
        objects = self.list(kind)
        if isinstance(objects, PackedList):
            return objects.in_namespaces(wanted)
        return [o for o in objects if o["metadata"].get("namespace") in wanted]

    def _list_namespace(self, kind: str, namespace: str) -> Sequence[dict[str, Any]]:
        """The objects of `kind` in one namespace, fetched once per run. A namespace the
        cluster does not have holds none (and no Role can grant a read in it)."""
        if namespace not in {n["metadata"]["name"] for n in self.list("namespaces")}:
            return []
        prefix, plural = KINDS[kind].rsplit("/", 1)
        path = f"{prefix}/namespaces/{namespace}/{plural}"
        return self.cache.get(f"{self.name}/list/{kind}/{namespace}", lambda: packed_if_big(self._list_all(kind, path)))

    def workloads(
        self, namespaces: list[str], kinds: tuple[str, ...] = ("Deployment", "StatefulSet")
    ) -> list[tuple[str, dict[str, Any]]]:
        """(kind, object) of every workload of `kinds` (WORKLOAD_KINDS keys) in the namespaces, kind by kind."""
        return [(kind, o) for kind in kinds for o in self.in_namespaces(WORKLOAD_KINDS[kind], namespaces)]

    def pod_log(self, namespace: str, pod: str, container: str, since_seconds: int) -> str:
        """The container's log lines of the last `since_seconds`, with timestamps."""
        path = f"/api/v1/namespaces/{namespace}/pods/{pod}/log"
        query = [("container", container), ("sinceSeconds", since_seconds), ("timestamps", "true")]
        key = f"{self.name}/log/{namespace}/{pod}/{container}/{since_seconds}"
        return self.cache.get(key, lambda: self._get(path, query, raw=True))


def _quietly(read: Callable[[KubeCluster], object], cluster: KubeCluster) -> None:
    """A read ahead: its error is cached for the check that makes the read itself."""
    try:
        read(cluster)
    except Exception:  # noqa: BLE001 - reported by the check that reads it, not here
        pass


class _NoAnswer(Exception):
    """The API server gave no (complete) answer: the reason."""


def _root_cause(exc: BaseException) -> str:
    """`connection refused` rather than a urllib3 wrapper's repr."""
    seen = exc
    while True:
        nxt = getattr(seen, "reason", None) or seen.__cause__ or seen.__context__
        if nxt is None or nxt is seen or not isinstance(nxt, BaseException):
            break
        seen = nxt
    text = str(seen)
    for marker in ("Connection refused", "timed out", "Name or service not known", "certificate verify failed"):
        if marker.lower() in text.lower():
            return marker.lower()
    return text.split(": ", 1)[-1][:200]
