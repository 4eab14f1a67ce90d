"""Housekeeping: resources nothing uses (PVCs no pod mounts, ConfigMaps and Secrets
nothing references, Released PersistentVolumes) and workloads that request far more than
they use (`kubectl get pv | grep Released`, `kubectl top pods` against the requests)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal

from opscheck.rules.objects import Obj, Row, ref
from opscheck.rules.resources import quantity
from opscheck.rules.workloads import workload_of

# The kinds whose pods or pod templates reference PVCs, ConfigMaps and Secrets.
USER_KINDS = ("pods", "deployments", "statefulsets", "daemonsets", "jobs", "cronjobs")
NEVER_UNUSED_CONFIGMAPS = {"kube-root-ca.crt"}
# ServiceAccount tokens, bootstrap tokens and Helm's release records are read by the API
# server, kubeadm and Helm, not by pods.
NEVER_UNUSED_SECRET_TYPES = {
    "kubernetes.io/service-account-token",
    "bootstrap.kubernetes.io/token",
    "helm.sh/release.v1",
}


def _pod_specs(objs: Iterable[Obj]) -> Iterator[tuple[str, Obj]]:
    """(namespace, pod spec) of pods and of workload templates (Deployments, StatefulSets,
    DaemonSets, Jobs, CronJobs), so a ConfigMap a CronJob will use is referenced even
    between its runs."""
    for o in objs:
        ns = o["metadata"]["namespace"]
        spec = o.get("spec") or {}
        if "jobTemplate" in spec:
            spec = spec["jobTemplate"].get("spec") or {}
        if "template" in spec:
            spec = (spec["template"] or {}).get("spec") or {}
        yield ns, spec


def _containers(spec: Obj) -> Iterator[Obj]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(key) or []


def references(
    objs: Iterable[Obj], ingresses: Iterable[Obj] = ()
) -> tuple[set[tuple[str, str]], set[tuple[str, str]], set[tuple[str, str]]]:
    """(ConfigMaps, Secrets, PVCs) referenced, as (namespace, name)."""
    cms: set[tuple[str, str]] = set()
    secrets: set[tuple[str, str]] = set()
    pvcs: set[tuple[str, str]] = set()
    for ns, spec in _pod_specs(objs):
        for v in spec.get("volumes") or []:
            if v.get("configMap"):
                cms.add((ns, v["configMap"].get("name", "")))
            if v.get("secret"):
                secrets.add((ns, v["secret"].get("secretName", "")))
            if v.get("persistentVolumeClaim"):
                pvcs.add((ns, v["persistentVolumeClaim"].get("claimName", "")))
            for src in (v.get("projected") or {}).get("sources") or []:
                if src.get("configMap"):
                    cms.add((ns, src["configMap"].get("name", "")))
                if src.get("secret"):
                    secrets.add((ns, src["secret"].get("name", "")))
        for s in spec.get("imagePullSecrets") or []:
            secrets.add((ns, s.get("name", "")))
        for c in _containers(spec):
            for e in c.get("envFrom") or []:
                if e.get("configMapRef"):
                    cms.add((ns, e["configMapRef"].get("name", "")))
                if e.get("secretRef"):
                    secrets.add((ns, e["secretRef"].get("name", "")))
            for e in c.get("env") or []:
                src = e.get("valueFrom") or {}
                if src.get("configMapKeyRef"):
                    cms.add((ns, src["configMapKeyRef"].get("name", "")))
                if src.get("secretKeyRef"):
                    secrets.add((ns, src["secretKeyRef"].get("name", "")))
    for ing in ingresses:
        for tls in (ing.get("spec") or {}).get("tls") or []:
            if tls.get("secretName"):
                secrets.add((ing["metadata"]["namespace"], tls["secretName"]))
    return cms, secrets, pvcs


def _ignored(obj: Obj, ignore: set[str]) -> bool:
    return obj["metadata"]["name"] in ignore or ref(obj) in ignore


def _unreferenced(objs: list[Obj], used: set[tuple[str, str]], ignore: set[str]) -> list[Obj]:
    """The objects whose (namespace, name) is not in `used`, that no controller owns and that are not ignored."""
    return [
        o
        for o in objs
        if (o["metadata"]["namespace"], o["metadata"]["name"]) not in used
        and not o["metadata"].get("ownerReferences")
        and not _ignored(o, ignore)
    ]


def unused(
    pvcs: list[Obj],
    configmaps: list[Obj],
    secrets: list[Obj],
    users: list[Obj],
    ingresses: list[Obj],
    kinds: Iterable[str],
    ignore: Iterable[str],
) -> list[Row]:
    """PVCs no pod (or workload template) mounts, ConfigMaps and Secrets nothing
    references. Objects with an owner (made and cleaned up by a controller) do not count."""
    ignore = set(ignore)
    kinds = set(kinds)
    used_cms, used_secrets, used_pvcs = references(users, ingresses)
    rows = []
    if "persistentvolumeclaims" in kinds:
        for pvc in _unreferenced(pvcs, used_pvcs, ignore):
            phase = (pvc.get("status") or {}).get("phase", "")
            rows.append(
                {"object": f"pvc/{ref(pvc)}", "detail": f"{phase}, mounted by no pod", "kind": "PersistentVolumeClaim"}
            )
    if "configmaps" in kinds:
        rows += [
            {"object": f"configmap/{ref(cm)}", "detail": "referenced by no pod or workload", "kind": "ConfigMap"}
            for cm in _unreferenced(configmaps, used_cms, ignore)
            if cm["metadata"]["name"] not in NEVER_UNUSED_CONFIGMAPS
        ]
    if "secrets" in kinds:
        rows += [
            {"object": f"secret/{ref(s)}", "detail": "referenced by no pod, workload or Ingress", "kind": "Secret"}
            for s in _unreferenced(secrets, used_secrets, ignore)
            if s.get("type") not in NEVER_UNUSED_SECRET_TYPES
        ]
    return rows


def released_volumes(pvs: Iterable[Obj]) -> list[Row]:
    rows = []
    for pv in pvs:
        phase = (pv.get("status") or {}).get("phase")
        if phase in ("Released", "Failed"):
            claim = (pv.get("spec") or {}).get("claimRef") or {}
            policy = (pv.get("spec") or {}).get("persistentVolumeReclaimPolicy", "")
            was = f", was {claim.get('namespace')}/{claim.get('name')}" if claim else ""
            rows.append(
                {
                    "object": pv["metadata"]["name"],
                    "detail": f"{phase}{was}, reclaim policy {policy}",
                    "capacity": ((pv.get("spec") or {}).get("capacity") or {}).get("storage", ""),
                }
            )
    return rows


# ----------------------------------------------------------------------------- cost


def _requests(pod: Obj) -> dict[str, Decimal]:
    total = {"cpu": Decimal(0), "memory": Decimal(0)}
    for c in (pod.get("spec") or {}).get("containers") or []:
        req = (c.get("resources") or {}).get("requests") or {}
        for r in total:
            total[r] += quantity(req.get(r))
    return total


def _usage(metrics: Obj) -> dict[str, Decimal]:
    total = {"cpu": Decimal(0), "memory": Decimal(0)}
    for c in metrics.get("containers") or []:
        for r in total:
            total[r] += quantity((c.get("usage") or {}).get(r))
    return total


def _human(resource: str, value: Decimal) -> str:
    return f"{int(value * 1000)}m" if resource == "cpu" else f"{int(value / (1024 * 1024))}Mi"


def request_usage(pods: list[Obj], pod_metrics: list[Obj]) -> list[Row]:
    """Per workload: its running, ready pods' summed requests and usage, for CPU and
    memory. Pods the metrics API has no numbers for yet are left out of both sums; so are
    pods not ready (a crashing container's usage says nothing about its needs) and Job
    pods (batch runs come and go)."""
    metrics = {(m["metadata"]["namespace"], m["metadata"]["name"]): m for m in pod_metrics}
    acc: dict[str, Row] = {}
    for p in pods:
        status = p.get("status") or {}
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        owners = {o.get("kind") for o in p["metadata"].get("ownerReferences") or []}
        if status.get("phase") != "Running" or not ready or p["metadata"].get("deletionTimestamp") or "Job" in owners:
            continue
        m = metrics.get((p["metadata"]["namespace"], p["metadata"]["name"]))
        workload = workload_of(p) or ref(p)
        row = acc.setdefault(
            workload,
            {
                "object": workload,
                "pods": 0,
                "cpu_request": Decimal(0),
                "cpu_used": Decimal(0),
                "memory_request": Decimal(0),
                "memory_used": Decimal(0),
                "without_metrics": 0,
            },
        )
        if m is None:
            row["without_metrics"] += 1
            continue
        row["pods"] += 1
        req, use = _requests(p), _usage(m)
        for r in ("cpu", "memory"):
            row[f"{r}_request"] += req[r]
            row[f"{r}_used"] += use[r]
    return [acc[k] for k in sorted(acc)]


def over_provisioned(
    rows: list[Row], min_usage_percent: float, min_cpu_millicores: float, min_memory_mib: float, ignore: Iterable[str]
) -> tuple[list[Row], list[Row]]:
    """(table rows, offenders): workloads using under `min_usage_percent` of their CPU or
    memory requests. Requests under the per-pod floors are too small to matter."""
    ignore = set(ignore)
    table, offenders = [], []
    floors = {"cpu": Decimal(str(min_cpu_millicores)) / 1000, "memory": Decimal(str(min_memory_mib)) * 1024 * 1024}
    for row in rows:
        if not row["pods"]:
            continue
        out: Row = {"object": row["object"], "pods": row["pods"]}
        problems = []
        for r in ("cpu", "memory"):
            req, used = row[f"{r}_request"], row[f"{r}_used"]
            pct = float(used / req * 100) if req else None
            out[f"{r}_request"] = _human(r, req)
            out[f"{r}_used"] = _human(r, used)
            out[f"{r}_percent"] = round(pct, 1) if pct is not None else None
            if pct is not None and req / row["pods"] >= floors[r] and pct < min_usage_percent:
                problems.append(
                    f"{'CPU' if r == 'cpu' else 'memory'} requests {_human(r, req)}, uses "
                    f"{_human(r, used)} ({pct:.1f}% < {min_usage_percent:g}%)"
                )
        table.append(out)
        if problems and row["object"] not in ignore:
            offenders.append({"object": row["object"], "detail": "; ".join(problems)})
    return table, offenders
