"""CPU and memory usage against capacity and limits (what `kubectl top` shows)."""

from __future__ import annotations

import functools
import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kubernetes.utils import parse_quantity

Obj = dict[str, Any]


@functools.lru_cache(maxsize=4096)
def _cached_quantity(value: str) -> Decimal:
    # a cluster's limits and usages repeat ("500m", "256Mi"): parse each string once
    return parse_quantity(value)


def quantity(value: str | int | float | None) -> Decimal:
    """A Kubernetes quantity ("500m", "256Mi", 2) as a Decimal; absent or empty is 0."""
    if value is None or value == "":
        return Decimal(0)
    if isinstance(value, str):
        return _cached_quantity(value)
    return parse_quantity(value)


def node_usage_percent(node_metrics: Iterable[Obj], nodes: Iterable[Obj], resource: str) -> list[dict[str, Any]]:
    """Per node: usage / allocatable for `resource` ("cpu" or "memory"), in percent."""
    allocatable = {
        n["metadata"]["name"]: quantity((n.get("status") or {}).get("allocatable", {}).get(resource)) for n in nodes
    }
    rows = []
    for m in node_metrics:
        name = m["metadata"]["name"]
        alloc = allocatable.get(name)
        if not alloc:
            continue
        used = quantity(m["usage"].get(resource))
        rows.append(
            {
                "object": name,
                "percent": round(float(used / alloc * 100), 1),
                "used": _human(resource, used),
                "allocatable": _human(resource, alloc),
            }
        )
    return sorted(rows, key=lambda r: -r["percent"])


def over_threshold(rows: list[dict[str, Any]], limit: float) -> list[dict[str, Any]]:
    return [{"object": r["object"], "detail": f"{r['percent']:g}% used"} for r in rows if r["percent"] > limit]


@dataclass
class NamespaceUsage:
    """One namespace's containers against their limits: how many were judged, the highest
    share of a limit seen, and every container over a threshold."""

    pods: int = 0
    containers: int = 0
    unlimited: int = 0  # containers with neither a CPU nor a memory limit: not judged
    highest: dict[str, tuple[float, str]] = field(default_factory=dict)  # resource -> (percent, container)
    over: list[str] = field(default_factory=list)


@dataclass
class ContainerUsage:
    """`kubectl top pod --containers` against limits, for a whole selection of pods, kept
    as per-namespace aggregates plus the offenders: a row per container would be 100k rows
    at 50k pods, held in memory and written to every record for nothing an auditor reads."""

    namespaces: dict[str, NamespaceUsage] = field(default_factory=dict)
    offenders: list[dict[str, Any]] = field(default_factory=list)

    @property
    def containers(self) -> int:
        return sum(n.containers for n in self.namespaces.values())

    @property
    def judged(self) -> int:
        """Containers with a sample and at least one limit to judge it against."""
        return sum(n.containers - n.unlimited for n in self.namespaces.values())

    def rows(self) -> list[dict[str, Any]]:
        """A row per namespace: containers judged, the highest CPU and memory share of a
        limit and where, the containers over a threshold (all of them, named)."""
        out = []
        for ns, u in sorted(self.namespaces.items()):
            row: dict[str, Any] = {"object": ns, "pods": u.pods, "containers": u.containers, "no limit": u.unlimited}
            for r in RESOURCES:
                percent, where = u.highest.get(r, (None, ""))
                row[f"highest {r} % of limit"] = None if percent is None else round(percent, 1)
                row[f"highest {r} in"] = where
            row["over threshold"] = "; ".join(u.over)
            out.append(row)
        return out


RESOURCES = ("cpu", "memory")


def container_usage(
    pod_metrics: Iterable[Obj], pods: Iterable[Obj], cpu_percent: float, memory_percent: float
) -> ContainerUsage:
    """Every container with a usage sample (metrics.k8s.io) and a spec in `pods`: usage /
    limit for cpu and memory, in percent (no limit: not judged on that resource). Over
    `cpu_percent` or `memory_percent` of a limit is an offender. One pass over each list."""
    thresholds = {"cpu": cpu_percent, "memory": memory_percent}
    limits: dict[tuple[str, str], dict[str, tuple[Decimal, Decimal]]] = {}
    for p in pods:
        by_container = {}
        for c in p["spec"]["containers"]:
            lim = (c.get("resources") or {}).get("limits") or {}
            by_container[c["name"]] = (quantity(lim.get("cpu")), quantity(lim.get("memory")))
        limits[(p["metadata"]["namespace"], p["metadata"]["name"])] = by_container
    result = ContainerUsage()
    for m in pod_metrics:
        ns, name = m["metadata"]["namespace"], m["metadata"]["name"]
        specs = limits.get((ns, name))
        if specs is None:
            continue
        usage = result.namespaces.get(ns)
        if usage is None:
            usage = result.namespaces[ns] = NamespaceUsage()
        usage.pods += 1
        for c in m.get("containers") or []:
            lim = specs.get(c["name"])
            if lim is None:
                continue
            usage.containers += 1
            if not any(lim):
                usage.unlimited += 1
                continue
            where = f"{name}/{c['name']}"
            over = []
            for r, limit in zip(RESOURCES, lim, strict=True):
                if not limit:
                    continue
                used = quantity(c["usage"].get(r))
                percent = float(used / limit * 100)
                if percent > usage.highest.get(r, (-1.0, ""))[0]:
                    usage.highest[r] = (percent, where)
                if percent > thresholds[r]:
                    label = "CPU" if r == "cpu" else "memory"
                    over.append(f"{label} {percent:.0f}% of limit {_human(r, limit)}")
            if over:
                detail = ", ".join(over)
                usage.over.append(f"{where} ({detail})")
                result.offenders.append({"object": f"{ns}/{where}", "detail": detail})
    return result


def _human(resource: str, value: Decimal) -> str:
    if resource == "cpu":
        return f"{int(value * 1000)}m"
    return f"{int(value / (1024 * 1024))}Mi"


def top_pods(pod_metrics: Iterable[Obj], pods: Iterable[Obj], n: int, resource: str = "memory") -> list[dict[str, Any]]:
    """`kubectl top pods -A --sort-by=memory | head -n`: the `n` heaviest pods, with their
    usage against the pod's limit (the sum of its containers' limits; None when a
    container has no limit). Only the `n` heaviest are kept while the metrics are walked,
    then their pods' limits are read."""

    def usage(m: Obj) -> tuple[tuple[str, str], dict[str, Decimal]]:
        used = {r: sum((quantity(c["usage"].get(r)) for c in m.get("containers") or []), Decimal(0)) for r in RESOURCES}
        return (m["metadata"]["namespace"], m["metadata"]["name"]), used

    # ties keep the metrics API's order, as a stable sort would
    heaviest = heapq.nlargest(
        n, ((used[resource], -i, key, used) for i, (key, used) in enumerate(map(usage, pod_metrics)))
    )
    wanted = {key for _, _, key, _ in heaviest}
    limits: dict[tuple[str, str], dict[str, Decimal | None]] = {}
    for p in pods:
        key = (p["metadata"]["namespace"], p["metadata"]["name"])
        if key in wanted:
            limits[key] = {}
            for r in RESOURCES:
                values = [((c.get("resources") or {}).get("limits") or {}).get(r) for c in p["spec"]["containers"]]
                limits[key][r] = sum((quantity(v) for v in values), Decimal(0)) if all(values) else None
    rows = []
    for _, _, key, used in heaviest:
        lim = limits.get(key, {"cpu": None, "memory": None})
        row: dict[str, Any] = {"object": f"{key[0]}/{key[1]}"}
        for r in RESOURCES:
            row[r] = _human(r, used[r])
            row[f"{r}_limit"] = _human(r, lim[r]) if lim[r] else "none"
            row[f"{r}_percent"] = round(float(used[r] / lim[r] * 100), 1) if lim[r] else None
        rows.append(row)
    return rows


def unbound_claims(pvcs: Iterable[Obj]) -> list[dict[str, Any]]:
    """PersistentVolumeClaims not Bound, with their phase."""
    return [
        {
            "object": f"{p['metadata']['namespace']}/{p['metadata']['name']}",
            "detail": (p.get("status") or {}).get("phase", "Unknown"),
        }
        for p in pvcs
        if (p.get("status") or {}).get("phase") != "Bound"
    ]


def disk_usage_rows(samples: Iterable[tuple[str, Any]]) -> list[dict[str, Any]]:
    """A row per (label, Prometheus sample) of volume or filesystem usage (a 0..1 ratio)."""
    rows = []
    for label, s in samples:
        name = (
            f"{s.labels.get('namespace', '')}/{s.labels['persistentvolumeclaim']}"
            if "persistentvolumeclaim" in s.labels
            else f"{s.labels.get('instance', '')}:{s.labels.get('mountpoint', s.labels.get('device', ''))}"
        )
        rows.append({"object": f"{label} {name}", "percent": round(s.value * 100, 1)})
    return rows


def over_percent(rows: Iterable[dict[str, Any]], limit: float, what: str = "used") -> list[dict[str, Any]]:
    """The rows whose `percent` is over `limit`, with a detail."""
    return [r | {"detail": f"{r['percent']}% {what}"} for r in rows if r["percent"] > limit]


def top_usage_findings(
    nodes: list[Obj],
    node_metrics: list[Obj],
    pod_metrics: list[Obj],
    pods: list[Obj],
    top: int,
    memory_limit_percent: float,
    unhealthy_nodes: set[str],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """What `kubectl top nodes` and `kubectl top pods` show: (one table of nodes and the
    heaviest pods, the heaviest pods by memory, offenders: nodes not known unhealthy
    without usage and pods over `memory_limit_percent` of their limit, the nodes reporting usage)."""
    node_rows = node_usage_percent(node_metrics, nodes, "cpu")
    memory = {r["object"]: r for r in node_usage_percent(node_metrics, nodes, "memory")}
    reported = {r["object"] for r in node_rows}
    offenders = [
        {"object": f"node/{n['metadata']['name']}", "detail": "no usage reported (metrics-server has none)"}
        for n in nodes
        if n["metadata"]["name"] not in reported | unhealthy_nodes
    ]
    # one table, as the two commands print it: nodes against allocatable, pods against limits
    table = [
        {
            "object": f"node/{r['object']}",
            "cpu": r["used"],
            "memory": memory.get(r["object"], {}).get("used", ""),
            "cpu %": r["percent"],
            "memory %": memory.get(r["object"], {}).get("percent", ""),
            "of": f"allocatable {r['allocatable']} / {memory.get(r['object'], {}).get('allocatable', '')}",
        }
        for r in node_rows
    ]
    heaviest = top_pods(pod_metrics, pods, top)
    table += [
        {
            "object": r["object"],
            "cpu": r["cpu"],
            "memory": r["memory"],
            "cpu %": r["cpu_percent"],
            "memory %": r["memory_percent"],
            "of": f"limit {r['cpu_limit']} / {r['memory_limit']}",
        }
        for r in heaviest
    ]
    offenders += [
        {
            "object": r["object"],
            "detail": f"memory {r['memory']} is {r['memory_percent']:g}% of its {r['memory_limit']} limit",
        }
        for r in heaviest
        if r["memory_percent"] is not None and r["memory_percent"] > memory_limit_percent
    ]
    return table, heaviest, offenders, node_rows
