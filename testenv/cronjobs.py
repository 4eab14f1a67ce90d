"""Running a CronJob's Job by hand, as `kubectl create job --from=cronjob/<name>` does.

The demo's backup CronJobs (testenv/demo.py, testenv/systems.py) need a finished run on a
fresh cluster, and the backup faults (testenv/faults.py) need a failed one now.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets

from testenv.kubeapi import DEFAULT_TIMEOUT, KubeApi
from testenv.procs import wait_for
from testenv.readiness import FAULT_LABEL, job_finished

INJECTED_LABEL = "opscheck.testenv/injected"
JOB_TEMPLATE_FAULT_PATH = "/spec/jobTemplate/spec/template/metadata/labels/" + FAULT_LABEL.replace("/", "~1")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def rfc3339(t: dt.datetime | None = None) -> str:
    return (t or now()).strftime("%Y-%m-%dT%H:%M:%SZ")


def previous_fire(schedule: str, at: dt.datetime | None = None) -> dt.datetime:
    from croniter import croniter

    return croniter(schedule, at or now()).get_prev(dt.datetime)


def cronjob_broken(cj: dict) -> bool:
    """Whether the CronJob's pod template carries the 'fail' fault label."""
    tpl = cj["spec"]["jobTemplate"]["spec"]["template"]
    return (tpl.get("metadata") or {}).get("labels", {}).get(FAULT_LABEL) == "fail"


def jobs_of(api: KubeApi, namespace: str, cronjob: str) -> list[dict]:
    return [
        j
        for j in api.list_("Job", namespace)
        if any(
            o.get("kind") == "CronJob" and o.get("name") == cronjob for o in j["metadata"].get("ownerReferences") or []
        )
    ]


def run_job_from(
    api: KubeApi, cj: dict, *, succeed: bool, scheduled: dt.datetime | None = None, timeout: float = DEFAULT_TIMEOUT
) -> dict:
    """Create a Job from the CronJob's jobTemplate, wait until it finishes as expected,
    then adopt it (ownerReference to the CronJob, controller=true). Adopting it only once
    it has finished lets the CronJob controller record it (lastSuccessfulTime) without the
    UnexpectedJob warning it raises for a running Job it did not create."""
    namespace, cronjob = cj["metadata"]["namespace"], cj["metadata"]["name"]
    tpl = json.loads(json.dumps(cj["spec"]["jobTemplate"]))
    md = tpl.get("metadata") or {}
    spec = tpl["spec"]
    labels = dict(md.get("labels") or {})
    annotations = dict(md.get("annotations") or {})
    if scheduled is not None:
        # named and annotated as the CronJob controller names a scheduled run
        name = f"{cronjob}-{int(scheduled.timestamp()) // 60}"
        annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"] = rfc3339(scheduled)
    else:
        name = f"{cronjob}-manual-{secrets.token_hex(3)}"
        annotations["cronjob.kubernetes.io/instantiate"] = "manual"  # as kubectl --from does
    pod_labels = spec["template"].setdefault("metadata", {}).setdefault("labels", {})
    if succeed:
        pod_labels.pop(FAULT_LABEL, None)
    else:
        spec["backoffLimit"] = 0
        pod_labels[FAULT_LABEL] = "fail"
        labels[INJECTED_LABEL] = "true"
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": labels, "annotations": annotations},
        "spec": spec,
    }
    api.create(job)
    want = "Complete" if succeed else "Failed"
    wait_for(lambda: job_finished(api.get("Job", namespace, name)) is not None, timeout, f"Job {name} to finish")
    got = job_finished(api.get("Job", namespace, name))
    if got != want:
        raise RuntimeError(f"Job {namespace}/{name} ended {got}, expected {want}")
    owner = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "name": cronjob,
        "uid": cj["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    api.patch("Job", namespace, name, {"metadata": {"ownerReferences": [owner]}})
    if succeed:

        def recorded() -> bool:
            last = (api.get("CronJob", namespace, cronjob).get("status") or {}).get("lastSuccessfulTime")
            done = api.get("Job", namespace, name)["status"].get("completionTime")
            return bool(last and done and last >= done)

        wait_for(recorded, 30, f"CronJob {cronjob} lastSuccessfulTime")
    return api.get("Job", namespace, name)


def repair_cronjob(api: KubeApi, namespace: str, cronjob: str) -> dict:
    """Remove the 'fail' fault label from the CronJob's pod template (if there)."""
    cj = api.get("CronJob", namespace, cronjob)
    if cj is None:
        raise LookupError(f"CronJob {namespace}/{cronjob} not found")
    if cronjob_broken(cj):
        api.patch(
            "CronJob", namespace, cronjob, [{"op": "remove", "path": JOB_TEMPLATE_FAULT_PATH}], kind_of_patch="json"
        )
        cj = api.get("CronJob", namespace, cronjob)
    return cj


def ensure_last_run_succeeded(api: KubeApi, namespace: str, cronjob: str) -> None:
    """The CronJob's newest finished Job is a successful one, and the CronJob has a
    lastScheduleTime. On a fresh cluster no schedule has fired yet, so this backfills the
    run a long-lived cluster would have: a Job named and annotated as the controller
    names the run of the schedule's previous fire time, and lastScheduleTime set to that
    time (the test environment writes that CronJob status field itself; the controller
    takes over from the next fire on)."""
    cj = repair_cronjob(api, namespace, cronjob)
    if not (cj.get("status") or {}).get("lastScheduleTime"):
        prev = previous_fire(cj["spec"]["schedule"])
        if api.get("Job", namespace, f"{cronjob}-{int(prev.timestamp()) // 60}") is None:
            run_job_from(api, cj, succeed=True, scheduled=prev)
        api.patch("CronJob", namespace, cronjob, {"status": {"lastScheduleTime": rfc3339(prev)}}, sub="status")
    jobs = sorted(jobs_of(api, namespace, cronjob), key=lambda j: j["metadata"]["creationTimestamp"])
    finished = [j for j in jobs if job_finished(j)]
    if not finished or job_finished(finished[-1]) != "Complete":
        run_job_from(api, cj, succeed=True)


def ensure_daily_history(api: KubeApi, namespace: str, cronjob: str, days: int) -> list[str]:
    """A successful Job for each fire of the CronJob's schedule over the last `days` days
    (what a week-old cluster keeps with successfulJobsHistoryLimit >= days), each named and
    annotated as the controller names that fire's run; the runs missing are backfilled now,
    oldest first, so the controller's history pruning (by start time) keeps the newest.
    Returns the names of the Jobs created."""
    from croniter import croniter

    from testenv.readiness import job_finished as finished

    cj = repair_cronjob(api, namespace, cronjob)
    it = croniter(cj["spec"]["schedule"], now())
    fires = []
    while (fire := it.get_prev(dt.datetime)) > now() - dt.timedelta(days=days):
        fires.append(fire)
    have = {
        (j["metadata"].get("annotations") or {}).get("batch.kubernetes.io/cronjob-scheduled-timestamp")
        for j in jobs_of(api, namespace, cronjob)
        if finished(j) == "Complete"
    }
    created = []
    for fire in reversed(fires):
        if rfc3339(fire) in have:
            continue
        stale = api.get("Job", namespace, f"{cronjob}-{int(fire.timestamp()) // 60}")
        if stale is not None:  # a failed or unfinished run of that fire: replaced by a good one
            api.delete("Job", namespace, stale["metadata"]["name"])
        created.append(run_job_from(api, cj, succeed=True, scheduled=fire)["metadata"]["name"])
    return created
