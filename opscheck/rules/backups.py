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
