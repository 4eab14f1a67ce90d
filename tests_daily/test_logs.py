"""Daily: error logs, signature statistics and warning events (QSIGN 000 로그 확인, log-analysis.sh)."""
from datetime import datetime, timedelta, timezone

from opscheck.check import check, configured
from opscheck.sources.pod_logs import app_pods, matching, read_lines
from opscheck.timeutil import parse_time


@check(
    id="daily.error-logs",
    title="ERROR lines per app in the window stay under the threshold",
    severity="high",
    covers=["000.daily.error-logs-1h", "002.daily.error-logs-24h"],
    remediation="""\
kubectl logs -n qsign -l app=<app> --since=1h | grep ERROR | tail -20
Top errors: kubectl logs -n qsign --all-containers --since=1h | grep ERROR | awk -F': ' '{print $2}' | sort | uniq -c | sort -rn | head -5
Follow the most frequent error to its cause (database, Vault, HSM, downstream timeouts).
SmartSensor (24 h): kubectl logs --since=24h -l app=api-server -n hankook-smartsensor | grep -i error | tail -20""",
)
def test_error_logs(cluster, profile, evidence):
    rules = profile.logs
    configured(rules.apps, profile.required, "logs", "no apps listed under logs.apps")
    window = timedelta(minutes=rules.error_window_minutes)
    limit = profile.thresholds.error_lines
    rows, offenders = [], []
    for app in rules.apps:
        pods = app_pods(cluster, profile.namespaces, rules.app_label, app)
        errors = matching(read_lines(cluster, pods, window), rules.error_pattern)
        rows.append({"object": app, "pods": len(pods), "error_lines": len(errors)})
        if len(errors) > limit:
            offenders.append({"object": app, "detail": f"{len(errors)} ERROR lines"})
            for e in errors[-3:]:
                evidence.note(f"{e.pod}: {e.text[:200]}")
    evidence.table(rows)
    evidence.note(f"threshold: {limit} lines per app in {window}")
    evidence.expect_none(offenders, f"apps over {limit} ERROR lines in the last {window}", table=False)


@check(
    id="daily.signature-stats",
    title="Signature requests were served, with the failure ratio under the threshold",
    severity="high",
    covers=["000.daily.signature-stats"],
    remediation="""\
kubectl logs -n qsign -l app=signature-service --since=1h | grep -c "Signature request received"
kubectl logs -n qsign -l app=signature-service | grep "signature failed"
Failures: check the HSM connection (hsm-adapter /health/ready) and Vault key access.
No requests: check the ingress and api-server, the traffic may not be reaching the service.""",
)
def test_signature_stats(cluster, profile, evidence):
    rules = profile.logs
    configured(rules.signature_app, profile.required, "logs", "logs.signature_app is not set in this profile")
    window = timedelta(minutes=rules.signature_window_minutes)
    pods = app_pods(cluster, profile.namespaces, rules.app_label, rules.signature_app)
    lines = read_lines(cluster, pods, window)
    requested = len([ln for ln in lines if rules.signature_requested in ln.text])
    completed = len([ln for ln in lines if rules.signature_completed in ln.text])
    failed = len([ln for ln in lines if rules.signature_failed in ln.text])
    evidence.table([{"object": rules.signature_app, "requested": requested, "completed": completed,
                     "failed": failed, "window": str(window)}])
    if requested == 0:
        evidence.fail(f"no signature requests logged by {rules.signature_app} in the last {window}")
    ratio = failed / requested
    evidence.expect_at_most(ratio, profile.thresholds.signature_failure_ratio,
                            what=f"signature failure ratio ({failed} failed of {requested})")


@check(
    id="daily.warning-events",
    title="No Warning events in the monitored namespaces in the window (or under the threshold)",
    severity="medium",
    covers=["000.daily.warning-events"],
    remediation="""\
kubectl get events -n qsign --sort-by='.lastTimestamp' | grep -E '(Warning|Error)'
kubectl describe <kind> -n qsign <name>   # the object the event is about""",
)
def test_warning_events(cluster, profile, evidence):
    window = timedelta(minutes=profile.thresholds.warning_events_window_minutes)
    since = datetime.now(timezone.utc) - window
    offenders = []
    for ev in cluster.in_namespaces("events", profile.namespaces):
        if ev.get("type") != "Warning":
            continue
        seen = parse_time(ev.get("lastTimestamp") or ev.get("eventTime") or ev["metadata"].get("creationTimestamp"))
        if seen is not None and seen < since:
            continue
        obj = ev.get("involvedObject") or {}
        offenders.append({"object": f"{obj.get('kind', '?')}/{ev['metadata']['namespace']}/{obj.get('name', '?')}",
                          "detail": f"{ev.get('reason')}: {(ev.get('message') or '')[:160]}",
                          "count": ev.get("count", 1), "last_seen": seen.strftime("%Y-%m-%d %H:%M:%S") if seen else ""})
    evidence.table(offenders)
    evidence.expect_at_most(len(offenders), profile.thresholds.warning_events,
                            what=f"Warning events in the last {window}", offenders=offenders)
