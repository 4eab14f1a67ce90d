"""Faults in a test environment cluster, each a context manager that owns its repair.

    with faults.scaled_down("qsign", "api-server"):
        ...  # the fault is in place; run the checks that should notice it

breaks on enter (and waits until the effect shows through the API) and repairs on exit,
also when the test fails or breaking failed half-way, so nothing is left for the next
test. Every helper acts on the cluster of its `api` argument: the demo cluster
(testenv.cluster.DEMO.api) unless another KubeApi is given.

Context managers:
    scaled(namespace, name, replicas, kind)      spec.replicas changed; restored on exit
    scaled_down(namespace, name, kind)           scaled to 0
    template_fault(namespace, deployment, fault) pods crashloop / are OOM-killed
    pod_usage(namespace, deployment, cpu, memory) simulated usage; baseline on exit
    failing_backup(namespace, cronjob)           the backup's newest run failed
    tls_secret(namespace, name, days_valid)      a short-lived (or expired) certificate
    load_balancer_address(kind, namespace, name, address)   status.loadBalancer changed
    pending_pvc(namespace, name, size)           a claim that stays Pending
    event(namespace, kind, name, type, reason, message)     an Event about an object
    node_not_ready(node)                         the node's "kubelet" reports NotReady
The functions under them (scale, set_template_fault, set_pod_usage, run_backup_job,
put_tls_secret, set_load_balancer_address, create_pvc, create_event, set_node_ready) are
the single steps, for the repairs of other testenv modules.
"""

from __future__ import annotations

import base64
import contextlib
import secrets
import time
from collections.abc import Iterator

from testenv import cronjobs, demo
from testenv.cluster import DEMO
from testenv.kubeapi import DEFAULT_TIMEOUT, KubeApi, api_path, api_version, canonical_kind, namespaced, selector
from testenv.procs import wait_for
from testenv.readiness import (
    FAULT_LABEL,
    NODE_FAULT_LABEL,
    deployment_done,
    job_finished,
    live_pods,
    node_ready,
    node_unhealthy_taints,
    pod_in_fault,
    pod_ready,
)

RESYNC_ANNOTATION = "opscheck.testenv/resync"
DEMO_API = DEMO.api


# ----------------------------------------------------------------- context managers


@contextlib.contextmanager
def _repaired(repair) -> Iterator[None]:
    """Run the body (which breaks, then yields to the test), then `repair`, whatever happened."""
    try:
        yield
    finally:
        repair()


@contextlib.contextmanager
def scaled(
    namespace: str, name: str, replicas: int, kind: str = "Deployment", *, api: KubeApi = DEMO_API
) -> Iterator[dict]:
    """A Deployment/StatefulSet at `replicas` ready replicas; back at its former count on exit."""
    before = api.get(kind, namespace, name)["spec"].get("replicas", 1)
    with _repaired(lambda: scale(kind, namespace, name, before, api=api)):
        yield scale(kind, namespace, name, replicas, api=api)


def scaled_down(
    namespace: str, name: str, kind: str = "Deployment", *, api: KubeApi = DEMO_API
) -> contextlib.AbstractContextManager[dict]:
    """No replica at all (scaled to 0); back at its former count on exit."""
    return scaled(namespace, name, 0, kind, api=api)


@contextlib.contextmanager
def template_fault(namespace: str, deployment: str, fault: str, *, api: KubeApi = DEMO_API) -> Iterator[list[dict]]:
    """Every pod of the Deployment in `fault` ('crashloop' or 'oomkilled'); healthy again
    on exit, without the Warning events the fault raised."""
    with _repaired(lambda: set_template_fault(namespace, deployment, None, api=api)):
        yield set_template_fault(namespace, deployment, fault, api=api)


@contextlib.contextmanager
def pod_usage(
    namespace: str, deployment: str, cpu: str | None = None, memory: str | None = None, *, api: KubeApi = DEMO_API
) -> Iterator[list[dict]]:
    """The Deployment's pods use `cpu`/`memory` as the metrics API reports it; the
    manifests' usage again on exit."""
    with _repaired(lambda: set_pod_usage(namespace, deployment, None, None, api=api)):
        yield set_pod_usage(namespace, deployment, cpu, memory, api=api)


@contextlib.contextmanager
def failing_backup(namespace: str, cronjob: str, *, api: KubeApi = DEMO_API) -> Iterator[dict]:
    """The backup CronJob broken and its newest run Failed; a successful run on exit."""
    with _repaired(lambda: run_backup_job(namespace, cronjob, succeed=True, api=api)):
        yield run_backup_job(namespace, cronjob, succeed=False, api=api)


@contextlib.contextmanager
def tls_secret(namespace: str, name: str, days_valid: int, *, api: KubeApi = DEMO_API) -> Iterator[dict]:
    """The TLS Secret holds a certificate valid `days_valid` more days (<= 0: expired);
    a year-long one on exit. Not for a Secret a cert-manager Certificate owns (the demo
    cluster's qsign TLS Secrets): cert-manager would issue it again at once; ask
    cert-manager for a short-lived one instead (security.short_lived_certificate)."""
    with _repaired(lambda: put_tls_secret(namespace, name, days_valid=365, api=api)):
        yield put_tls_secret(namespace, name, days_valid=days_valid, api=api)


@contextlib.contextmanager
def load_balancer_address(
    kind: str, namespace: str, name: str, address: str | None, *, api: KubeApi = DEMO_API
) -> Iterator[dict]:
    """status.loadBalancer of a Service/Ingress set to `address` (None: none); its
    former address back on exit."""
    ingress = ((api.get(kind, namespace, name) or {}).get("status", {}).get("loadBalancer") or {}).get("ingress")
    before = (ingress[0].get("ip") or ingress[0].get("hostname")) if ingress else None
    with _repaired(lambda: set_load_balancer_address(kind, namespace, name, before, api=api)):
        yield set_load_balancer_address(kind, namespace, name, address, api=api)


@contextlib.contextmanager
def pending_pvc(namespace: str, name: str, size: str = "5Gi", *, api: KubeApi = DEMO_API) -> Iterator[dict]:
    """A PersistentVolumeClaim that stays Pending; deleted (with its events) on exit."""
    with _repaired(lambda: api.delete("PersistentVolumeClaim", namespace, name)):
        yield create_pvc(namespace, name, size, api=api)


@contextlib.contextmanager
def event(namespace: str, *about: str, api: KubeApi = DEMO_API) -> Iterator[str]:
    """An Event about an object (`about`: create_event's involved kind and name, type,
    reason, message); yields its name; deleted on exit."""
    created: list[str] = []
    with _repaired(lambda: [api.delete("Event", namespace, n) for n in created]):
        created.append(create_event(namespace, *about, api=api))
        yield created[0]


@contextlib.contextmanager
def node_not_ready(node: str, *, api: KubeApi = DEMO_API) -> Iterator[dict]:
    """The node NotReady and tainted not-ready; Ready again on exit, with its pods."""
    with _repaired(lambda: set_node_ready(node, True, api=api)):
        yield set_node_ready(node, False, api=api)


# -------------------------------------------------------------------- single steps


def scale(
    kind: str, namespace: str, name: str, replicas: int, timeout: float = DEFAULT_TIMEOUT, *, api: KubeApi = DEMO_API
) -> dict:
    """Scale a Deployment or StatefulSet through its scale subresource; wait until the
    controller has exactly `replicas` ready pods (0: until its pods are gone)."""
    kind = canonical_kind(kind)
    if kind not in ("Deployment", "StatefulSet", "ReplicaSet"):
        raise ValueError(f"cannot scale a {kind}")
    api.patch(kind, namespace, name, {"spec": {"replicas": replicas}}, sub="scale")

    def done() -> bool:
        obj = api.get(kind, namespace, name)
        st = obj.get("status") or {}
        if st.get("observedGeneration", 0) < obj["metadata"]["generation"]:
            return False
        labels = obj["spec"]["selector"]["matchLabels"]
        pods = api.list_("Pod", namespace, selector(labels))
        if any(p["metadata"].get("deletionTimestamp") for p in pods):
            return False
        return (
            st.get("replicas", 0) == replicas and (st.get("readyReplicas") or 0) == replicas and len(pods) == replicas
        )

    wait_for(done, timeout, f"{kind} {namespace}/{name} at {replicas} ready replicas")
    return api.get(kind, namespace, name)


def set_load_balancer_address(
    kind: str, namespace: str, name: str, address: str | None, timeout: float = 30, *, api: KubeApi = DEMO_API
) -> dict:
    """Set (address, e.g. "127.0.0.1") or clear (None) status.loadBalancer.ingress of a
    Service of type LoadBalancer or an Ingress. Nothing in this cluster fills that status
    (no cloud LB controller, no ingress controller): the test environment plays that
    controller and writes it through the status subresource."""
    kind = canonical_kind(kind)
    if kind not in ("Service", "Ingress"):
        raise ValueError("kind must be Service or Ingress")
    if address is None:
        lb: dict = {"ingress": None}
    else:
        entry = {"ip": address} if address.replace(".", "").isdigit() or ":" in address else {"hostname": address}
        if kind == "Service" and "ip" in entry:
            entry["ipMode"] = "VIP"
        lb = {"ingress": [entry]}
    api.patch(kind, namespace, name, {"status": {"loadBalancer": lb}}, sub="status")

    def visible() -> bool:
        ing = ((api.get(kind, namespace, name) or {}).get("status", {}).get("loadBalancer") or {}).get("ingress")
        return not ing if address is None else bool(ing) and address in (ing[0].get("ip"), ing[0].get("hostname"))

    wait_for(visible, timeout, f"{kind} {namespace}/{name} load balancer address {address}")
    return api.get(kind, namespace, name)


def patch_template_fault(
    kind: str, namespace: str, name: str, labels: dict, fault: str | None, *, api: KubeApi = DEMO_API
) -> None:
    """Put opscheck.testenv/fault=<fault> on the pod template of a Deployment/DaemonSet, or
    (None) take it away; `labels` are the template's labels now: nothing is patched if they
    already say so."""
    if fault is None:
        if FAULT_LABEL in labels:
            esc = "/spec/template/metadata/labels/" + FAULT_LABEL.replace("/", "~1")
            api.patch(kind, namespace, name, [{"op": "remove", "path": esc}], kind_of_patch="json")
    elif labels.get(FAULT_LABEL) != fault:
        api.patch(kind, namespace, name, {"spec": {"template": {"metadata": {"labels": {FAULT_LABEL: fault}}}}})


def set_template_fault(
    namespace: str, deployment: str, fault: str | None, timeout: float = DEFAULT_TIMEOUT, *, api: KubeApi = DEMO_API
) -> list[dict]:
    """Add (fault='crashloop'|'oomkilled') or remove (None) the opscheck.testenv/fault
    label on a Deployment's pod template; the Deployment controller rolls it out and kwok's
    fault stages act on the new pods. Waits until every pod of the Deployment shows the
    fault (crashloop: all replicas Running, not ready, CrashLoopBackOff, restartCount 5,
    Deployment unavailable; oomkilled: all ready with restartCount 1 and lastState
    OOMKilled) or, for None, until the rollout is back to all-ready pods without the
    label, and then deletes the Warning events about the Deployment's pods (BackOff).
    Returns the Deployment's pods. ('fail' is for Job pods: see run_backup_job.)"""
    if fault not in (None, "crashloop", "oomkilled"):
        raise ValueError(
            "fault must be 'crashloop', 'oomkilled' or None (a Deployment pod that fails is replaced at once, forever)"
        )
    d = api.get("Deployment", namespace, deployment)
    if d is None:
        raise LookupError(f"Deployment {namespace}/{deployment} not found")
    labels = d["spec"]["template"]["metadata"].get("labels") or {}
    patch_template_fault("Deployment", namespace, deployment, labels, fault, api=api)
    sel = d["spec"]["selector"]["matchLabels"]
    want = d["spec"].get("replicas", 1)

    def done() -> bool:
        obj = api.get("Deployment", namespace, deployment)
        st = obj.get("status") or {}
        if st.get("observedGeneration", 0) < obj["metadata"]["generation"]:
            return False
        all_pods = api.list_("Pod", namespace, selector(sel))
        if any(p["metadata"].get("deletionTimestamp") for p in all_pods) or len(all_pods) != want:
            return False
        if fault is None:
            return deployment_done(obj) and all(
                FAULT_LABEL not in p["metadata"].get("labels", {}) and pod_ready(p) for p in all_pods
            )
        return all(
            p["metadata"].get("labels", {}).get(FAULT_LABEL) == fault and pod_in_fault(p, fault) for p in all_pods
        )

    what = f"Deployment {namespace}/{deployment} pods " + (f"in fault {fault}" if fault else "healthy")
    wait_for(done, timeout, what, interval=0.5)
    if fault is None:
        # the repair also clears the Warning events the fault raised (BackOff of the
        # Deployment's former pods), so a later Warning-events check starts clean
        api.delete_events(
            namespace, lambda o: o.get("kind") == "Pod" and o.get("name", "").startswith(deployment + "-")
        )
    return live_pods(api, namespace, sel)


def run_backup_job(
    namespace: str, cronjob: str, succeed: bool = True, timeout: float = DEFAULT_TIMEOUT, *, api: KubeApi = DEMO_API
) -> dict:
    """Run the backup now, as `kubectl create job --from=cronjob/<cronjob>` does, and wait
    for the Job to finish (~2-3 s). Returns the Job.

    succeed=False breaks the backup: the CronJob's pod template gets
    opscheck.testenv/fault=fail (so scheduled runs fail too while it is broken, as a real
    broken backup would), and the Job run now (backoffLimit 0) ends Failed
    (BackoffLimitExceeded). Failed Jobs made here carry opscheck.testenv/injected=true.
    succeed=True repairs first: removes the fault label from the CronJob, deletes runs of
    the broken template still in flight and the Warning events about this CronJob's Jobs,
    then runs a Job that completes, so it is the newest finished run."""
    cj = api.get("CronJob", namespace, cronjob)
    if cj is None:
        raise LookupError(f"CronJob {namespace}/{cronjob} not found")
    if not succeed:
        if not cronjobs.cronjob_broken(cj):
            api.patch(
                "CronJob",
                namespace,
                cronjob,
                {"spec": {"jobTemplate": {"spec": {"template": {"metadata": {"labels": {FAULT_LABEL: "fail"}}}}}}},
            )
            cj = api.get("CronJob", namespace, cronjob)
        return cronjobs.run_job_from(api, cj, succeed=False, timeout=timeout)
    cj = cronjobs.repair_cronjob(api, namespace, cronjob)
    injected = [
        j
        for j in api.list_("Job", namespace, demo.INJECTED_SELECTOR)
        if j["metadata"]["name"].startswith(cronjob + "-")
    ]
    for j in cronjobs.jobs_of(api, namespace, cronjob) + injected:
        labels = (j["spec"]["template"].get("metadata") or {}).get("labels") or {}
        if not job_finished(j) and labels.get(FAULT_LABEL) == "fail":
            api.delete("Job", namespace, j["metadata"]["name"])
    api.delete_events(
        namespace, lambda o: o.get("kind") in ("Job", "Pod") and o.get("name", "").startswith(cronjob + "-")
    )
    return cronjobs.run_job_from(api, cj, succeed=True, timeout=timeout)


def put_tls_secret(namespace: str, name: str, days_valid: int, *, api: KubeApi = DEMO_API) -> dict:
    """Replace a TLS Secret with a new real certificate (same CN/SANs) valid for
    `days_valid` days from now (<= 0: already expired). Returns {'not_after', 'cn'}."""
    body, pair = demo.tls_secret(name, namespace, days_valid=days_valid)
    if api.get("Secret", namespace, name) is None:
        api.request("POST", api_path("Secret", namespace), body)
    else:
        api.apply(body)
    got = api.get("Secret", namespace, name)
    if base64.b64decode(got["data"]["tls.crt"]) != pair.cert_pem:
        raise RuntimeError(f"Secret {namespace}/{name} was not replaced")
    cert = pair.cert
    return {"not_after": cert.not_valid_after_utc.isoformat(), "cn": cert.subject.rfc4514_string()}


def parse_cpu(q: str) -> float:
    """A CPU quantity in cores."""
    q = str(q)
    for suffix, scale_ in (("n", 1e9), ("u", 1e6), ("m", 1e3)):
        if q.endswith(suffix):
            return float(q[:-1]) / scale_
    return float(q)


def parse_mem(q: str) -> float:
    """A memory quantity in bytes."""
    q = str(q)
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
    for u in ("Ki", "Mi", "Gi", "Ti", "k", "M", "G", "T"):
        if q.endswith(u):
            return float(q[: -len(u)]) * units[u]
    return float(q)


def set_pod_usage(
    namespace: str,
    deployment: str,
    cpu: str | None = None,
    memory: str | None = None,
    timeout: float = 120,
    *,
    api: KubeApi = DEMO_API,
) -> list[dict]:
    """Set the simulated usage (kwok.x-k8s.io/usage-cpu/-memory) of a Deployment's running
    pods themselves; None restores that value from the manifests (both None: the baseline).
    No rollout: kwok reads the pods' own annotations, so the fault needs no scheduling and
    does not wait on another stream's node faults. Returns the PodMetrics items once the
    metrics API reports the new usage for every pod."""
    base_cpu, base_mem = demo.baseline_usage(namespace, deployment)
    sel = api.get("Deployment", namespace, deployment)["spec"]["selector"]["matchLabels"]
    return annotate_usage(
        namespace, live_pods(api, namespace, sel), cpu or base_cpu, memory or base_mem, timeout, api=api
    )


def annotate_usage(
    namespace: str,
    pods: list[dict],
    cpu: str,
    memory: str | None = None,
    timeout: float = 120,
    *,
    api: KubeApi = DEMO_API,
) -> list[dict]:
    """Annotate `pods` with the simulated usage (memory left as it is when None) and wait
    until the metrics API reports it for each: cpu within 10% (metrics-server's rate over
    its last two scrapes, ~20-30 s), memory within 1%. Returns their PodMetrics items."""
    annotations = {"kwok.x-k8s.io/usage-cpu": cpu}
    if memory is not None:
        annotations["kwok.x-k8s.io/usage-memory"] = memory
    for p in pods:
        api.patch("Pod", namespace, p["metadata"]["name"], {"metadata": {"annotations": annotations}})
    names = {p["metadata"]["name"] for p in pods}
    want_cpu = parse_cpu(cpu)
    want_mem = parse_mem(memory) if memory is not None else None
    result: list[dict] = []

    def reflected() -> bool:
        ms = [m for m in api.metrics_pods(namespace) if m["metadata"]["name"] in names]
        if {m["metadata"]["name"] for m in ms} != names:
            return False
        for m in ms:
            c = sum(parse_cpu(x["usage"]["cpu"]) for x in m["containers"])
            if abs(c - want_cpu) > max(0.1 * want_cpu, 0.002):
                return False
            mem = sum(parse_mem(x["usage"]["memory"]) for x in m["containers"])
            if want_mem is not None and abs(mem - want_mem) > 0.01 * want_mem:
                return False
        result[:] = ms
        return True

    wait_for(
        reflected, timeout, f"metrics of {namespace} pods {sorted(names)} at cpu={cpu} memory={memory}", interval=1
    )
    return result


def create_pvc(namespace: str, name: str, size: str = "5Gi", *, api: KubeApi = DEMO_API) -> dict:
    """A claim no volume can satisfy, so it stays Pending: storageClassName "" (static
    binding only, so no provisioner is tried and no Warning event is raised; the PV
    controller records a Normal FailedBinding event) and a selector no PV has. Waits
    until the PV controller has looked at it (a few seconds) and it is still Pending."""
    pvc = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": namespace, "labels": {cronjobs.INJECTED_LABEL: "true"}},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "",
            "selector": {"matchLabels": {"opscheck.testenv/volume": name}},
            "resources": {"requests": {"storage": size}},
        },
    }
    api.request("POST", api_path("PersistentVolumeClaim", namespace), pvc)
    wait_for(
        lambda: (api.get("PersistentVolumeClaim", namespace, name) or {}).get("status", {}).get("phase") == "Pending",
        20,
        f"PVC {name} Pending",
    )
    time.sleep(2)
    got = api.get("PersistentVolumeClaim", namespace, name)
    if got["status"].get("phase") != "Pending":
        raise RuntimeError(f"PVC {namespace}/{name} is {got['status'].get('phase')}, not Pending")
    return got


def create_event(
    namespace: str,
    involved_kind: str,
    involved_name: str,
    type: str,
    reason: str,
    message: str,
    *,
    api: KubeApi = DEMO_API,
) -> str:
    """Create a core/v1 Event about an object (its uid filled in if it exists);
    returns the Event's name once the API serves it."""
    kind = canonical_kind(involved_kind)
    is_namespaced = namespaced(kind)
    obj = api.get(kind, namespace if is_namespaced else None, involved_name)
    now = cronjobs.rfc3339()
    name = f"{involved_name}.{secrets.token_hex(8)}"
    ref = {"kind": kind, "apiVersion": api_version(kind), "name": involved_name}
    if is_namespaced:
        ref["namespace"] = namespace
    if obj:
        ref["uid"] = obj["metadata"]["uid"]
        ref["resourceVersion"] = obj["metadata"]["resourceVersion"]
    ev = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": namespace, "labels": {cronjobs.INJECTED_LABEL: "true"}},
        "involvedObject": ref,
        "type": type,
        "reason": reason,
        "message": message,
        "source": {"component": "opscheck-testenv"},
        "reportingComponent": "opscheck-testenv",
        "reportingInstance": "opscheck-testenv",
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
    api.request("POST", api_path("Event", namespace), ev)
    wait_for(lambda: api.get("Event", namespace, name) is not None, 10, f"Event {name}")
    return name


def set_node_ready(node: str, ready: bool, timeout: float = DEFAULT_TIMEOUT, *, api: KubeApi = DEMO_API) -> dict:
    """ready=False: label the node opscheck.testenv/node-fault=not-ready; kwok's
    opscheck-node-not-ready stage has the "kubelet" report Ready=False (KubeletNotReady);
    waits until the node lifecycle controller has tainted it node.kubernetes.io/not-ready
    (NoSchedule and NoExecute). As with a real kubelet that reports NotReady (rather than
    going silent), the pods already there keep their last reported status; the controller
    marks a pod NotReady only when that pod changes, and evicts them after 300 s.
    ready=True: remove the label, wait for Ready=True and the taints to go, then have kwok
    re-report as Ready any of the node's pods the controller had marked NotReady (the
    kubelet's status resync; see opscheck-pod-resync) and wait for that."""
    if ready:
        n = api.get("Node", None, node)
        if NODE_FAULT_LABEL in (n["metadata"].get("labels") or {}):
            api.patch("Node", None, node, {"metadata": {"labels": {NODE_FAULT_LABEL: None}}})
        wait_for(lambda: node_ready(api.get("Node", None, node)), timeout, f"node {node} Ready")
        wait_for(
            lambda: not node_unhealthy_taints(api.get("Node", None, node)),
            timeout,
            f"node {node} not-ready taints removed",
        )

        def stale() -> list[dict]:
            return [
                p
                for p in api.list_("Pod", None, field_selector=f"spec.nodeName={node}")
                if p.get("status", {}).get("phase") == "Running"
                and not pod_ready(p)
                and not p["metadata"].get("deletionTimestamp")
                and p["metadata"].get("labels", {}).get(FAULT_LABEL) not in ("crashloop", "fail")
            ]

        for p in stale():
            api.patch(
                "Pod",
                p["metadata"]["namespace"],
                p["metadata"]["name"],
                {"metadata": {"annotations": {RESYNC_ANNOTATION: cronjobs.rfc3339()}}},
            )
        wait_for(lambda: not stale(), timeout, f"pods on {node} Ready again")
    else:
        api.patch("Node", None, node, {"metadata": {"labels": {NODE_FAULT_LABEL: "not-ready"}}})
        wait_for(lambda: not node_ready(api.get("Node", None, node)), timeout, f"node {node} NotReady")
        # the node lifecycle controller's next pass (node-monitor-period 5 s) adds the
        # NoExecute taint; pods tolerate it for 300 s (DefaultTolerationSeconds), then the
        # taint manager evicts them and their controllers replace them on other nodes
        wait_for(
            lambda: any(
                t["key"] == "node.kubernetes.io/not-ready" and t["effect"] == "NoExecute"
                for t in (api.get("Node", None, node)["spec"].get("taints") or [])
            ),
            timeout,
            f"node {node} tainted not-ready:NoExecute",
        )
    return api.get("Node", None, node)
