"""Health rules for pods, workloads and nodes, as the runbooks' kubectl one-liners mean them.

Plain functions over raw API objects (dicts), each returning offending rows
`{"object": "ns/name", "detail": "why", ...}` for `Evidence.expect_none`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from opscheck.rules.objects import Obj, Row, owned_by, ref
from opscheck.timeutil import parse_time

# Container waiting reasons that mean the pod is broken, not just starting.
BAD_WAITING = {
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "InvalidImageName",
    "RunContainerError",
}
NODE_PRESSURE = ("MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")


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
            (
                c.get("reason")
                for c in status.get("conditions") or []
                if c.get("type") == "PodScheduled" and c.get("status") == "False"
            ),
            None,
        )
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
            rows.append(
                {
                    "object": ref(pod),
                    "detail": problem,
                    "phase": (pod.get("status") or {}).get("phase", "Unknown"),
                    "node": pod.get("spec", {}).get("nodeName", ""),
                }
            )
    return sorted(rows, key=lambda r: r["object"])


def restart_counts(pods: Iterable[Obj], max_restarts: int) -> list[Row]:
    rows = []
    for pod in pods:
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            n = cs.get("restartCount", 0)
            if n > max_restarts:
                rows.append({"object": ref(pod), "detail": f"{cs['name']} restarted {n} times", "restarts": n})
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
                    rows.append(
                        {
                            "object": ref(pod),
                            "detail": f"{cs['name']} OOMKilled at {term.get('finishedAt')}",
                            "container": cs["name"],
                            "restarts": cs.get("restartCount", 0),
                        }
                    )
    return rows


def replica_shortfalls(
    workloads: Iterable[tuple[str, Obj]], min_replicas: dict[str, int], default_min: int
) -> list[Row]:
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
            rows.append(
                {
                    "object": f"{kind.lower()}/{name}",
                    "detail": "; ".join(problems),
                    "desired": desired,
                    "available": available,
                    "minimum": minimum,
                }
            )
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
    now = now or datetime.now(UTC)
    return ts is not None and now - ts <= window


# -- after a rollout -----------------------------------------------------------------------
REVISION = "deployment.kubernetes.io/revision"


def workload_of(pod: Obj) -> str | None:
    """`namespace/name` of the workload that owns a pod (a ReplicaSet's Deployment by name)."""
    owners = pod["metadata"].get("ownerReferences") or []
    if not owners:
        return None
    owner = owners[0]
    name = owner["name"]
    if owner["kind"] == "ReplicaSet":
        hash_ = (pod["metadata"].get("labels") or {}).get("pod-template-hash")
        if hash_ and name.endswith(f"-{hash_}"):
            name = name[: -len(hash_) - 1]
    return f"{pod['metadata']['namespace']}/{name}"


@dataclass(frozen=True)
class OwnedPod:
    """What a rollout judges of a pod: its name, revision label and container restarts."""

    name: str
    revision: str | None  # the controller-revision-hash label (StatefulSets, DaemonSets)
    restarts: int


def pods_by_owner(pods: Iterable[Obj]) -> dict[str, list[OwnedPod]]:
    """Owner uid -> the pods it owns, in one pass over the pods (a big cluster's pods are
    decoded once per pass, not once per workload)."""
    owned: dict[str, list[OwnedPod]] = {}
    for p in pods:
        meta = p["metadata"]
        pod = OwnedPod(
            meta["name"],
            (meta.get("labels") or {}).get("controller-revision-hash"),
            sum(cs.get("restartCount", 0) for cs in (p.get("status") or {}).get("containerStatuses") or []),
        )
        for owner in meta.get("ownerReferences") or []:
            owned.setdefault(owner.get("uid"), []).append(pod)
    return owned


def current_revision_pods(
    kind: str, workload: Obj, owned: dict[str, list[OwnedPod]], replicasets: list[Obj]
) -> list[OwnedPod]:
    """The pods of the workload's newest revision (what the rollout brought)."""
    if kind == "Deployment":
        mine = [rs for rs in replicasets if owned_by(rs, workload)]
        if not mine:
            return []
        newest = max(mine, key=lambda rs: int((rs["metadata"].get("annotations") or {}).get(REVISION, "0")))
        return owned.get(newest["metadata"].get("uid"), [])
    revision = (workload.get("status") or {}).get("updateRevision")
    return [
        p for p in owned.get(workload["metadata"].get("uid"), []) if kind != "StatefulSet" or p.revision == revision
    ]


def rollout_problems(kind: str, workload: Obj, revision_pods: list[OwnedPod]) -> list[str]:
    """Why a workload's rollout is not complete: replicas not updated/ready/available, a
    stalled Deployment, or containers of the new revision that restarted."""
    spec, status, meta = workload.get("spec") or {}, workload.get("status") or {}, workload["metadata"]
    problems = []
    if status.get("observedGeneration", 0) < meta.get("generation", 0):
        problems.append("rollout not yet observed by the controller")
    if kind == "DaemonSet":
        desired = status.get("desiredNumberScheduled", 0)
        counts = {"updated": status.get("updatedNumberScheduled", 0), "available": status.get("numberAvailable", 0)}
    else:
        desired = spec.get("replicas", 1)
        counts = {"updated": status.get("updatedReplicas", 0), "ready": status.get("readyReplicas", 0)}
        if kind == "Deployment":
            counts["available"] = status.get("availableReplicas", 0)
    short = [f"{n}/{desired} {what}" for what, n in counts.items() if n < desired]
    if short:
        problems.append(", ".join(short))
    if kind == "StatefulSet" and status.get("currentRevision") != status.get("updateRevision"):
        problems.append(f"revision {status.get('updateRevision')} not fully rolled out")
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            problems.append("progress deadline exceeded")
    for pod in revision_pods:
        if pod.restarts:
            problems.append(f"{pod.name} restarted {pod.restarts} time(s) since the rollout")
    return problems


def previous_revisions(workload: Obj, replicasets: list[Obj]) -> int:
    """How many older ReplicaSets a Deployment keeps to roll back to."""
    mine = [rs for rs in replicasets if owned_by(rs, workload)]
    return max(0, len(mine) - 1)


def container_security_problems(pod: Obj, read_only_root: bool) -> list[str]:
    """Root, privileged, or a writable root filesystem where the profile requires read-only.

    A container counts as root unless runAsNonRoot is true or runAsUser is non-zero (in the
    container or inherited from the pod): the image's own USER is not visible here.
    """
    spec = pod.get("spec") or {}
    pod_ctx = spec.get("securityContext") or {}
    problems = []
    for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        ctx = c.get("securityContext") or {}
        uid = ctx.get("runAsUser", pod_ctx.get("runAsUser"))
        non_root = ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot"))
        if uid == 0:
            problems.append(f"{c['name']}: runs as root (runAsUser 0)")
        elif not non_root and uid is None:
            problems.append(f"{c['name']}: may run as root (no runAsNonRoot or runAsUser)")
        if ctx.get("privileged"):
            problems.append(f"{c['name']}: privileged")
        if read_only_root and not ctx.get("readOnlyRootFilesystem"):
            problems.append(f"{c['name']}: root filesystem writable (read-only required)")
    return problems


def rollback_problems(kind: str, workload: Obj, revisions: list[Obj]) -> list[str]:
    """Why a workload could not be rolled back: no older revision kept, or none allowed.

    `revisions`: its ReplicaSets (Deployment) or ControllerRevisions (StatefulSet, DaemonSet).
    """
    problems = []
    limit = (workload.get("spec") or {}).get("revisionHistoryLimit", 10)
    if limit == 0:
        problems.append("revisionHistoryLimit is 0")
    older = sum(1 for r in revisions if owned_by(r, workload)) - 1
    if older < 1:
        problems.append("no previous revision to roll back to")
    return problems


def rollout_rows(workloads: Iterable[tuple[str, Obj]], pods: Iterable[Obj], replicasets: list[Obj]) -> list[Row]:
    """A row per (kind, workload): `detail` "complete" or why its rollout is not."""
    rows = []
    owned = pods_by_owner(pods)
    for kind, w in workloads:
        problems = rollout_problems(kind, w, current_revision_pods(kind, w, owned, replicasets))
        rows.append({"object": f"{kind.lower()}/{ref(w)}", "detail": "; ".join(problems) or "complete"})
    return rows


def rollback_rows(workloads: Iterable[tuple[str, Obj]], replicasets: list[Obj], revisions: list[Obj]) -> list[Row]:
    """A row per (kind, workload): `detail` "ok" or why it could not be rolled back. A
    Deployment's revisions are its ReplicaSets, the others' ControllerRevisions."""
    rows = []
    for kind, w in workloads:
        problems = rollback_problems(kind, w, replicasets if kind == "Deployment" else revisions)
        rows.append(
            {
                "object": f"{kind.lower()}/{ref(w)}",
                "detail": "; ".join(problems) or "ok",
                "revision_history_limit": (w.get("spec") or {}).get("revisionHistoryLimit", 10),
            }
        )
    return rows


def not_ok(rows: Iterable[Row], ok: str = "ok") -> list[Row]:
    """The rows whose `detail` is not `ok`."""
    return [r for r in rows if r["detail"] != ok]


def insecure_pods(pods: Iterable[Obj], read_only_root_required: Iterable[str]) -> list[Row]:
    """Running pods with `container_security_problems`; finished ones (a Job's) no longer run their spec."""
    required = set(read_only_root_required)
    rows = []
    for pod in pods:
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        problems = container_security_problems(pod, workload_of(pod) in required)
        if problems:
            rows.append({"object": ref(pod), "detail": "; ".join(problems), "workload": workload_of(pod)})
    return rows


def logging_rows(lines_by_app: dict[str, dict[str, int]], recent_minutes: float) -> list[Row]:
    """A row per pod of each app ({app: {pod: lines logged recently}}), `detail` "ok" or why not."""
    rows = []
    for app, lines_by_pod in lines_by_app.items():
        if not lines_by_pod:
            rows.append({"object": app, "detail": "no pods", "lines": 0})
        for pod, n in lines_by_pod.items():
            rows.append({"object": pod, "detail": "ok" if n else f"no log line in {recent_minutes:g} min", "lines": n})
    return rows


def statefulset_pod_findings(sts: Obj, pods: Iterable[Obj]) -> tuple[list[Row], list[Row]]:
    """(a row per pod of the StatefulSet, offenders: fewer pods than its replicas, pods not
    healthy or labelled vault-sealed=true by Vault's Kubernetes service registration)."""
    meta = sts["metadata"]
    where = f"statefulset/{meta['namespace']}/{meta['name']}"
    mine = sorted((p for p in pods if owned_by(p, sts)), key=lambda p: p["metadata"]["name"])
    desired = (sts.get("spec") or {}).get("replicas", 1)
    rows, offenders = [], []
    if desired == 0:
        offenders.append({"object": where, "detail": "scaled to 0 replicas"})
    elif len(mine) < desired:
        offenders.append({"object": where, "detail": f"{len(mine)} of {desired} pods exist"})
    for p in mine:
        labels = p["metadata"].get("labels") or {}
        # Vault's Kubernetes service registration (the Helm chart's default) keeps these up to date
        sealed = labels.get("vault-sealed")
        problem = pod_problem(p) or ("labelled vault-sealed=true" if sealed == "true" else None)
        rows.append(
            {
                "object": ref(p),
                "phase": (p.get("status") or {}).get("phase"),
                "vault-sealed": sealed or "",
                "vault-active": labels.get("vault-active", ""),
                "detail": problem or "ok",
            }
        )
        if problem:
            offenders.append({"object": ref(p), "detail": problem})
    return rows, offenders


def daemonset_findings(ds: Obj, pods: Iterable[Obj]) -> tuple[Row, list[Row], set[str]]:
    """(its counts row, offenders: scheduled nowhere, fewer current/ready/available pods than
    desired, failing pods on nodes with no ready pod of it; the nodes with a ready pod)."""
    ns, name = ds["metadata"]["namespace"], ds["metadata"]["name"]
    st = ds.get("status") or {}
    counts = {
        k: st.get(k, 0)
        for k in (
            "desiredNumberScheduled",
            "currentNumberScheduled",
            "numberReady",
            "numberAvailable",
            "updatedNumberScheduled",
            "numberMisscheduled",
        )
    }
    offenders = []
    desired = counts["desiredNumberScheduled"]
    if desired == 0:
        offenders.append({"object": f"daemonset/{ns}/{name}", "detail": "schedules no pod on any node"})
    short = [k for k in ("currentNumberScheduled", "numberReady", "numberAvailable") if counts[k] < desired]
    if short:
        offenders.append(
            {
                "object": f"daemonset/{ns}/{name}",
                "detail": ", ".join(f"{k} {counts[k]}" for k in short) + f" of {desired} desired",
            }
        )
    mine = [p for p in pods if owned_by(p, ds)]
    ready_nodes = {p["spec"].get("nodeName") for p in mine if pod_problem(p) is None}
    for p in mine:
        problem = pod_problem(p)
        if problem and p["spec"].get("nodeName") not in ready_nodes:
            offenders.append(
                {"object": f"{ns}/{p['metadata']['name']}", "detail": f"on {p['spec'].get('nodeName', '?')}: {problem}"}
            )
    return {"object": f"daemonset/{ns}/{name}", **counts}, offenders, ready_nodes
