"""CPU and memory usage against capacity and limits (what `kubectl top` shows)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from kubernetes.utils import parse_quantity

Obj = dict[str, Any]


def quantity(value: str | int | float | None) -> Decimal:
    return parse_quantity(value) if value not in (None, "") else Decimal(0)


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


def container_usage_vs_limits(pod_metrics: Iterable[Obj], pods: Iterable[Obj]) -> list[dict[str, Any]]:
    """Per container with a limit: usage / limit for cpu and memory, in percent."""
    limits: dict[tuple[str, str, str], dict[str, Decimal]] = {}
    for p in pods:
        ns, name = p["metadata"]["namespace"], p["metadata"]["name"]
        for c in p["spec"]["containers"]:
            lim = (c.get("resources") or {}).get("limits") or {}
            limits[(ns, name, c["name"])] = {r: quantity(lim.get(r)) for r in ("cpu", "memory")}
    rows = []
    for m in pod_metrics:
        ns, name = m["metadata"]["namespace"], m["metadata"]["name"]
        for c in m.get("containers") or []:
            lim = limits.get((ns, name, c["name"]))
            if lim is None:
                continue
            row: dict[str, Any] = {"object": f"{ns}/{name}", "container": c["name"]}
            for r in ("cpu", "memory"):
                used = quantity(c["usage"].get(r))
                row[f"{r}_used"] = _human(r, used)
                row[f"{r}_limit"] = _human(r, lim[r]) if lim[r] else "none"
                row[f"{r}_percent"] = float(used / lim[r] * 100) if lim[r] else None
            rows.append(row)
    return rows


def _human(resource: str, value: Decimal) -> str:
    if resource == "cpu":
        return f"{int(value * 1000)}m"
    return f"{int(value / (1024 * 1024))}Mi"


def top_pods(pod_metrics: Iterable[Obj], pods: Iterable[Obj], n: int, resource: str = "memory") -> list[dict[str, Any]]:
    """`kubectl top pods -A --sort-by=memory | head -n`: the `n` heaviest pods, with their
    usage against the pod's limit (the sum of its containers' limits; None when a
    container has no limit)."""
    limits: dict[tuple[str, str], dict[str, Decimal | None]] = {}
    for p in pods:
        totals: dict[str, Decimal | None] = {}
        for r in ("cpu", "memory"):
            values = [((c.get("resources") or {}).get("limits") or {}).get(r) for c in p["spec"]["containers"]]
            totals[r] = sum((quantity(v) for v in values), Decimal(0)) if all(values) else None
        limits[(p["metadata"]["namespace"], p["metadata"]["name"])] = totals
    rows = []
    for m in pod_metrics:
        key = (m["metadata"]["namespace"], m["metadata"]["name"])
        used = {
            r: sum((quantity(c["usage"].get(r)) for c in m.get("containers") or []), Decimal(0))
            for r in ("cpu", "memory")
        }
        lim = limits.get(key, {"cpu": None, "memory": None})
        row: dict[str, Any] = {"object": f"{key[0]}/{key[1]}"}
        for r in ("cpu", "memory"):
            row[r] = _human(r, used[r])
            row[f"{r}_limit"] = _human(r, lim[r]) if lim[r] else "none"
            row[f"{r}_percent"] = round(float(used[r] / lim[r] * 100), 1) if lim[r] else None
        row["_sort"] = used[resource]
        rows.append(row)
    rows.sort(key=lambda r: r["_sort"], reverse=True)
    for r in rows:
        del r["_sort"]
    return rows[:n]


def containers_over_limits(
    rows: Iterable[dict[str, Any]], cpu_percent: float, memory_percent: float
) -> list[dict[str, Any]]:
    """The containers (rows of `container_usage_vs_limits`) using more than the given share of a limit."""
    offenders = []
    for r in rows:
        over = []
        if r["cpu_percent"] is not None and r["cpu_percent"] > cpu_percent:
            over.append(f"CPU {r['cpu_percent']:.0f}% of limit {r['cpu_limit']}")
        if r["memory_percent"] is not None and r["memory_percent"] > memory_percent:
            over.append(f"memory {r['memory_percent']:.0f}% of limit {r['memory_limit']}")
        if over:
            offenders.append({"object": f"{r['object']}/{r['container']}", "detail": ", ".join(over)})
    return offenders


def rounded(row: dict[str, Any]) -> dict[str, Any]:
    """The row with its floats to one decimal, for the evidence table."""
    return {k: (round(v, 1) if isinstance(v, float) else v) for k, v in row.items()}


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
