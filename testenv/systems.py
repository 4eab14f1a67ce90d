"""The SmartSensor (runbook 002) and Titanium (runbook 003) systems in the demo cluster.

Their namespaces and workloads (manifests/smartsensor.yaml, manifests/titanium.yaml) run
on the same kwok nodes as QSIGN: kwok plays the kubelet, the real controllers run the
Deployments, StatefulSets, the Promtail DaemonSet, Titanium's postgres-backup CronJob and
PV binding. One local process (testenv/systems_app.py) serves the HTTP health endpoints
both runbooks curl and writes every container's log, which kwok hands to `kubectl logs`
(ClusterLogs in manifests/kwok-logs.yaml).

Public API:
    up() -> dict        apply the manifests, start the process, wait until every pod is
                        Running/Ready and has metrics (idempotent; also undoes what the
                        fault helpers below left behind)
    down() -> None      stop the process (the objects go with the demo cluster)
    status() -> dict
    NAMESPACES, SMARTSENSOR_NAMESPACES, TITANIUM_NAMESPACES, ENDPOINTS, url(name)
    fault helpers:
        set_endpoint(name, status="DOWN"|None, latency_ms=None)   the HTTP endpoints
        write_log_lines(file, messages) / rotate_log(file) / message(app, level, text)
        set_daemonset_fault(namespace, name, fault|None)           e.g. Promtail crashlooping
        set_pod_memory(namespace, app, memory|None)                 a running pod's memory grows
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import requests

from testenv import cluster, cronjobs, demo, faults, platform_services, procs, readiness, release
from testenv.paths import HOST, PORTS, state_dir, under
from testenv.qsign_app import append_lines, cri_line
from testenv.systems_app import LOGS
from testenv.systems_app import message as message  # re-exported: the fault tests write log lines with it

REPO = Path(__file__).resolve().parents[1]
PROC = "systems-app"
MANIFESTS = ("smartsensor.yaml", "titanium.yaml")
SMARTSENSOR_NAMESPACES = ("hankook-smartsensor", "hankook-security", "monitoring")
TITANIUM_NAMESPACES = ("titanium-prod", "istio-system", "monitoring", "argocd")
NAMESPACES = tuple(dict.fromkeys(SMARTSENSOR_NAMESPACES + TITANIUM_NAMESPACES))
# The HTTP endpoints the process serves (PORTS keys).
ENDPOINTS = ("smartsensor-api", "smartsensor-web", "titanium-gateway", "titanium-user-service")
# Ingress / LoadBalancer status the test environment writes (no controller implements them).
PUBLISHED = ("hankook-smartsensor", "istio-system")
CRONJOBS = (("titanium-prod", "postgres-backup"),)
# Runbook 003 데이터베이스 백업 확인 (weekly): the CronJob's Jobs show a week of daily runs.
BACKUP_HISTORY_DAYS = 7
# The HPAs of the two systems (api-server-hpa of runbook 002, Titanium's gateway).
HPAS = (("hankook-smartsensor", "api-server-hpa"), ("titanium-prod", "prod-api-gateway-hpa"))
# An app started without it predates the SmartSensor traffic metrics: restarted once.
TRAFFIC_FLAG = "--traffic-per-second"
TIMEOUT = 180.0


app_dir = under(state_dir, "systems")


def logs_dir() -> Path:
    """The directory kwok's ClusterLogs read (${APP_LOGS}), shared with the QSIGN apps."""
    return cluster.app_logs_dir()


def url(name: str) -> str:
    if name not in ENDPOINTS:
        raise ValueError(f"unknown endpoint {name!r}; expected one of {', '.join(ENDPOINTS)}")
    return f"http://{HOST}:{PORTS[name]}"


# ------------------------------------------------------------------------------ up/down


def up() -> dict[str, Any]:
    t0 = time.monotonic()
    _start_process()
    with cluster.locked(cluster.DEMO):
        _apply()
        _clear_faults()
        _wait_healthy()
        # each stand-in released twice: a previous revision to roll back to (predeploy.rollback-plan)
        release.ensure_previous_revisions(cluster.DEMO.api, NAMESPACES)
        for namespace, name in CRONJOBS:
            _ensure_backup_job(namespace, name)
        _wait_metrics()
        # until the HPA controller has the pods' metrics it raises FailedGetResourceMetric
        # Warnings: wait for its numbers before clearing what a first start raised
        procs.wait_for(
            lambda: all(platform_services.hpa_settled(ns, name) for ns, name in HPAS), TIMEOUT, "the HPAs' metrics"
        )
        for ns in NAMESPACES:  # what a first start raised on its way (none left on a healthy system)
            cluster.clear_events(ns, "Warning")
    info = status()
    info["up_seconds"] = round(time.monotonic() - t0, 1)
    return info


def down() -> None:
    procs.stop(PROC)


def status() -> dict[str, Any]:
    running = procs.is_running(PROC)
    info: dict[str, Any] = {
        "process": {"running": running, "pid": procs.read_pid(PROC), "endpoints": {n: url(n) for n in ENDPOINTS}},
        "namespaces": list(NAMESPACES),
        "running": False,
    }
    if not running:
        return info
    try:
        pods = [p for ns in NAMESPACES for p in cluster.list_("Pod", ns)]
    except Exception as exc:  # the cluster is down
        info["error"] = str(exc)
        return info
    # a Job's pods finish (Succeeded, or Failed when a backup fault made them fail)
    not_ready = [
        f"{p['metadata']['namespace']}/{p['metadata']['name']}"
        for p in pods
        if p.get("status", {}).get("phase") not in ("Succeeded", "Failed") and not readiness.pod_ready(p)
    ]
    info["pods"] = len(pods)
    info["pods_not_ready"] = not_ready
    info["endpoints_live"] = {n: procs.http_ok(url(n) + "/health", 2) for n in ENDPOINTS}
    info["running"] = bool(pods) and not not_ready and all(info["endpoints_live"].values())
    return info


def _start_process() -> None:
    app_dir().mkdir(parents=True, exist_ok=True)
    logs_dir().mkdir(parents=True, exist_ok=True)
    for file in LOGS:  # kwok answers `logs` from these files: they must exist first
        (logs_dir() / file).touch(exist_ok=True)
    pid = procs.read_pid(PROC)
    try:
        if pid is not None and TRAFFIC_FLAG not in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
            procs.stop(PROC)
    except OSError:  # it just exited
        pass
    procs.start(
        PROC,
        [
            sys.executable,
            "-m",
            "testenv.systems_app",
            "--state-dir",
            str(app_dir()),
            "--logs-dir",
            str(logs_dir()),
            "--host",
            HOST,
            *[f"--serve={n}={PORTS[n]}" for n in ENDPOINTS],
            f"{TRAFFIC_FLAG}=4",
        ],
        cwd=REPO,
    )
    procs.wait_started(
        PROC,
        lambda: all(procs.http_ok(url(n) + "/health/live", 2) for n in ENDPOINTS),
        30,
        "the SmartSensor/Titanium endpoints",
    )


def _docs() -> list[dict]:
    volumes = state_dir() / "volumes"
    return [d for name in MANIFESTS for d in demo.load_manifest(name, VOLUMES=str(volumes))]


def _apply() -> None:
    docs = _docs()
    for d in docs:
        if d["kind"] == "Namespace":
            cluster.apply(d)
    # ServiceAccount admission needs each namespace's default SA before any pod is made
    for d in docs:
        if d["kind"] == "Namespace":
            ns = d["metadata"]["name"]
            procs.wait_for(
                lambda ns=ns: cluster.get("ServiceAccount", ns, "default") is not None,
                60,
                f"ServiceAccount {ns}/default",
            )
    for d in docs:
        if d["kind"] == "PersistentVolume":
            Path(d["spec"]["hostPath"]["path"]).mkdir(parents=True, exist_ok=True)
            cluster.create_if_missing(d)
        elif d["kind"] == "PersistentVolumeClaim":
            cluster.create_if_missing(d)
    # a StatefulSet's claims exist and are Bound before its pods: a pod created first would
    # be unschedulable for a moment (a FailedScheduling Warning event)
    claims = [
        (d["metadata"]["namespace"], f"{t['metadata']['name']}-{d['metadata']['name']}-{i}", t)
        for d in docs
        if d["kind"] == "StatefulSet"
        for t in d["spec"].get("volumeClaimTemplates") or []
        for i in range(d["spec"].get("replicas", 1))
    ]
    for ns, name, template in claims:
        cluster.create_if_missing(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": name, "namespace": ns, "labels": template["metadata"].get("labels", {})},
                "spec": template["spec"],
            }
        )
    procs.wait_for(
        lambda: all(
            (cluster.get("PersistentVolumeClaim", ns, name) or {}).get("status", {}).get("phase") == "Bound"
            for ns, name, _ in claims
        ),
        90,
        "the StatefulSets' PVCs Bound",
    )
    for d in docs:
        if d["kind"] not in ("Namespace", "PersistentVolume", "PersistentVolumeClaim"):
            cluster.apply(d)
    for ns in PUBLISHED:
        demo.publish_load_balancers(cluster.DEMO.api, ns)


def _clear_faults() -> None:
    """What the fault helpers may have left: fault labels on pod templates, Jobs of a
    broken backup, a broken CronJob template, Warning events."""
    demo.remove_template_faults(cluster.DEMO.api, NAMESPACES)
    for ns in NAMESPACES:
        for ds in cluster.list_("DaemonSet", ns):
            if cluster.FAULT_LABEL in (ds["spec"]["template"]["metadata"].get("labels") or {}):
                set_daemonset_fault(ns, ds["metadata"]["name"], None)
    for namespace, name in CRONJOBS:
        cj = cluster.get("CronJob", namespace, name)
        if cj is not None and cronjobs.cronjob_broken(cj):
            cronjobs.repair_cronjob(cluster.DEMO.api, namespace, name)
        for job in cluster.list_("Job", namespace, "opscheck.testenv/injected=true"):
            cluster.delete("Job", namespace, job["metadata"]["name"])
    for ns in NAMESPACES:
        for d in cluster.list_("Deployment", ns):
            app = (d["spec"]["selector"].get("matchLabels") or {}).get("app")
            if app:
                set_pod_memory(ns, app, None)
        cluster.clear_events(ns, "Warning")


def _healthy() -> bool:
    for ns in NAMESPACES:
        if not all(readiness.deployment_done(d) for d in cluster.list_("Deployment", ns)):
            return False
        if not all(readiness.statefulset_done(s) for s in cluster.list_("StatefulSet", ns)):
            return False
        if not all(readiness.daemonset_done(d) for d in cluster.list_("DaemonSet", ns)):
            return False
        if not readiness.all_pods_settled(cluster.DEMO.api, ns):
            return False
    return True


def _wait_healthy() -> None:
    procs.wait_for(_healthy, TIMEOUT, "SmartSensor and Titanium workloads Running/Ready", interval=1)


def _wait_metrics() -> None:
    def ok() -> bool:
        return all(readiness.running_pods_measured(cluster.DEMO.api, ns) for ns in NAMESPACES)

    procs.wait_for(ok, 120, "metrics API serving the SmartSensor and Titanium pods", interval=1)


def _ensure_backup_job(namespace: str, name: str) -> None:
    """As for QSIGN's CronJobs (testenv/cronjobs.py ensure_last_run_succeeded): the newest
    finished Job is a success, and lastScheduleTime is set; on a fresh cluster that run is
    backfilled for the schedule's previous fire time. The CronJob controller takes over after."""
    cronjobs.ensure_last_run_succeeded(cluster.DEMO.api, namespace, name)
    cronjobs.ensure_daily_history(cluster.DEMO.api, namespace, name, BACKUP_HISTORY_DAYS)


# --------------------------------------------------------------------------- fault helpers


def set_endpoint(name: str, status: str | None = None, latency_ms: float | None = None) -> None:
    """status="DOWN": the endpoint answers 503 {"status": "DOWN"}; latency_ms: it answers
    that much later; both None: healthy again. Waits until the endpoint shows it."""
    url(name)
    control = {k: v for k, v in (("status", status), ("latency_ms", latency_ms)) if v is not None}
    path = app_dir() / f"{name}.control.json"
    if control:
        procs.write_private(path, json.dumps(control) + "\n")
    else:
        path.unlink(missing_ok=True)

    def shows() -> bool:
        try:
            code = requests.get(url(name) + "/health", timeout=30).status_code
        except requests.RequestException:
            return False
        return (code == 200) == (status in (None, "UP"))

    procs.wait_for(shows, 30, f"{name} /health {'healthy' if status in (None, 'UP') else status}")


def log_file(file: str) -> Path:
    if file not in LOGS:
        raise ValueError(f"unknown log file {file!r}; expected one of {', '.join(LOGS)}")
    return logs_dir() / file


def write_log_lines(file: str, messages: list[str]) -> None:
    """Append messages (see message()) to a log file as CRI lines stamped now."""
    base = time.time_ns()
    append_lines(log_file(file), [cri_line(m, base + i) for i, m in enumerate(messages)])


def rotate_log(file: str) -> None:
    """Repair for a planted-lines fault: rotate the log as the kubelet does, so `kubectl
    logs` (which reads the current file only) no longer shows them."""
    path = log_file(file)
    path.replace(path.with_name(path.name + ".1"))
    path.touch()


def set_daemonset_fault(namespace: str, name: str, fault: str | None, timeout: float = TIMEOUT) -> list[dict]:
    """Add (fault='crashloop') or remove (None) the opscheck.testenv/fault label on a
    DaemonSet's pod template; the DaemonSet controller replaces its pods and kwok's fault
    stage acts on the new ones. Waits until it shows (crashloop: a new pod Running, not
    ready, CrashLoopBackOff; each passes its readiness probe once before crashing, so the
    rolling update goes on to every node) or, for None, until the DaemonSet is fully
    available again;
    then the Warning events about its pods go. Returns the DaemonSet's pods."""
    if fault not in (None, "crashloop"):
        raise ValueError("fault must be 'crashloop' or None")
    ds = cluster.get("DaemonSet", namespace, name)
    labels = ds["spec"]["template"]["metadata"].get("labels") or {}
    faults.patch_template_fault("DaemonSet", namespace, name, labels, fault)
    selector = ",".join(f"{k}={v}" for k, v in ds["spec"]["selector"]["matchLabels"].items())

    def pods() -> list[dict]:
        return cluster.list_("Pod", namespace, selector)

    def done() -> bool:
        current = cluster.get("DaemonSet", namespace, name)
        ps = pods()
        if any(p["metadata"].get("deletionTimestamp") for p in ps):
            return False
        if fault is None:
            return readiness.daemonset_done(current) and all(
                cluster.FAULT_LABEL not in p["metadata"].get("labels", {}) for p in ps
            )
        st = current.get("status") or {}
        return st.get("numberReady", 0) < st.get("desiredNumberScheduled", 0) and any(
            p["metadata"].get("labels", {}).get(cluster.FAULT_LABEL) == fault and readiness.pod_in_fault(p, fault)
            for p in ps
        )

    procs.wait_for(
        done,
        timeout,
        f"DaemonSet {namespace}/{name} pods " + (f"in fault {fault}" if fault else "healthy"),
        interval=0.5,
    )
    if fault is None:
        cluster.delete_events(namespace, lambda o: o.get("kind") == "Pod" and o.get("name", "").startswith(name + "-"))
    return pods()


USAGE_MEMORY = "kwok.x-k8s.io/usage-memory"


def set_pod_memory(namespace: str, app: str, memory: str | None, timeout: float = 60) -> list[dict]:
    """The memory use of the running pods labelled app=`app` (their kwok usage annotation,
    not the template: no rollout, the same pods grow); None: back to their template's value.
    Waits until the metrics API reports it for every pod (a scrape, ~10 s)."""
    pods = [p for p in cluster.list_("Pod", namespace, f"app={app}") if p.get("status", {}).get("phase") == "Running"]
    if not pods:
        return []
    owners = {o["name"] for p in pods for o in p["metadata"].get("ownerReferences") or []}
    template = None
    for rs in cluster.list_("ReplicaSet", namespace):
        if rs["metadata"]["name"] in owners:
            template = (rs["spec"]["template"]["metadata"].get("annotations") or {}).get(USAGE_MEMORY)
    want = memory or template
    if want is None:
        return pods
    changed = [p for p in pods if (p["metadata"].get("annotations") or {}).get(USAGE_MEMORY) != want]
    for p in changed:
        cluster.patch("Pod", namespace, p["metadata"]["name"], {"metadata": {"annotations": {USAGE_MEMORY: want}}})
    names = {p["metadata"]["name"] for p in pods}
    want_bytes = faults.parse_mem(want)

    def reflected() -> bool:
        ms = [m for m in cluster.metrics_pods(namespace) if m["metadata"]["name"] in names]
        # the annotation is each container's usage (kwok's ClusterResourceUsage)
        return len(ms) == len(names) and all(
            abs(faults.parse_mem(c["usage"]["memory"]) - want_bytes) <= 0.01 * want_bytes
            for m in ms
            for c in m["containers"]
        )

    if changed:
        procs.wait_for(reflected, timeout, f"metrics of {namespace}/{app} at memory {want}", interval=1)
    return pods
