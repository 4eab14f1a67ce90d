"""Daily: error logs, signature statistics and warning events (QSIGN 000 로그 확인, log-analysis.sh)."""

from datetime import UTC, datetime, timedelta

from opscheck.check import check, configured
from opscheck.rules.events import recent_warnings
from opscheck.rules.log_patterns import apps_without_logs, count_containing, error_lines_per_app
from opscheck.rules.objects import present_namespaces


@check("daily.error-logs", severity="high", covers=["000.daily.error-logs-1h", "002.daily.error-logs-24h"])
def test_error_logs(pod_logs, profile, evidence):
    """ERROR lines per app in the window stay under the threshold

    kubectl logs -n qsign -l app=<app> --since=1h | grep ERROR | tail -20
    Top errors: kubectl logs -n qsign --all-containers --since=1h | grep ERROR | awk -F': ' '{print $2}' | sort | uniq -c | sort -rn | head -5
    Follow the most frequent error to its cause (database, Vault, HSM, downstream timeouts).
    SmartSensor (24 h): kubectl logs --since=24h -l app=api-server -n hankook-smartsensor | grep -i error | tail -20
    """
    rules = profile.logs
    configured(rules.apps, profile.required, "logs", "no apps listed under logs.apps")
    window = timedelta(minutes=rules.error_window_minutes)
    limit = profile.thresholds.error_lines
    pods = {app: pod_logs.app_pods(profile.namespaces, rules.app_label, app) for app in rules.apps}
    lines = {app: pod_logs.lines(p, window) for app, p in pods.items()}
    evidence.expect_none(
        apps_without_logs(pods, lines, rules.app_label, profile.namespaces), "apps with no log to judge"
    )
    per = timedelta(minutes=rules.error_count_minutes) if rules.error_count_minutes else None
    rows, offenders, examples = error_lines_per_app(
        {app: (len(pods[app]), lines[app]) for app in rules.apps}, rules.error_pattern, limit, per
    )
    for line in examples:
        evidence.note(line)
    evidence.table(rows)
    per_text = f" per {per}" if per else ""
    evidence.note(f"window: the last {window}; threshold: {limit} lines per app{per_text or ' in the window'}")
    evidence.expect_none(offenders, f"apps over {limit} ERROR lines{per_text} in the last {window}", table=False)


@check("daily.signature-stats", severity="high", covers=["000.daily.signature-stats"])
def test_signature_stats(pod_logs, profile, evidence):
    """Signature requests were served, with the failure ratio under the threshold

    kubectl logs -n qsign -l app=signature-service --since=1h | grep -c "Signature request received"
    kubectl logs -n qsign -l app=signature-service | grep "signature failed"
    Failures: check the HSM connection (hsm-adapter /health/ready) and Vault key access.
    No requests: check the ingress and api-server, the traffic may not be reaching the service.
    """
    rules = profile.logs
    configured(rules.signature_app, profile.required, "logs", "logs.signature_app is not set in this profile")
    window = timedelta(minutes=rules.signature_window_minutes)
    pods = pod_logs.app_pods(profile.namespaces, rules.app_label, rules.signature_app)
    counts = count_containing(
        pod_logs.lines(pods, window),
        {
            "requested": rules.signature_requested,
            "completed": rules.signature_completed,
            "failed": rules.signature_failed,
        },
    )
    requested, completed, failed = counts["requested"], counts["completed"], counts["failed"]
    evidence.table(
        [
            {
                "object": rules.signature_app,
                "requested": requested,
                "completed": completed,
                "failed": failed,
                "window": str(window),
            }
        ]
    )
    if requested == 0:
        evidence.fail(f"no signature requests logged by {rules.signature_app} in the last {window}")
    ratio = failed / requested
    evidence.expect_at_most(
        ratio,
        profile.thresholds.signature_failure_ratio,
        what=f"signature failure ratio ({failed} failed of {requested})",
    )


@check("daily.warning-events", severity="medium", covers=["000.daily.warning-events"])
def test_warning_events(cluster, profile, evidence):
    """No Warning events in the monitored namespaces in the window (or under the threshold)

    kubectl get events -n qsign --sort-by='.lastTimestamp' | grep -E '(Warning|Error)'
    kubectl describe <kind> -n qsign <name>   # the object the event is about
    """
    present = present_namespaces(cluster.list("namespaces"), profile.namespaces)
    evidence.examined(
        present, f"monitored namespaces present: {', '.join(present) or 'none'} (of {', '.join(profile.namespaces)})"
    )
    window = timedelta(minutes=profile.thresholds.warning_events_window_minutes)
    offenders = recent_warnings(cluster.in_namespaces("events", profile.namespaces), datetime.now(UTC) - window)
    evidence.note(f"window: the last {window}, as far as the API server keeps Events (--event-ttl, 1 h by default)")
    evidence.table(offenders)
    evidence.expect_at_most(
        len(offenders),
        profile.thresholds.warning_events,
        what=f"Warning events in the last {window}",
        offenders=offenders,
    )
