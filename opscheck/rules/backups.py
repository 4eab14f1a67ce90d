"""Backup CronJobs: did the last run succeed, recently enough, on schedule?"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter

from opscheck.timeutil import parse_time

Obj = dict[str, Any]


@dataclass
class JobRun:
    name: str
    created: datetime
    outcome: str  # "succeeded", "failed", "running"
    finished: datetime | None
    reason: str = ""


def job_run(job: Obj) -> JobRun:
    status = job.get("status") or {}
    conds = {c["type"]: c for c in status.get("conditions") or [] if c.get("status") == "True"}
    created = parse_time(job["metadata"]["creationTimestamp"])
    if "Complete" in conds:
        return JobRun(
            job["metadata"]["name"],
            created,
            "succeeded",
            parse_time(status.get("completionTime")) or parse_time(conds["Complete"].get("lastTransitionTime")),
        )
    if "Failed" in conds:
        c = conds["Failed"]
        return JobRun(
            job["metadata"]["name"], created, "failed", parse_time(c.get("lastTransitionTime")), c.get("reason") or ""
        )
    return JobRun(job["metadata"]["name"], created, "running", None)


def runs_of(cronjob: Obj, jobs: list[Obj]) -> list[JobRun]:
    """Jobs owned by the CronJob (scheduled or created with --from), newest first."""
    uid = cronjob["metadata"]["uid"]
    owned = [j for j in jobs if any(o.get("uid") == uid for o in j["metadata"].get("ownerReferences") or [])]
    return sorted((job_run(j) for j in owned), key=lambda r: r.created, reverse=True)


def backup_problems(cronjob: Obj, jobs: list[Obj], max_age: timedelta, now: datetime | None = None) -> list[str]:
    """Why this backup is not in order: suspended, last run failed, no recent success."""
    now = now or datetime.now(UTC)
    problems = []
    if (cronjob.get("spec") or {}).get("suspend"):
        problems.append("CronJob is suspended")
    runs = runs_of(cronjob, jobs)
    finished = [r for r in runs if r.outcome != "running"]
    if finished and finished[0].outcome == "failed":
        r = finished[0]
        problems.append(f"last job {r.name} failed" + (f" ({r.reason})" if r.reason else ""))
    successes = [r for r in runs if r.outcome == "succeeded" and r.finished]
    if not successes:
        problems.append("no successful job found")
    else:
        age = now - max(r.finished for r in successes)  # type: ignore[type-var]
        if age > max_age:
            problems.append(f"last success {_hours(age)} ago, over {_hours(max_age)}")
    return problems


def schedule_problems(cronjob: Obj, now: datetime | None = None, grace: timedelta = timedelta(minutes=10)) -> list[str]:
    """lastScheduleTime must not be older than the schedule's previous fire time (plus grace)."""
    now = now or datetime.now(UTC)
    spec, status = cronjob.get("spec") or {}, cronjob.get("status") or {}
    tz = ZoneInfo(spec["timeZone"]) if spec.get("timeZone") else UTC
    previous_fire = croniter(spec["schedule"], now.astimezone(tz)).get_prev(datetime)
    last = parse_time(status.get("lastScheduleTime"))
    if last is None:
        return ["never scheduled (no lastScheduleTime)"]
    if last + grace < previous_fire:
        return [
            f"lastScheduleTime {status['lastScheduleTime']} missed the run due at "
            f"{previous_fire.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ} (schedule {spec['schedule']!r})"
        ]
    return []


def _hours(delta: timedelta) -> str:
    h = delta.total_seconds() / 3600
    return f"{h:.1f} h"


def describe_hours(delta: timedelta) -> str:
    """`24 h`: an age limit as the checks state it."""
    return f"{delta.total_seconds() / 3600:g} h"


def run_rows(namespace: str, cronjob: Obj, jobs: list[Obj], limit: int = 10) -> list[dict[str, Any]]:
    """The CronJob's newest runs as evidence rows."""
    return [
        {
            "object": f"{namespace}/{r.name}",
            "outcome": r.outcome,
            "reason": r.reason,
            "finished": f"{r.finished:%Y-%m-%d %H:%M:%S}Z" if r.finished else "",
        }
        for r in runs_of(cronjob, jobs)[:limit]
    ]


def schedule_row(namespace: str, cronjob: Obj) -> dict[str, Any]:
    """The CronJob's schedule and when it last ran and succeeded."""
    status = cronjob.get("status") or {}
    return {
        "object": f"{namespace}/{cronjob['metadata']['name']}",
        "schedule": cronjob["spec"]["schedule"],
        "lastScheduleTime": status.get("lastScheduleTime", ""),
        "lastSuccessfulTime": status.get("lastSuccessfulTime", ""),
    }


SCHEDULED_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"
DEFAULT_SUCCESSFUL_HISTORY = 3  # the CronJob API's default successfulJobsHistoryLimit


def scheduled_time(job: Obj) -> datetime | None:
    """The schedule fire a Job ran for: the CronJob controller's annotation, else (a run
    made with `kubectl create job --from`) when it started."""
    md = job.get("metadata") or {}
    return (
        parse_time((md.get("annotations") or {}).get(SCHEDULED_ANNOTATION))
        or parse_time((job.get("status") or {}).get("startTime"))
        or parse_time(md.get("creationTimestamp"))
    )


def daily_history(
    cronjob: Obj, jobs: list[Obj], now: datetime, days: int, grace: timedelta = timedelta(minutes=30)
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(rows, offenders): each fire of the CronJob's schedule over the last `days` days and
    the Job that ran for it (runbook 003: the backup CronJob succeeded every day of the
    week). A fire counts when a Job owned by the CronJob, scheduled for it or started
    before the next fire, succeeded; the newest fire is given `grace` to finish. A history
    limit that keeps fewer successful Jobs than fires makes the week unreadable."""
    spec = cronjob.get("spec") or {}
    tz = ZoneInfo(spec["timeZone"]) if spec.get("timeZone") else UTC
    it = croniter(spec["schedule"], now.astimezone(tz))
    fires: list[datetime] = []
    while True:
        fire = it.get_prev(datetime)
        if fire <= now - timedelta(days=days):
            break
        fires.append(fire.astimezone(UTC))
    fires.reverse()
    name = f"{cronjob['metadata']['namespace']}/{cronjob['metadata']['name']}"
    uid = cronjob["metadata"]["uid"]
    owned = [j for j in jobs if any(o.get("uid") == uid for o in j["metadata"].get("ownerReferences") or [])]
    timed = [(scheduled_time(j), job_run(j)) for j in owned]
    rows, offenders = [], []
    for i, fire in enumerate(fires):
        until = fires[i + 1] if i + 1 < len(fires) else now + timedelta(seconds=1)
        runs = sorted((r for at, r in timed if at is not None and fire <= at < until), key=lambda r: r.created)
        ok = [r for r in runs if r.outcome == "succeeded"]
        if ok:
            verdict, detail = "succeeded", ok[-1].name
        elif runs and runs[-1].outcome == "running":
            verdict, detail = "running", runs[-1].name
        elif runs:
            verdict, detail = "failed", ", ".join(r.name + (f" ({r.reason})" if r.reason else "") for r in runs)
        elif i + 1 == len(fires) and now - fire < grace:
            verdict, detail = "not run yet", f"fired {_hours(now - fire)} ago"
        else:
            verdict, detail = "no run", "no Job for this schedule fire"
        rows.append({"object": name, "scheduled": f"{fire:%Y-%m-%d %H:%M}Z", "run": verdict, "job": detail})
        if verdict in ("failed", "no run"):
            offenders.append({"object": f"{name} {fire:%Y-%m-%d %H:%M}Z", "detail": f"{verdict}: {detail}"})
    kept = spec.get("successfulJobsHistoryLimit", DEFAULT_SUCCESSFUL_HISTORY)
    if kept < len(fires):
        offenders.append(
            {
                "object": name,
                "detail": f"successfulJobsHistoryLimit {kept} keeps fewer Jobs than the {len(fires)} runs of "
                f"{days} days: raise it to at least {len(fires)}",
            }
        )
    if not fires:
        offenders.append({"object": name, "detail": f"schedule {spec['schedule']!r} did not fire in {days} days"})
    return rows, offenders
