"""Weekly: the week's error patterns (Titanium 003 주간 점검: 로그 검토 (에러 패턴 분석))."""

from datetime import timedelta

from opscheck.check import check, configured
from opscheck.rules.log_patterns import apps_without_logs, error_patterns, own_containers, recurring_patterns


@check("weekly.error-patterns", severity="medium", covers=["003.weekly.error-patterns"])
def test_error_patterns(pod_logs, profile, evidence):
    """The week's error lines grouped by message: the most frequent patterns, none recurring over the limit

    {namespace="titanium-prod"} |= "error" in Grafana Explore (Loki), or
    kubectl logs -n titanium-prod <pod> -c <container> --since=168h | grep -i error | sort | uniq -c | sort -rn | head
    A pattern that keeps coming back is a defect or a dependency problem: open a ticket with the
    pattern, its count and the first occurrence; fix the cause (timeouts: the downstream service
    or database; auth errors: expired tokens or secrets) rather than raising the limit.
    """
    rules = profile.logs
    configured(rules.apps, profile.required, "logs", "no apps listed under logs.apps")
    window = timedelta(days=rules.pattern_window_days)
    pods = {app: pod_logs.app_pods(profile.namespaces, rules.app_label, app) for app in rules.apps}
    lines_by_app = {app: pod_logs.lines([own_containers(p, app) for p in pods[app]], window) for app in rules.apps}
    evidence.expect_none(
        apps_without_logs(pods, lines_by_app, rules.app_label, profile.namespaces), "apps with no log to judge"
    )
    counts = error_patterns(lines_by_app, rules.error_pattern)
    top = counts.most_common(rules.pattern_top)
    evidence.table({"object": pattern, "app": app, "count": n} for (app, pattern), n in top)
    total = sum(counts.values())
    evidence.note(
        f"{total} lines matching /{rules.error_pattern}/ in {len(counts)} patterns over the last "
        f"{rules.pattern_window_days:g} days, in {', '.join(rules.apps)}"
    )
    limit = rules.pattern_max_count
    evidence.expect_none(
        recurring_patterns(counts, limit),
        f"error patterns seen more than {limit} times in {rules.pattern_window_days:g} days",
        table=False,
    )
