"""Health rules for pods, workloads and nodes, as the runbooks' kubectl one-liners mean them.

Plain functions over raw API objects (dicts), each returning offending rows
`{"object": "ns/name", "detail": "why", ...}` for `Evidence.expect_none`.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from opscheck.timeutil import parse_time

Obj = dict[str, Any]
Row = dict[str, Any]

# Container waiting reasons that mean the pod is broken, not just starting.
BAD_WAITING = {
    "CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError",
    "CreateContainerError", "InvalidImageName", "RunContainerError",
}
NODE_PRESSURE = ("MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")


def ref(obj: Obj) -> str:
    meta = obj["metadata"]
    return f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]


def owner_kind(obj: Obj) -> str | None:
    owners = obj["metadata"].get("ownerReferences") or []
    return owners[0]["kind"] if owners else None


def pod_problem(pod: Obj) -> str | None:
    """Why a pod is not healthy, or None. Completed Job pods are healthy."""
    status = pod.get("status") or {}
    phase = status.get("phase", "Unknown")
    if pod["metadata"].get("deletionTimestamp"):
        return None  # terminating: on its way out, not a fault in itself
    if phase == "Succeeded":
        return None
    if phase == "Failed" and owner_kind(pod) == "Job":
        return None  # the Job reports its own failure (backup checks read Jobs)
    for cs in status.get("initContainerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in BAD_WAITING:
            return f"init container {cs['name']}: {waiting['reason']}"
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in BAD_WAITING:
            return waiting["reason"]
    if phase != "Running":
        reason = status.get("reason") or ""
        unschedulable = next(
            (c.get("reason") for c in status.get("conditions") or []
             if c.get("type") == "PodScheduled" and c.get("status") == "False"), None)
        return f"{phase}" + (f", {reason or unschedulable}" if (reason or unschedulable) else "")
    not_ready = [cs["name"] for cs in status.get("containerStatuses") or [] if not cs.get("ready")]
    if not_ready:
        return f"Running but not ready: {', '.join(not_ready)}"
    return None


def unhealthy_pods(pods: Iterable[Obj]) -> list[Row]:
    rows = []
    for pod in pods:
        problem = pod_problem(pod)
        if problem:
            rows.append({"object": ref(pod), "detail": problem,
                         "phase": (pod.get("status") or {}).get("phase", "Unknown"),
                         "node": pod.get("spec", {}).get("nodeName", "")})
    return sorted(rows, key=lambda r: r["object"])


def restart_counts(pods: Iterable[Obj], max_restarts: int) -> list[Row]:
    rows = []
    for pod in pods:
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            n = cs.get("restartCount", 0)
            if n > max_restarts:
                rows.append({"object": ref(pod), "detail": f"{cs['name']} restarted {n} times",
                             "restarts": n})
    return rows


def oom_killed(pods: Iterable[Obj], since: datetime) -> list[Row]:
    """Containers whose last or current termination is OOMKilled, finished after `since`."""
    rows = []
    for pod in pods:
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            for which in ("lastState", "state"):
                term = (cs.get(which) or {}).get("terminated") or {}
                if term.get("reason") != "OOMKilled":
                    continue
                finished = parse_time(term.get("finishedAt"))
                if finished is None or finished >= since:
                    rows.append({"object": ref(pod), "detail": f"{cs['name']} OOMKilled at {term.get('finishedAt')}",
                                 "container": cs["name"], "restarts": cs.get("restartCount", 0)})
    return rows


def replica_shortfalls(workloads: Iterable[tuple[str, Obj]], min_replicas: dict[str, int], default_min: int) -> list[Row]:
    """Workloads with fewer available replicas than desired, or desired under the minimum.

    `min_replicas` maps "Kind/ns/name" to the profile's minimum for that workload.
    """
    rows = []
    for kind, obj in workloads:
        name = ref(obj)
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        desired = spec.get("replicas", 1)
        available = status.get("availableReplicas", 0) if kind == "Deployment" else status.get("readyReplicas", 0)
        minimum = min_replicas.get(f"{kind}/{name}", default_min)
        problems = []
        if available < desired:
            problems.append(f"{available}/{desired} available")
        if desired < minimum:
            problems.append(f"{desired} desired, minimum is {minimum}")
        if problems:
            rows.append({"object": f"{kind.lower()}/{name}", "detail": "; ".join(problems),
                         "desired": desired, "available": available, "minimum": minimum})
    return rows


def node_problems(nodes: Iterable[Obj]) -> list[Row]:
    rows = []
    for node in nodes:
        conds = {c["type"]: c for c in (node.get("status") or {}).get("conditions") or []}
        problems = []
        ready = conds.get("Ready")
        if ready is None or ready.get("status") != "True":
            problems.append(f"NotReady ({(ready or {}).get('reason', 'no Ready condition')})")
        problems += [t for t in NODE_PRESSURE if conds.get(t, {}).get("status") == "True"]
        if (node.get("spec") or {}).get("unschedulable"):
            problems.append("cordoned")
        if problems:
            rows.append({"object": node["metadata"]["name"], "detail": ", ".join(problems)})
    return rows


def recent(ts: datetime | None, window: timedelta, now: datetime | None = None) -> bool:
    now = now or datetime.now(timezone.utc)
    return ts is not None and now - ts <= window
