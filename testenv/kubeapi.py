"""A small REST client for the test environment's Kubernetes clusters (admin identity).

Unlike the suite (opscheck/sources/kube.py, GET only), the test environment writes: it
applies the demo objects and injects faults. Both use ONE kind table: the collection
paths of opscheck.sources.kube.KINDS; this module only adds the manifests' kind names
(Deployment, ...) that point into it.

    api = KubeApi(kubeconfig_path, context)
    api.get("Deployment", "qsign", "api-server")      # None when absent
    api.list_("Pod", "qsign", "app=api-server")
    api.apply(obj); api.patch(...); api.delete(...)   # delete waits until it is gone
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from opscheck.sources.kube import CLUSTER_SCOPED, KINDS
from testenv.procs import wait_for

# Which release of a tool installed a CRD (KubeApi.install_crds).
BUNDLE_ANNOTATION = "opscheck.testenv/bundle"

FIELD_MANAGER = "opscheck-testenv"
DEFAULT_TIMEOUT = 120.0

# Kind as the manifests spell it -> its key in opscheck.sources.kube.KINDS.
KIND_KEYS: dict[str, str] = {
    "Namespace": "namespaces",
    "Node": "nodes",
    "PersistentVolume": "persistentvolumes",
    "ServiceAccount": "serviceaccounts",
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "Service": "services",
    "Endpoints": "endpoints",
    "PersistentVolumeClaim": "persistentvolumeclaims",
    "Pod": "pods",
    "Event": "events",
    "Deployment": "deployments",
    "StatefulSet": "statefulsets",
    "ReplicaSet": "replicasets",
    "ControllerRevision": "controllerrevisions",
    "DaemonSet": "daemonsets",
    "Job": "jobs",
    "CronJob": "cronjobs",
    "Ingress": "ingresses",
    "IngressClass": "ingressclasses",
    "StorageClass": "storageclasses",
    "PodDisruptionBudget": "poddisruptionbudgets",
    "ClusterRole": "clusterroles",
    "ClusterRoleBinding": "clusterrolebindings",
    "Role": "roles",
    "RoleBinding": "rolebindings",
    "NetworkPolicy": "networkpolicies",
    "CustomResourceDefinition": "customresourcedefinitions",
    "Certificate": "certificates",
    "VulnerabilityReport": "vulnerabilityreports",
    "PeerAuthentication": "peerauthentications",
    "HorizontalPodAutoscaler": "horizontalpodautoscalers",
    "Backup": "velero-backups",
    "Schedule": "velero-schedules",
    "ExternalSecret": "externalsecrets",
    "Application": "argocd-applications",
}
_KIND_ALIASES = {k.lower(): k for k in KIND_KEYS}
_KIND_ALIASES.update({KINDS[key].rsplit("/", 1)[1]: kind for kind, key in KIND_KEYS.items()})
_KIND_ALIASES.update(
    {
        "deploy": "Deployment",
        "sts": "StatefulSet",
        "pvc": "PersistentVolumeClaim",
        "pv": "PersistentVolume",
        "svc": "Service",
        "cm": "ConfigMap",
        "ns": "Namespace",
        "pdb": "PodDisruptionBudget",
        "ing": "Ingress",
        "cj": "CronJob",
        "rs": "ReplicaSet",
        "ev": "Event",
        "ep": "Endpoints",
        "sa": "ServiceAccount",
        "sc": "StorageClass",
    }
)


def canonical_kind(kind: str) -> str:
    """'deploy', 'deployments', 'deployment' -> 'Deployment'."""
    try:
        return _KIND_ALIASES[kind.lower()]
    except KeyError:
        raise ValueError(f"unknown kind {kind!r}; known: {', '.join(KIND_KEYS)}") from None


def namespaced(kind: str) -> bool:
    return KIND_KEYS[canonical_kind(kind)] not in CLUSTER_SCOPED


def api_version(kind: str) -> str:
    """'v1', 'apps/v1', ... as opscheck's collection path of the kind has it."""
    group_version = KINDS[KIND_KEYS[canonical_kind(kind)]].rsplit("/", 1)[0]
    return group_version.removeprefix("/api/").removeprefix("/apis/")


def api_path(
    kind: str, namespace: str | None = None, name: str | None = None, sub: str | None = None, version: str | None = None
) -> str:
    """URL path of a collection, an object or its subresource; `version` ("group/version")
    overrides the table's, for a custom resource served in several versions."""
    kind = canonical_kind(kind)
    prefix, plural = KINDS[KIND_KEYS[kind]].rsplit("/", 1)
    if version is not None:
        prefix = "/api/v1" if version == "v1" else f"/apis/{version}"
    path = prefix
    if namespace and namespaced(kind):
        path += f"/namespaces/{namespace}"
    path += f"/{plural}"
    if name:
        path += f"/{name}"
    if sub:
        path += f"/{sub}"
    return path


def object_path(obj: dict) -> str:
    """An object's URL from its own apiVersion and kind."""
    md = obj["metadata"]
    return api_path(obj["kind"], md.get("namespace"), md["name"], version=obj["apiVersion"])


def selector(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in labels.items())


class ApiError(RuntimeError):
    def __init__(self, status: int, reason: str, body: str):
        super().__init__(f"HTTP {status} {reason}: {body[:500]}")
        self.status = status
        self.reason = reason
        self.body = body


class KubeApi:
    """Requests to one cluster with the identity of one kubeconfig; the underlying
    kubernetes ApiClient is rebuilt when the kubeconfig file changes (a new cluster CA
    or token after the cluster was recreated)."""

    def __init__(self, kubeconfig: Path | Callable[[], Path], context: str):
        self._kubeconfig = kubeconfig
        self.context = context
        self._client: tuple[tuple[str, int], Any] | None = None

    @property
    def kubeconfig(self) -> Path:
        return self._kubeconfig() if callable(self._kubeconfig) else self._kubeconfig

    def client(self):
        """kubernetes.client.ApiClient for this kubeconfig and context."""
        from kubernetes import config

        path = self.kubeconfig
        key = (str(path), path.stat().st_mtime_ns)
        if self._client is None or self._client[0] != key:
            self._client = (key, config.new_client_from_config(config_file=str(path), context=self.context))
        return self._client[1]

    def forget_client(self) -> None:
        self._client = None

    def get_path(self, path: str) -> Any:
        """GET `path` (for kinds this client has no table entry for); None when it is absent (404)."""
        try:
            return self.request("GET", path)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict | None = None,
        content_type: str = "application/json",
        raw: bool = False,
        timeout: float = 30,
    ) -> Any:
        """One call to the API server; returns decoded JSON (or text with raw=True)."""
        from kubernetes.client.exceptions import ApiException

        headers = {"Accept": "application/json"}
        if body is not None:
            # the client serializes the body itself (JSON, which apply-patch+yaml accepts too)
            headers["Content-Type"] = content_type
        try:
            resp = self.client().call_api(
                path,
                method,
                query_params=list((query or {}).items()),
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _return_http_data_only=True,
                _request_timeout=timeout,
            )
        except ApiException as exc:
            raise ApiError(
                exc.status,
                exc.reason,
                exc.body.decode(errors="replace") if isinstance(exc.body, bytes) else str(exc.body),
            ) from None
        text = resp.data.decode()
        if raw:
            return text
        return json.loads(text) if text else None

    def ready(self) -> bool:
        return self.request("GET", "/readyz", raw=True, timeout=5).strip() == "ok"

    def get(self, kind: str, namespace: str | None, name: str, sub: str | None = None) -> dict | None:
        try:
            return self.request("GET", api_path(kind, namespace, name, sub))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def list_(
        self, kind: str, namespace: str | None = None, selector: str | None = None, field_selector: str | None = None
    ) -> list[dict]:
        q = {}
        if selector:
            q["labelSelector"] = selector
        if field_selector:
            q["fieldSelector"] = field_selector
        return self.request("GET", api_path(kind, namespace), query=q)["items"]

    def create(self, obj: dict, *, field_manager: str = FIELD_MANAGER) -> dict:
        return self.request(
            "POST", api_path(obj["kind"], obj["metadata"].get("namespace")), obj, query={"fieldManager": field_manager}
        )

    def patch(
        self,
        kind: str,
        namespace: str | None,
        name: str,
        body: Any,
        *,
        sub: str | None = None,
        kind_of_patch: str = "merge",
    ) -> dict:
        """A merge/JSON/strategic patch, under the field manager opscheck-testenv-fault (so
        the manifests' server-side apply takes its fields back)."""
        ctype = {
            "merge": "application/merge-patch+json",
            "json": "application/json-patch+json",
            "strategic": "application/strategic-merge-patch+json",
        }[kind_of_patch]
        return self.request(
            "PATCH",
            api_path(kind, namespace, name, sub),
            body,
            content_type=ctype,
            query={"fieldManager": FIELD_MANAGER + "-fault"},
        )

    def apply(self, obj: dict, *, force: bool = True, field_manager: str = FIELD_MANAGER) -> dict:
        """Server-side apply of one object, at the URL of its own apiVersion."""
        q = {"fieldManager": field_manager}
        if force:
            q["force"] = "true"
        return self.request("PATCH", object_path(obj), obj, content_type="application/apply-patch+yaml", query=q)

    def create_if_missing(self, obj: dict) -> dict:
        md = obj["metadata"]
        existing = self.get(obj["kind"], md.get("namespace"), md["name"])
        if existing is not None:
            return existing
        try:
            return self.create(obj)
        except ApiError as exc:
            if exc.status == 409:
                return self.get(obj["kind"], md.get("namespace"), md["name"])
            raise

    def delete(self, kind: str, namespace: str | None, name: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Delete an object (background propagation) and wait until the API no longer has
        it. The Events about it go too (a real cluster keeps them for an hour; a self-test
        that repairs by deleting wants them gone, e.g. a Pending PVC's events)."""
        kind = canonical_kind(kind)
        ns = namespace if namespaced(kind) else None
        try:
            self.request("DELETE", api_path(kind, ns, name), {"propagationPolicy": "Background"})
        except ApiError as exc:
            if exc.status != 404:
                raise
        wait_for(lambda: self.get(kind, ns, name) is None, timeout, f"{kind} {name} deleted")
        if kind != "Event" and namespace:
            self.delete_events_of(namespace, kind, name, warning_only=False)

    def crd_established(self, name: str) -> bool:
        """The CustomResourceDefinition `name` exists and its API is served (Established)."""
        crd = self.get("CustomResourceDefinition", None, name)
        return any(
            c.get("type") == "Established" and c.get("status") == "True"
            for c in ((crd or {}).get("status") or {}).get("conditions") or []
        )

    def install_crds(self, crds: list[dict], bundle: str, timeout: float) -> None:
        """A real tool's CRDs (`bundle`: its name and release) installed, each replacing
        whole another release's or a hand-written stand-in's (a merge would keep an old
        schema), then waited for until Established."""
        for crd in crds:
            name = crd["metadata"]["name"]
            crd["metadata"].setdefault("annotations", {})[BUNDLE_ANNOTATION] = bundle
            crd.pop("status", None)
            existing = self.get("CustomResourceDefinition", None, name)
            if existing is None:
                self.create_if_missing(crd)
            elif (existing["metadata"].get("annotations") or {}).get(BUNDLE_ANNOTATION) != bundle:
                crd["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"]
                self.request("PUT", api_path("CustomResourceDefinition", None, name), crd)
        for crd in crds:
            name = crd["metadata"]["name"]
            wait_for(lambda n=name: self.crd_established(n), timeout, f"CRD {name} Established")

    def delete_events_of(self, namespace: str, kind: str, name: str, warning_only: bool = True) -> int:
        """Delete the (Warning) Events about one object: a repaired fault's warnings would stay
        an hour, failing the daily warning-events check of every run after the repair."""
        return self.delete_events(namespace, lambda o: o.get("kind") == kind and o.get("name") == name, warning_only)

    def delete_events(self, namespace: str, about: Callable[[dict], bool], warning_only: bool = True) -> int:
        """Delete the Events in `namespace` whose involvedObject satisfies `about`."""
        n = 0
        for e in self.list_("Event", namespace):
            if warning_only and e.get("type") != "Warning":
                continue
            if not about(e.get("involvedObject") or {}):
                continue
            self._delete_quietly("Event", namespace, e["metadata"]["name"])
            n += 1
        return n

    def clear_events(self, namespace: str, type: str | None = "Warning") -> int:
        """Delete the Events of a namespace (only those of `type`, unless None), e.g. the
        BackOff warnings a crashloop fault left, so the next test starts clean. Returns how
        many were deleted."""
        events = [e for e in self.list_("Event", namespace) if type is None or e.get("type") == type]
        for e in events:
            self._delete_quietly("Event", namespace, e["metadata"]["name"])
        return len(events)

    def _delete_quietly(self, kind: str, namespace: str | None, name: str) -> None:
        try:
            self.request("DELETE", api_path(kind, namespace, name))
        except ApiError as exc:
            if exc.status != 404:
                raise

    def metrics_nodes(self) -> list[dict]:
        return self.request("GET", "/apis/metrics.k8s.io/v1beta1/nodes")["items"]

    def metrics_pods(self, namespace: str) -> list[dict]:
        return self.request("GET", f"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods")["items"]

    def pod_log(self, namespace: str, pod: str, container: str, since_seconds: int | None = None) -> str:
        q: dict[str, Any] = {"container": container}
        if since_seconds is not None:
            q["sinceSeconds"] = since_seconds
        return self.request("GET", f"/api/v1/namespaces/{namespace}/pods/{pod}/log", query=q, raw=True)
