"""Platform services read through the Kubernetes API: Velero backups and schedules,
External Secrets, Argo CD Applications, the CNI agent (Cilium) and Helm releases.

What `velero backup get`, `kubectl get externalsecrets -A`, `kubectl get applications -n
argocd`, `cilium status` and `helm list -A` show, from the objects those tools read. Helm
release records are read from their Secrets' labels (owner=helm, name, status, version)
only: the release payload never reaches opscheck (opscheck/sources/kube.py drops it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from croniter import croniter

from opscheck.rules.objects import Obj, Row, ref
from opscheck.rules.versions import parse_version
from opscheck.timeutil import describe_age, parse_duration, parse_time

if TYPE_CHECKING:
    from opscheck.sources.prometheus import Sample


def go_duration(text: str | None) -> timedelta | None:
    """A Go duration (720h0m0s, 168h, 1h30m, 0) as Velero and External Secrets write them;
    None when absent or malformed."""
    try:
        return None if text is None else parse_duration(text, "go")
    except ValueError:
        return None


def fmt_duration(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:g}h" if hours >= 1 else f"{delta.total_seconds() / 60:g}m"


def condition(obj: Obj, ctype: str) -> Obj:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == ctype), {})


# ----------------------------------------------------------------------------- Velero

SCHEDULE_LABEL = "velero.io/schedule-name"
FINISHED = {"Completed", "PartiallyFailed", "Failed", "FailedValidation"}


def backup_started(backup: Obj) -> datetime | None:
    status = backup.get("status") or {}
    return parse_time(status.get("startTimestamp")) or parse_time(backup["metadata"].get("creationTimestamp"))


def backup_row(backup: Obj, now: datetime) -> Row:
    status = backup.get("status") or {}
    done = parse_time(status.get("completionTimestamp"))
    return {
        "object": ref(backup),
        "schedule": (backup["metadata"].get("labels") or {}).get(SCHEDULE_LABEL, "(manual)"),
        "phase": status.get("phase", "New"),
        "errors": status.get("errors", 0),
        "warnings": status.get("warnings", 0),
        "completed": status.get("completionTimestamp", ""),
        "age": describe_age(now - done) if done else "",
        "expires": status.get("expiration", ""),
    }


def _backup_problems(backup: Obj) -> list[str]:
    status = backup.get("status") or {}
    phase = status.get("phase", "New")
    problems = []
    if phase != "Completed":
        problems.append(phase)
    if status.get("errors"):
        problems.append(f"{status['errors']} errors")
    if phase == "FailedValidation" and status.get("validationErrors"):
        problems.append("; ".join(status["validationErrors"]))
    if status.get("failureReason"):
        problems.append(status["failureReason"])
    return problems


def velero_backup_findings(
    schedules: list[Obj], backups: list[Obj], max_age: timedelta, now: datetime | None = None
) -> tuple[list[Row], list[Row]]:
    """(the newest backup of each schedule and the newest manual one, offenders).

    Per Schedule: its newest finished backup must be Completed without errors, and its
    newest Completed one must have finished within `max_age`. The newest manual backup
    (no schedule label) must not have failed."""
    now = now or datetime.now(UTC)
    seen, offenders = [], []
    by_schedule: dict[tuple[str, str], list[Obj]] = {}
    manual = []
    for b in backups:
        name = (b["metadata"].get("labels") or {}).get(SCHEDULE_LABEL)
        if name:
            by_schedule.setdefault((b["metadata"]["namespace"], name), []).append(b)
        else:
            manual.append(b)
    newest_first = lambda items: sorted(items, key=lambda b: backup_started(b) or now, reverse=True)  # noqa: E731
    for s in schedules:
        key = (s["metadata"]["namespace"], s["metadata"]["name"])
        mine = newest_first(by_schedule.get(key, []))
        finished = [b for b in mine if (b.get("status") or {}).get("phase") in FINISHED]
        if not finished:
            offenders.append({"object": f"schedule {ref(s)}", "detail": "no finished backup"})
            continue
        newest = finished[0]
        seen.append(backup_row(newest, now))
        problems = _backup_problems(newest)
        if problems:
            offenders.append({"object": ref(newest), "detail": ", ".join(problems)})
        completed = [b for b in finished if (b.get("status") or {}).get("phase") == "Completed"]
        done = parse_time((completed[0].get("status") or {}).get("completionTimestamp")) if completed else None
        if done is None:
            offenders.append({"object": f"schedule {ref(s)}", "detail": "no Completed backup"})
        elif now - done > max_age:
            offenders.append(
                {
                    "object": ref(completed[0]),
                    "detail": f"last Completed {describe_age(now - done)} ago, over {fmt_duration(max_age)}",
                }
            )
    finished_manual = [b for b in newest_first(manual) if (b.get("status") or {}).get("phase") in FINISHED]
    if finished_manual:
        newest = finished_manual[0]
        seen.append(backup_row(newest, now))
        problems = _backup_problems(newest)
        if problems:
            offenders.append({"object": ref(newest), "detail": ", ".join(problems)})
    return seen, offenders


def _cron_and_zone(expr: str) -> tuple[str, Any]:
    m = re.match(r"^CRON_TZ=(\S+)\s+(.*)$", expr.strip())
    return (m.group(2), ZoneInfo(m.group(1))) if m else (expr.strip(), UTC)


def last_due(expr: str, now: datetime, grace: timedelta) -> datetime:
    """The newest fire time of the cron expression that is at least `grace` old (Velero
    runs schedules in UTC unless the expression starts with CRON_TZ=)."""
    cron, zone = _cron_and_zone(expr)
    return croniter(cron, (now - grace).astimezone(zone)).get_prev(datetime).astimezone(UTC)


def _namespaces_missing(template: Obj, wanted: list[str]) -> list[str]:
    included = template.get("includedNamespaces") or ["*"]
    if "*" in included:
        excluded = set(template.get("excludedNamespaces") or [])
        return [n for n in wanted if n in excluded]
    return [n for n in wanted if n not in included]


def schedule_problems(schedule: Obj, expected: Any | None, now: datetime, grace: timedelta) -> list[str]:
    """Why a Velero Schedule is not as agreed: paused, not Enabled, another cron or TTL,
    namespaces left out, or no backup since its last fire time."""
    spec, status = schedule.get("spec") or {}, schedule.get("status") or {}
    template = spec.get("template") or {}
    problems = []
    if spec.get("paused"):
        problems.append("paused")
    phase = status.get("phase", "New")
    if phase != "Enabled":
        problems.append(
            f"phase {phase}" + (f" ({'; '.join(status['validationErrors'])})" if status.get("validationErrors") else "")
        )
    if expected is not None:
        if spec.get("schedule", "").strip() != expected.schedule.strip():
            problems.append(f"schedule {spec.get('schedule')!r}, agreed {expected.schedule!r}")
        ttl, want = go_duration(template.get("ttl")), go_duration(expected.ttl)
        if ttl != want:
            problems.append(f"TTL {template.get('ttl') or 'unset (720h default)'}, agreed {expected.ttl}")
        missing = _namespaces_missing(template, expected.included_namespaces)
        if missing:
            problems.append(f"does not include namespace(s) {', '.join(missing)}")
    if spec.get("schedule"):
        last = parse_time(status.get("lastBackup"))
        due = last_due(spec["schedule"], now, grace)
        if last is None:
            problems.append("never backed up (no lastBackup)")
        elif last < due - timedelta(minutes=1):
            problems.append(f"last backup {status['lastBackup']} missed the run due at {due:%Y-%m-%dT%H:%M:%SZ}")
    return problems


def velero_schedule_findings(
    schedules: list[Obj], expected: dict[str, Any], namespace: str, now: datetime, grace: timedelta
) -> tuple[list[Row], list[Row]]:
    """(a row per Schedule, offenders): every agreed Schedule (`expected`, by name) exists in
    `namespace`, and every Schedule there is as agreed (`schedule_problems`)."""
    by_name = {s["metadata"]["name"]: s for s in schedules}
    rows, offenders = [], []
    for name in sorted(set(by_name) | set(expected)):
        s = by_name.get(name)
        if s is None:
            offenders.append({"object": f"{namespace}/{name}", "detail": "not found"})
            continue
        spec, status = s.get("spec") or {}, s.get("status") or {}
        rows.append(
            {
                "object": ref(s),
                "schedule": spec.get("schedule", ""),
                "ttl": (spec.get("template") or {}).get("ttl", ""),
                "paused": bool(spec.get("paused")),
                "phase": status.get("phase", "New"),
                "lastBackup": status.get("lastBackup", ""),
                "agreed": f"{expected[name].schedule}, ttl {expected[name].ttl}"
                if name in expected
                else "(not in the profile)",
            }
        )
        problems = schedule_problems(s, expected.get(name), now, grace)
        if problems:
            offenders.append({"object": ref(s), "detail": "; ".join(problems)})
    return rows, offenders


# -------------------------------------------------------------------- External Secrets


def external_secret_problems(
    es: Obj, secret_names: set[tuple[str, str]], now: datetime, stale_after_intervals: float
) -> list[str]:
    spec, status = es.get("spec") or {}, es.get("status") or {}
    problems = []
    ready = condition(es, "Ready")
    if not ready:
        problems.append("no Ready condition (never reconciled)")
    elif ready.get("status") != "True":
        problems.append(f"Ready={ready.get('status')} ({ready.get('reason', '')}: {ready.get('message', '')})")
    interval = go_duration(spec.get("refreshInterval", "1h"))
    refreshed = parse_time(status.get("refreshTime"))
    if interval and interval > timedelta(0):
        limit = interval * stale_after_intervals
        if refreshed is None:
            problems.append("never refreshed (no refreshTime)")
        elif now - refreshed > limit:
            problems.append(
                f"last refreshed {describe_age(now - refreshed)} ago, refreshInterval "
                f"{spec.get('refreshInterval', '1h')}"
            )
    target = spec.get("target") or {}
    if ready.get("status") == "True" and target.get("creationPolicy", "Owner") != "None":
        name = target.get("name") or es["metadata"]["name"]
        if (es["metadata"]["namespace"], name) not in secret_names:
            problems.append(f"target Secret {name} does not exist")
    return problems


def external_secret_findings(
    items: Iterable[Obj], secrets: Iterable[Obj], now: datetime, stale_after_intervals: float, ignore: Iterable[str]
) -> tuple[list[Row], list[Row]]:
    """(a row per ExternalSecret not ignored, offenders)."""
    secret_names = {(s["metadata"]["namespace"], s["metadata"]["name"]) for s in secrets}
    ignored = set(ignore)
    rows, offenders = [], []
    for es in items:
        if ref(es) in ignored:
            continue
        problems = external_secret_problems(es, secret_names, now, stale_after_intervals)
        status = es.get("status") or {}
        rows.append(
            {
                "object": ref(es),
                "refreshInterval": (es.get("spec") or {}).get("refreshInterval", "1h"),
                "refreshTime": status.get("refreshTime", ""),
                "problems": "; ".join(problems) or "ok",
            }
        )
        if problems:
            offenders.append({"object": ref(es), "detail": "; ".join(problems)})
    return rows, offenders


# ------------------------------------------------------------------------------ Argo CD


def application_problems(app: Obj) -> list[str]:
    status = app.get("status") or {}
    sync = (status.get("sync") or {}).get("status", "Unknown")
    health = status.get("health") or {}
    problems = []
    if sync != "Synced":
        problems.append(sync)
    if health.get("status", "Unknown") != "Healthy":
        problems.append(health.get("status", "Unknown") + (f": {health['message']}" if health.get("message") else ""))
    op = status.get("operationState") or {}
    if op.get("phase") in ("Failed", "Error"):
        problems.append(f"last sync {op['phase']}" + (f": {op['message']}" if op.get("message") else ""))
    return problems


def application_findings(apps: Iterable[Obj], ignore: Iterable[str]) -> tuple[list[Row], list[Row]]:
    """(a row per Application not ignored, as `argocd app list` shows it, offenders)."""
    ignored = set(ignore)
    rows, offenders = [], []
    for app in apps:
        if ref(app) in ignored:
            continue
        status = app.get("status") or {}
        op = status.get("operationState") or {}
        rows.append(
            {
                "object": ref(app),
                "sync": (status.get("sync") or {}).get("status", "Unknown"),
                "health": (status.get("health") or {}).get("status", "Unknown"),
                "revision": ((status.get("sync") or {}).get("revision") or "")[:12],
                "last_sync": f"{op.get('phase', '')} {op.get('finishedAt', '')}".strip(),
            }
        )
        problems = application_problems(app)
        if problems:
            offenders.append({"object": ref(app), "detail": ", ".join(problems)})
    return rows, offenders


# ---------------------------------------------------------------------------------- CNI


def image_version(image: str) -> str | None:
    """The tag of `repo/name:v1.16.0@sha256:...`, if it looks like a version."""
    tag = image.split("@", 1)[0].rsplit("/", 1)[-1]
    tag = tag.split(":", 1)[1] if ":" in tag else ""
    return tag if parse_version(tag) else None


def _first_image(obj: Obj) -> str:
    containers = ((obj.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or [{}]
    return containers[0].get("image", "")


def cni_problems(
    daemonset: Obj | None, operator: Obj | None, operator_name: str | None, min_version: str | None
) -> tuple[list[str], Row]:
    """Why the CNI is not fully up: agents not ready/updated/available on every node they
    should run on, the operator unavailable, an agent older than `min_version`, or the
    operator on another version than the agents. Also returns the numbers (`cilium status`)."""
    st = (daemonset or {}).get("status") or {}
    desired = st.get("desiredNumberScheduled", 0)
    facts: Row = {
        "desired": desired,
        "ready": st.get("numberReady", 0),
        "updated": st.get("updatedNumberScheduled", 0),
        "available": st.get("numberAvailable", 0),
        "misscheduled": st.get("numberMisscheduled", 0),
    }
    problems = []
    if desired == 0:
        problems.append("agent DaemonSet is scheduled on no node")
    for what in ("ready", "updated", "available"):
        if facts[what] < desired:
            problems.append(f"{facts[what]}/{desired} agents {what}")
    if facts["misscheduled"]:
        problems.append(f"{facts['misscheduled']} agents on nodes they should not run on")
    agent_image = _first_image(daemonset or {})
    facts["agent_image"] = agent_image
    agent_version = image_version(agent_image)
    if min_version and agent_version and parse_version(agent_version) < parse_version(min_version):
        problems.append(f"agent {agent_version} is older than {min_version}")
    if operator_name:
        if operator is None:
            problems.append(f"operator Deployment {operator_name} not found")
        else:
            want = (operator.get("spec") or {}).get("replicas", 1)
            available = (operator.get("status") or {}).get("availableReplicas", 0)
            facts["operator_available"] = f"{available}/{want}"
            if available < max(want, 1):
                problems.append(f"operator {operator_name} {available}/{want} available")
            operator_version = image_version(_first_image(operator))
            facts["operator_image"] = _first_image(operator)
            if agent_version and operator_version and parse_version(agent_version) != parse_version(operator_version):
                problems.append(f"operator {operator_version} and agents {agent_version} differ (upgrade half done)")
    return problems, facts


def _agent(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """Which agent a series came from: its labels but the metric name and the remote."""
    return tuple(sorted((k, v) for k, v in labels.items() if k not in ("__name__", "target_cluster")))


def clustermesh_findings(
    remotes: list[str], readiness: Iterable[Sample], last_failure: Iterable[Sample], now: datetime
) -> tuple[list[Row], list[str]]:
    """Each expected remote cluster as this cluster's agents see it (`cilium clustermesh
    status`): a row per remote (agents reporting it ready, the last failure), and the
    problems: a remote some agent reports not ready, a remote no agent reports while others
    are reported (missing from the mesh configuration), or no agent reporting at all."""
    ready: dict[str, dict[tuple[tuple[str, str], ...], bool]] = {}
    agents: set[tuple[tuple[str, str], ...]] = set()
    for sample in readiness:
        agent = _agent(sample.labels)
        agents.add(agent)
        ready.setdefault(sample.labels.get("target_cluster", ""), {})[agent] = sample.value == 1
    failed_at: dict[str, float] = {}
    for sample in last_failure:
        remote = sample.labels.get("target_cluster", "")
        failed_at[remote] = max(failed_at.get(remote, 0.0), sample.value)
    if not agents:
        return [], ["no agent reports the cluster mesh (no readiness samples)"]
    rows: list[Row] = []
    problems: list[str] = []
    for remote in remotes:
        seen = ready.get(remote, {})
        ready_count = sum(seen.values())
        last = failed_at.get(remote, 0.0)
        last_text = "never"
        if last > 0:
            last_text = f"{describe_age(now - datetime.fromtimestamp(last, UTC))} ago"
        rows.append(
            {
                "object": f"remote cluster {remote}",
                "agents_ready": f"{ready_count}/{len(agents)}",
                "last_failure": last_text,
            }
        )
        if not seen:
            problems.append(f"{remote} missing (none of {len(agents)} agents has it configured)")
        elif ready_count < len(agents):
            problems.append(f"{remote} not ready on {len(agents) - ready_count} of {len(agents)} agents")
            if last > 0:
                problems[-1] += f" (last failure {last_text})"
    for remote in sorted(set(ready) - set(remotes)):
        rows.append({"object": f"remote cluster {remote} (not expected)", "agents_ready": "", "last_failure": ""})
    return rows, problems


# --------------------------------------------------------------------------------- Helm

HELM_BAD = {"failed", "pending-install", "pending-upgrade", "pending-rollback", "uninstalling", "unknown"}


def helm_releases(records: Iterable[Obj]) -> list[Row]:
    """The latest revision of each release (`helm list -A --all`), from the release
    records' labels (Secrets of type helm.sh/release.v1, or ConfigMaps of the configmap
    driver), sorted by namespace and name."""
    latest: dict[tuple[str, str], Row] = {}
    for obj in records:
        labels = obj["metadata"].get("labels") or {}
        if labels.get("owner") != "helm" or not labels.get("name"):
            continue
        try:
            revision = int(labels.get("version", "0"))
        except ValueError:
            continue
        key = (obj["metadata"]["namespace"], labels["name"])
        if key not in latest or revision > latest[key]["revision"]:
            latest[key] = {
                "object": f"{key[0]}/{key[1]}",
                "revision": revision,
                "status": labels.get("status", "unknown"),
                "record": obj["metadata"]["name"],
            }
    return [latest[k] for k in sorted(latest)]


def helm_records(secrets: Iterable[Obj], configmaps: Iterable[Obj]) -> list[Obj]:
    """The Secrets and ConfigMaps labelled owner=helm: the release records of both drivers."""
    return [
        o for objs in (secrets, configmaps) for o in objs if (o["metadata"].get("labels") or {}).get("owner") == "helm"
    ]


def helm_offenders(releases: list[Row]) -> list[Row]:
    return [{**r, "detail": f"revision {r['revision']} {r['status']}"} for r in releases if r["status"] in HELM_BAD]


def is_helm_record(obj: Obj) -> bool:
    labels = obj["metadata"].get("labels") or {}
    return obj.get("type") == "helm.sh/release.v1" or (labels.get("owner") == "helm" and "name" in labels)
