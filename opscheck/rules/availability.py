"""Availability of workloads: PodDisruptionBudgets, single points of failure, and
HorizontalPodAutoscalers (`kubectl get pdb,hpa`)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from opscheck.rules.objects import Obj, Row, ref
from opscheck.rules.workloads import workload_of

CONTROL_PLANE_LABELS = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")


def selector_matches(selector: Obj | None, labels: dict[str, str]) -> bool:
    """A metav1.LabelSelector against labels. An empty selector matches everything (what
    a PDB with `selector: {}` does in policy/v1); a missing one matches nothing."""
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def template_labels(workload: Obj) -> dict[str, str]:
    return (((workload.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}


def pdbs_for(workload: Obj, pdbs: Iterable[Obj]) -> list[Obj]:
    ns, labels = workload["metadata"]["namespace"], template_labels(workload)
    return [
        p
        for p in pdbs
        if p["metadata"]["namespace"] == ns and selector_matches((p.get("spec") or {}).get("selector"), labels)
    ]


def _scaled(value: int | str, replicas: int) -> int:
    """An IntOrString of a PDB against the replicas; percentages round up (as the
    disruption controller does)."""
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(float(value[:-1]) * replicas / 100)
    return int(value)


def pdb_allowed(pdb: Obj, replicas: int) -> tuple[int, str]:
    """How many of `replicas` pods the PDB's spec lets go at once, and how it says so."""
    spec = pdb.get("spec") or {}
    if "maxUnavailable" in spec:
        return _scaled(spec["maxUnavailable"], replicas), f"maxUnavailable {spec['maxUnavailable']}"
    if "minAvailable" in spec:
        return replicas - _scaled(spec["minAvailable"], replicas), f"minAvailable {spec['minAvailable']}"
    return replicas, "neither minAvailable nor maxUnavailable"


def pdb_problems(workload: Obj, pdbs: list[Obj]) -> list[str]:
    """For a multi-replica workload: a PDB covers its pods, lets at least one pod go and
    not all of them, and allows a disruption now (status.disruptionsAllowed)."""
    replicas = (workload.get("spec") or {}).get("replicas", 1)
    mine = pdbs_for(workload, pdbs)
    if not mine:
        return ["no PodDisruptionBudget"]
    if len(mine) > 1:
        return [
            f"{len(mine)} PodDisruptionBudgets select its pods ({', '.join(p['metadata']['name'] for p in mine)}): "
            "the eviction API refuses such pods, a drain blocks"
        ]
    pdb = mine[0]
    name = pdb["metadata"]["name"]
    allowed, how = pdb_allowed(pdb, replicas)
    problems = []
    if allowed < 1:
        problems.append(f"PDB {name} allows no disruption ({how} of {replicas} replicas)")
    elif allowed >= replicas:
        problems.append(f"PDB {name} lets all {replicas} replicas go at once ({how})")
    status = pdb.get("status") or {}
    if allowed >= 1 and status.get("disruptionsAllowed", 0) < 1:
        problems.append(
            f"PDB {name} allows no disruption now (currentHealthy {status.get('currentHealthy', 0)}, "
            f"desiredHealthy {status.get('desiredHealthy', 0)})"
        )
    return problems


def running_pod_nodes(pods: Iterable[Obj]) -> dict[str, list[str | None]]:
    """Workload (`namespace/name`) -> the node of each of its running pods, in one pass over
    the pods (a big cluster's pods are decoded once per pass, not once per workload)."""
    nodes: dict[str, list[str | None]] = {}
    for p in pods:
        if (p.get("status") or {}).get("phase") != "Running" or p["metadata"].get("deletionTimestamp"):
            continue
        owner = workload_of(p)
        if owner is not None:
            nodes.setdefault(owner, []).append((p.get("spec") or {}).get("nodeName"))
    return nodes


def spof_problems(workload: Obj, running_on: list[str | None], pdbs: list[Obj]) -> list[str]:
    """One replica, every replica on the same node, or no PodDisruptionBudget. `running_on`:
    the node of each of the workload's running pods (running_pod_nodes)."""
    replicas = (workload.get("spec") or {}).get("replicas", 1)
    if replicas == 0:
        return []  # scaled to zero on purpose: nothing runs to fail
    problems = []
    if replicas == 1:
        problems.append("1 replica")
    else:
        nodes = {n for n in running_on if n is not None}
        if len(running_on) >= 2 and len(nodes) == 1:
            problems.append(f"all {len(running_on)} running replicas on node {nodes.pop()}")
    if not pdbs_for(workload, pdbs):
        problems.append("no PodDisruptionBudget")
    return problems


def control_plane_nodes(nodes: Iterable[Obj]) -> list[str]:
    return sorted(
        n["metadata"]["name"]
        for n in nodes
        if any(label in (n["metadata"].get("labels") or {}) for label in CONTROL_PLANE_LABELS)
    )


# ---------------------------------------------------------------------------- HPA


def _condition(hpa: Obj, ctype: str) -> Obj:
    return next((c for c in (hpa.get("status") or {}).get("conditions") or [] if c.get("type") == ctype), {})


def hpa_row(hpa: Obj) -> Row:
    spec, status = hpa.get("spec") or {}, hpa.get("status") or {}
    target = spec.get("scaleTargetRef") or {}
    metrics = []
    for m in status.get("currentMetrics") or []:
        if m.get("type") == "Resource":
            cur = (m.get("resource") or {}).get("current") or {}
            # an AverageValue target reports no utilization: its average value then
            shown = f"{cur['averageUtilization']}%" if "averageUtilization" in cur else cur.get("averageValue", "?")
            metrics.append(f"{m['resource']['name']} {shown}")
    return {
        "object": ref(hpa),
        "target": f"{target.get('kind', '?')}/{target.get('name', '?')}",
        "min": spec.get("minReplicas", 1),
        "max": spec.get("maxReplicas"),
        "current": status.get("currentReplicas"),
        "desired": status.get("desiredReplicas"),
        "metrics": ", ".join(metrics),
        "ScalingActive": _condition(hpa, "ScalingActive").get("status", ""),
        "ScalingLimited": _condition(hpa, "ScalingLimited").get("reason", ""),
    }


def hpa_problems(hpa: Obj) -> list[str]:
    """Why an HPA is not doing its job: it cannot compute its metrics (ScalingActive) or
    reach its target (AbleToScale), or it sits at maxReplicas (pinned: it could not scale
    further if load grew), or the target runs outside min..max."""
    spec, status = hpa.get("spec") or {}, hpa.get("status") or {}
    problems = []
    active = _condition(hpa, "ScalingActive")
    if not active:
        problems.append("no status yet (the HPA controller has not processed it)")
    elif active.get("status") != "True":
        problems.append(
            f"metrics unavailable (ScalingActive {active['status']}: "
            f"{active.get('reason', '')}: {active.get('message', '')})"
        )
    able = _condition(hpa, "AbleToScale")
    if able and able.get("status") != "True":
        problems.append(f"cannot scale (AbleToScale False: {able.get('reason', '')}: {able.get('message', '')})")
    current, lo, hi = status.get("currentReplicas"), spec.get("minReplicas", 1), spec.get("maxReplicas")
    limited = _condition(hpa, "ScalingLimited")
    if current is not None and hi is not None and current >= hi:
        problems.append(
            f"pinned at maxReplicas {hi} ({current} running"
            + (f", {limited.get('reason')}" if limited.get("status") == "True" else "")
            + ")"
        )
    elif current is not None and current < lo:
        problems.append(f"{current} replicas, under minReplicas {lo}")
    return problems


def find_hpa(kind: str, namespace: str, name: str, hpas: Iterable[Obj]) -> Obj | None:
    for h in hpas:
        target = (h.get("spec") or {}).get("scaleTargetRef") or {}
        if h["metadata"]["namespace"] == namespace and target.get("kind") == kind and target.get("name") == name:
            return h
    return None


def resource_target(hpa: Obj, resource: str) -> float | None:
    for m in (hpa.get("spec") or {}).get("metrics") or []:
        if m.get("type") == "Resource" and (m.get("resource") or {}).get("name") == resource:
            target = m["resource"].get("target") or {}
            if target.get("type") == "Utilization":
                return target.get("averageUtilization")
    return None


def hpa_bounds_problems(hpa: Obj, bounds: Any) -> list[str]:
    """The HPA's min/max replicas and CPU/memory utilization targets against the agreed ones."""
    spec = hpa.get("spec") or {}
    problems = []
    for field, agreed, have in (
        ("minReplicas", bounds.min_replicas, spec.get("minReplicas", 1)),
        ("maxReplicas", bounds.max_replicas, spec.get("maxReplicas")),
    ):
        if agreed is not None and have != agreed:
            problems.append(f"{field} {have}, agreed {agreed}")
    for resource, agreed in (("cpu", bounds.cpu_percent), ("memory", bounds.memory_percent)):
        if agreed is None:
            continue
        have = resource_target(hpa, resource)
        if have is None:
            problems.append(f"no {resource} utilization target (agreed {agreed:g}%)")
        elif float(have) != float(agreed):
            problems.append(f"{resource} target {have}%, agreed {agreed:g}%")
    return problems


def hpa_offenders(hpas: Iterable[Obj]) -> list[Row]:
    """HPAs that do not work (`hpa_problems`), one row each."""
    return [{"object": ref(h), "detail": "; ".join(problems)} for h in hpas if (problems := hpa_problems(h))]


def hpa_configured_findings(
    workloads: Iterable[Any], hpas: list[Obj], default_bounds: Any
) -> tuple[list[Row], list[Row]]:
    """(a row per HPA found, offenders): each agreed workload has an HPA with the agreed
    bounds (its own, else `default_bounds`)."""
    rows, offenders = [], []
    for w in workloads:
        name = f"{w.kind.lower()}/{w.namespace}/{w.name}"
        hpa = find_hpa(w.kind, w.namespace, w.name, hpas)
        if hpa is None:
            offenders.append({"object": name, "detail": "no HorizontalPodAutoscaler targets it"})
            continue
        rows.append({**hpa_row(hpa), "workload": name})
        problems = hpa_bounds_problems(hpa, w.bounds or default_bounds)
        if problems:
            offenders.append({"object": f"hpa/{ref(hpa)}", "detail": "; ".join(problems)})
    return rows, offenders


def describe_bounds(bounds: Any) -> str:
    """`min 3, max 20, cpu 70%, memory 80%`: the agreed HPA settings that are set."""
    return ", ".join(
        f"{what} {value:g}{unit}"
        for what, value, unit in (
            ("min", bounds.min_replicas, ""),
            ("max", bounds.max_replicas, ""),
            ("cpu", bounds.cpu_percent, "%"),
            ("memory", bounds.memory_percent, "%"),
        )
        if value is not None
    )


def pdb_findings(
    workloads: Iterable[tuple[str, Obj]], pdbs: list[Obj], ignore: Iterable[str]
) -> tuple[list[Row], list[Row]]:
    """(a row per multi-replica workload not ignored, offenders): `pdb_problems` of each
    (kind, workload)."""
    ignored = set(ignore)
    rows, offenders = [], []
    for kind, w in workloads:
        name = ref(w)
        replicas = (w.get("spec") or {}).get("replicas", 1)
        if replicas < 2 or name in ignored:
            continue
        problems = pdb_problems(w, pdbs)
        rows.append({"object": f"{kind.lower()}/{name}", "replicas": replicas, "problems": "; ".join(problems) or "ok"})
        if problems:
            offenders.append({"object": f"{kind.lower()}/{name}", "detail": "; ".join(problems)})
    return rows, offenders


def spof_findings(
    workloads: Iterable[tuple[str, Obj]],
    pods: Iterable[Obj],
    pdbs: list[Obj],
    nodes: Iterable[Obj],
    ignore: Iterable[str],
) -> tuple[list[Row], list[Row], list[str]]:
    """(a row per workload not ignored, offenders, the control-plane nodes): `spof_problems`
    of each (kind, workload), and a control plane of one node."""
    ignored = set(ignore)
    rows, offenders = [], []
    running_on = running_pod_nodes(pods)
    for kind, w in workloads:
        name = ref(w)
        if name in ignored:
            continue
        pod_nodes = running_on.get(name, [])
        problems = spof_problems(w, pod_nodes, pdbs)
        rows.append(
            {
                "object": f"{kind.lower()}/{name}",
                "replicas": (w.get("spec") or {}).get("replicas", 1),
                "nodes": ", ".join(sorted({n or "?" for n in pod_nodes})),
                "pdb": ", ".join(p["metadata"]["name"] for p in pdbs_for(w, pdbs)) or "none",
                "problems": "; ".join(problems) or "ok",
            }
        )
        if problems:
            offenders.append({"object": f"{kind.lower()}/{name}", "detail": "; ".join(problems)})
    control = control_plane_nodes(nodes)
    if len(control) == 1:
        offenders.append({"object": f"node/{control[0]}", "detail": "the only control-plane node"})
    return rows, offenders, control
