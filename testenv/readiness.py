"""What "ready", "rolled out", "finished" mean for the test environment's objects.

Pure predicates over API objects (dicts), plus the few that need to look at several
objects, which take the KubeApi to read them with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from testenv.kubeapi import KubeApi

FAULT_LABEL = "opscheck.testenv/fault"  # on a pod template: kwok plays that fault
NODE_FAULT_LABEL = "opscheck.testenv/node-fault"  # on a node: kwok reports it NotReady
UNHEALTHY_NODE_TAINTS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")


def condition(obj: dict | None, ctype: str) -> dict | None:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return c
    return None


def condition_true(obj: dict | None, ctype: str) -> bool:
    c = condition(obj, ctype)
    return bool(c and c.get("status") == "True")


def pod_ready(p: dict) -> bool:
    return p.get("status", {}).get("phase") == "Running" and condition_true(p, "Ready")


def node_ready(n: dict | None) -> bool:
    return condition_true(n, "Ready")


def node_unhealthy_taints(n: dict | None) -> list[str]:
    return [t["key"] for t in ((n or {}).get("spec") or {}).get("taints") or [] if t["key"] in UNHEALTHY_NODE_TAINTS]


def _replicas_settled(obj: dict, *counts: str, absent_is_settled: tuple[str, ...] = ()) -> bool:
    """The controller has seen the latest spec and each of the status `counts` equals
    spec.replicas (a count that is absent is 0, or settled when in `absent_is_settled`)."""
    status, want = obj.get("status") or {}, obj["spec"].get("replicas", 1)
    return status.get("observedGeneration", 0) >= obj["metadata"]["generation"] and all(
        status.get(count, want if count in absent_is_settled else 0) == want for count in counts
    )


def deployment_done(d: dict | None) -> bool:
    if not d:
        return False
    return _replicas_settled(d, "replicas", "updatedReplicas", "readyReplicas", "availableReplicas") and not (
        d.get("status") or {}
    ).get("unavailableReplicas")


def statefulset_done(s: dict | None) -> bool:
    if not s:
        return False
    st = s.get("status") or {}
    return _replicas_settled(
        s, "replicas", "readyReplicas", "availableReplicas", absent_is_settled=("availableReplicas",)
    ) and st.get("currentRevision") == st.get("updateRevision")


def daemonset_done(ds: dict | None) -> bool:
    if not ds:
        return False
    st = ds.get("status") or {}
    want = st.get("desiredNumberScheduled", -1)
    return (
        st.get("observedGeneration", 0) >= ds["metadata"]["generation"]
        and want > 0
        and st.get("numberReady") == want
        and st.get("numberAvailable") == want
        and st.get("updatedNumberScheduled") == want
    )


def job_finished(j: dict | None) -> str | None:
    """'Complete', 'Failed' or None."""
    for t in ("Complete", "Failed"):
        if condition_true(j, t):
            return t
    return None


def pod_in_fault(pod: dict, fault: str) -> bool:
    """Whether a pod shows the fault kwok's stages play for opscheck.testenv/fault=<fault>."""
    st = pod.get("status") or {}
    cs = (st.get("containerStatuses") or [{}])[0]
    if fault == "crashloop":
        return (
            st.get("phase") == "Running"
            and not cs.get("ready")
            and (cs.get("state") or {}).get("waiting", {}).get("reason") == "CrashLoopBackOff"
            and cs.get("restartCount", 0) >= 5
            and (cs.get("lastState") or {}).get("terminated", {}).get("reason") == "Error"
        )
    if fault == "oomkilled":
        return (
            pod_ready(pod)
            and cs.get("restartCount") == 1
            and (cs.get("lastState") or {}).get("terminated", {}).get("reason") == "OOMKilled"
        )
    if fault == "fail":
        return st.get("phase") == "Failed"
    raise ValueError(fault)


def live_pods(api: KubeApi, namespace: str, labels: dict[str, str]) -> list[dict]:
    """The pods matching `labels` that are not being deleted."""
    sel = ",".join(f"{k}={v}" for k, v in labels.items())
    return [p for p in api.list_("Pod", namespace, sel) if not p["metadata"].get("deletionTimestamp")]


def all_pods_settled(api: KubeApi, namespace: str) -> bool:
    """Every pod of the namespace Running and Ready (or Succeeded), none being deleted."""
    for p in api.list_("Pod", namespace):
        if p["metadata"].get("deletionTimestamp"):
            return False
        if p.get("status", {}).get("phase") == "Succeeded":
            continue
        if not pod_ready(p):
            return False
    return True


def running_pods_measured(api: KubeApi, namespace: str) -> bool:
    """Every Running pod of the namespace has its usage in the metrics API."""
    running = {
        p["metadata"]["name"] for p in api.list_("Pod", namespace) if p.get("status", {}).get("phase") == "Running"
    }
    return running <= {m["metadata"]["name"] for m in api.metrics_pods(namespace)}


def endpoints_ready(api: KubeApi, namespace: str, service: str) -> bool:
    ep = api.get("Endpoints", namespace, service)
    subsets = (ep or {}).get("subsets") or []
    ready = sum(len(s.get("addresses") or []) for s in subsets)
    not_ready = sum(len(s.get("notReadyAddresses") or []) for s in subsets)
    return ready > 0 and not_ready == 0
