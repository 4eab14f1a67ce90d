"""CPU and memory usage against capacity and limits (what `kubectl top` shows)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Iterable

from kubernetes.utils import parse_quantity

Obj = dict[str, Any]


def quantity(value: str | int | float | None) -> Decimal:
    return parse_quantity(value) if value not in (None, "") else Decimal(0)


def node_usage_percent(node_metrics: Iterable[Obj], nodes: Iterable[Obj], resource: str) -> list[dict[str, Any]]:
    """Per node: usage / allocatable for `resource` ("cpu" or "memory"), in percent."""
    allocatable = {n["metadata"]["name"]: quantity((n.get("status") or {}).get("allocatable", {}).get(resource))
                   for n in nodes}
    rows = []
    for m in node_metrics:
        name = m["metadata"]["name"]
        alloc = allocatable.get(name)
        if not alloc:
            continue
        used = quantity(m["usage"].get(resource))
        rows.append({"object": name, "percent": round(float(used / alloc * 100), 1),
                     "used": _human(resource, used), "allocatable": _human(resource, alloc)})
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
        used = {r: sum((quantity(c["usage"].get(r)) for c in m.get("containers") or []), Decimal(0))
                for r in ("cpu", "memory")}
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
