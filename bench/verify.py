"""Scale correctness (issue 13, item 4): every count the daily checks report about a cluster,
read back from results.json, against a straightforward count over the raw LISTs.

The reported side is what users see (the record's notes, measured values and tables, read with
the record's own Evidence type); the expected side counts raw API objects, as returned by the
API server, with none of opscheck's projection, caching or rules. The two are written apart on
purpose: a count that drifts in the library's list path (a lost page, a dropped field a rule
still reads, a namespace filter) shows here as a mismatch.

Used by the bench at every size (bench/__main__.py) and by a self-test on the demo cluster
(selftests/runs/test_daily_run.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.measure import floor
from opscheck.check import Evidence
from opscheck.profile import Profile
from opscheck.timeutil import parse_time
from testenv.cluster import KwokTarget

Obj = dict[str, Any]
# What the daily checks list, by collection path (as the audit log and the floor name them).
PATHS = {
    "pods": "/api/v1/pods",
    "nodes": "/api/v1/nodes",
    "events": "/api/v1/events",
    "services": "/api/v1/services",
    "deployments": "/apis/apps/v1/deployments",
    "statefulsets": "/apis/apps/v1/statefulsets",
    "node-metrics": "/apis/metrics.k8s.io/v1beta1/nodes",
    "pod-metrics": "/apis/metrics.k8s.io/v1beta1/pods",
}
LEADING_COUNT = re.compile(r"^(\d+) ")


@dataclass(frozen=True)
class Count:
    check: str  # the check's id
    what: str  # "examined" (the first note's leading number), "measured" or "rows"
    value: int


def _in(objs: Iterable[Obj], namespaces: Iterable[str]) -> list[Obj]:
    wanted = set(namespaces)
    return [o for o in objs if o["metadata"].get("namespace") in wanted]


def _unhealthy(pod: Obj) -> bool:
    """Not Running with every container ready, and not finished: what `kubectl get pods`
    shows as not Running/Completed (a terminating pod and a failed Job pod aside)."""
    status = pod.get("status") or {}
    phase = status.get("phase")
    if pod["metadata"].get("deletionTimestamp") or phase == "Succeeded":
        return False
    owners = pod["metadata"].get("ownerReferences") or []
    if phase == "Failed" and owners and owners[0].get("kind") == "Job":
        return False
    if phase != "Running":
        return True
    return not all(cs.get("ready") for cs in status.get("containerStatuses") or [])


def _restarting(pods: list[Obj], max_restarts: int) -> int:
    return sum(
        1
        for p in pods
        for cs in (p.get("status") or {}).get("containerStatuses") or []
        if cs.get("restartCount", 0) > max_restarts
    )


def _oom_killed(pods: list[Obj], since: datetime) -> int:
    count = 0
    for p in pods:
        for cs in (p.get("status") or {}).get("containerStatuses") or []:
            for state in (cs.get("lastState"), cs.get("state")):
                term = (state or {}).get("terminated") or {}
                finished = parse_time(term.get("finishedAt"))
                if term.get("reason") == "OOMKilled" and (finished is None or finished >= since):
                    count += 1
    return count


def _node_bad(node: Obj) -> bool:
    conditions = {c["type"]: c.get("status") for c in (node.get("status") or {}).get("conditions") or []}
    pressure = any(conditions.get(t) == "True" for t in ("MemoryPressure", "DiskPressure", "PIDPressure"))
    cordoned = bool((node.get("spec") or {}).get("unschedulable"))
    return conditions.get("Ready") != "True" or pressure or cordoned or conditions.get("NetworkUnavailable") == "True"


def _recent_warnings(events: list[Obj], since: datetime) -> int:
    count = 0
    for ev in events:
        seen = parse_time(ev.get("lastTimestamp") or ev.get("eventTime") or ev["metadata"].get("creationTimestamp"))
        if ev.get("type") == "Warning" and (seen is None or seen >= since):
            count += 1
    return count


def _metric_containers(pods: list[Obj], metrics: list[Obj]) -> int:
    """Containers that have both a usage sample and a spec in one of `pods`."""
    specs = {
        (p["metadata"]["namespace"], p["metadata"]["name"], c["name"]) for p in pods for c in p["spec"]["containers"]
    }
    return sum(
        1
        for m in metrics
        for c in m.get("containers") or []
        if (m["metadata"]["namespace"], m["metadata"]["name"], c["name"]) in specs
    )


def expected_counts(raw: Mapping[str, list[Obj]], profile: Profile, started: datetime) -> list[Count]:
    """The counts the daily checks should report, from the raw LISTs (`raw`: PATHS key ->
    items) of one cluster; `started`: the run's start, the end of its time windows."""
    pods, nodes = raw["pods"], raw["nodes"]
    mine = _in(pods, profile.namespaces)
    system = _in(pods, profile.system_namespaces)
    workloads = _in(raw["deployments"], profile.namespaces) + _in(raw["statefulsets"], profile.namespaces)
    t = profile.thresholds
    counts = [
        Count("daily.pods-running", "examined", len(mine)),
        Count("daily.pods-running", "measured", sum(map(_unhealthy, mine))),
        Count("daily.pods-all-namespaces", "examined", len(pods)),
        Count("daily.pods-all-namespaces", "measured", sum(map(_unhealthy, pods))),
        Count("daily.pod-states", "examined", len(mine)),
        Count("daily.pod-states", "measured", sum(map(_unhealthy, mine)) + _restarting(mine, t.max_restarts)),
        Count("daily.oomkilled", "examined", len(pods)),
        Count("daily.oomkilled", "measured", _oom_killed(pods, started - timedelta(hours=24))),
        Count("daily.kube-system", "examined", len(system)),
        Count("daily.kube-system", "measured", sum(map(_unhealthy, system))),
        Count("daily.replicas", "examined", len(workloads)),
        Count("daily.nodes-ready", "examined", len(nodes)),
        Count("daily.nodes-ready", "measured", sum(map(_node_bad, nodes))),
        Count("daily.endpoints-ready", "examined", len(_in(raw["services"], profile.namespaces))),
        Count("daily.node-cpu", "rows", len(raw["node-metrics"])),
        Count("daily.node-memory", "rows", len(raw["node-metrics"])),
        Count("daily.pod-resources", "examined", _metric_containers(mine, _in(raw["pod-metrics"], profile.namespaces))),
    ]
    window = timedelta(minutes=t.warning_events_window_minutes)
    warnings = _recent_warnings(_in(raw["events"], profile.namespaces), started - window)
    counts += [Count("daily.warning-events", "measured", warnings), Count("daily.warning-events", "rows", warnings)]
    return counts


def reported_counts(results: Mapping[str, Any], cluster: str) -> dict[tuple[str, str], int | None]:
    """(check id, what) -> the number results.json reports for `cluster` (None: the check
    reported none, e.g. it errored)."""
    out: dict[tuple[str, str], int | None] = {}
    for entry in results["checks"]:
        if entry.get("cluster") != cluster:
            continue
        evidence = Evidence(**entry["evidence"]) if entry.get("evidence") else Evidence()
        first = LEADING_COUNT.match(evidence.notes[0]) if evidence.notes else None
        out[(entry["id"], "examined")] = int(first.group(1)) if first else None
        out[(entry["id"], "measured")] = evidence.measured if isinstance(evidence.measured, int) else None
        out[(entry["id"], "rows")] = len(evidence.rows)
    return out


def mismatches(expected: Sequence[list[Count]], reported: Mapping[tuple[str, str], int | None]) -> list[str]:
    """One line per count outside the raw counts of the snapshots (`expected`: the counts
    over each; several when the cluster may change during the run: a count between the
    before and after snapshots', e.g. Warning events still being recorded, was true at
    some moment of the run)."""
    out = []
    for counts in zip(*expected, strict=True):
        got = reported.get((counts[0].check, counts[0].what))
        values = [c.value for c in counts]
        if got is None or not min(values) <= got <= max(values):
            raw = " or ".join(str(c.value) for c in counts)
            out.append(f"{counts[0].check} {counts[0].what}: reported {got}, raw LIST count {raw}")
    return out


def verify(
    results_path: Path, snapshots: Sequence[Mapping[str, list[Obj]]], profile: Profile, cluster: str
) -> tuple[int, list[str]]:
    """(how many counts were compared, the mismatches) of one run's results.json against raw
    LISTs (`snapshots`: one or more, e.g. before and after the run, each a PATHS key -> items)."""
    results = json.loads(results_path.read_text(encoding="utf-8"))
    started = parse_time(results["run"]["started"])
    if started is None:
        raise ValueError(f"{results_path}: run.started missing")
    expected = [expected_counts(raw, profile, started) for raw in snapshots]
    return len(expected[0]), mismatches(expected, reported_counts(results, cluster))


# What changes by itself while a run reads it: metrics-server's current samples (a node or
# pod it has not scraped yet is absent) and Events. The bench lists these right before and
# after each run; the rest once, in the floor.
LIVE_KINDS = ("node-metrics", "pod-metrics", "events")


def raw_lists(target: KwokTarget, kinds: Iterable[str] = tuple(PATHS)) -> dict[str, list[Obj]]:
    """The PATHS collections `kinds` of `target`, listed raw (PATHS key -> items)."""
    by_path: dict[str, list[Obj]] = {}
    floor([PATHS[k] for k in kinds], keep=by_path, target=target)
    return {k: v for k, v in by_kind(by_path).items() if k in kinds}


def by_kind(by_path: Mapping[str, list[Obj]]) -> dict[str, list[Obj]]:
    """PATHS key -> items, from collection path -> items (a path not listed: no items)."""
    return {kind: list(by_path.get(path, [])) for kind, path in PATHS.items()}
