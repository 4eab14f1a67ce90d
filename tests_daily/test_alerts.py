"""Daily: alerts firing now, and the alerts of the last 24 hours (seeds 002 and 003)."""
from __future__ import annotations

from datetime import datetime, timezone

from opscheck.check import check
from opscheck.sources.prometheus import series_name
from opscheck.timeutil import parse_duration

REMEDIATION = """\
Open the alerts (Prometheus /alerts, or kubectl port-forward -n monitoring svc/prometheus-operated 9090:9090
and browse http://localhost:9090/alerts) and Alertmanager; follow each alert's runbook.
Incident playbook (seed 002): detect (confirm the alert, update the status page, assess the impact),
assess (first cause analysis, business impact, priority P1-P4), mitigate (divert traffic, isolate the
service, switch to the backup system), resolve (root cause, permanent fix, confirm service is normal),
communicate, and hold a post-mortem. P1 critical: respond within 15 minutes."""


def alert_object(labels: dict[str, str]) -> str:
    """`ServiceDown signature-service`: the alert name and what it is about."""
    rest = {k: v for k, v in labels.items() if k not in ("alertname", "alertstate", "severity", "__name__")}
    about = series_name(rest) if rest else ""
    return f"{labels.get('alertname', '?')} {about}".strip()


def fails(severity: str, severities: list[str]) -> bool:
    return not severities or severity in severities


@check(
    id="daily.alerts-firing",
    title="No alert firing at a severity that needs action",
    severity="high",
    covers=["002.alerts.none-firing"],
    remediation=REMEDIATION,
)
def test_no_alert_firing(prometheus, profile, evidence):
    cfg = profile.prometheus.alerting
    firing = [a for a in prometheus.alerts() if a.state == "firing"]
    rows, offenders = [], []
    for a in sorted(firing, key=lambda a: (a.name, alert_object(a.labels))):
        since = a.active_at.strftime("%Y-%m-%d %H:%M:%S UTC") if a.active_at else "?"
        ignored = a.name in cfg.ignore
        rows.append({"object": alert_object(a.labels), "severity": a.severity or "(none)", "firing since": since,
                     "counted": "no (allow-listed)" if ignored else ("yes" if fails(a.severity, cfg.firing_severities) else "no (severity)")})
        if not ignored and fails(a.severity, cfg.firing_severities):
            offenders.append({"object": alert_object(a.labels), "detail": f"{a.severity or 'no severity'}, since {since}"})
    evidence.table(rows)
    evidence.note(f"severities that fail: {', '.join(cfg.firing_severities) or 'any'}; allow-listed: {', '.join(cfg.ignore) or 'none'}")
    evidence.expect_none(offenders, "alerts firing", table=False)


@check(
    id="daily.alerts-24h",
    title="Alerts of the last 24 hours reviewed: none still firing",
    severity="high",
    covers=["003.daily.alerts-24h"],
    remediation=REMEDIATION,
)
def test_alerts_of_the_last_day(prometheus, profile, evidence):
    cfg = profile.prometheus.alerting
    window = profile.prometheus.windows.daily
    # First and last firing time, at a resolution of ~1/720 of the window (2 minutes for 24 h).
    step = f"{max(1, int(parse_duration(window, 'promql').total_seconds() / 720))}s"
    selector = 'ALERTS{alertstate="firing"}'
    first = prometheus.query(f"min_over_time(timestamp({selector})[{window}:{step}])")
    last = {key(s.labels): s.value for s in prometheus.query(f"max_over_time(timestamp({selector})[{window}:{step}])")}
    now = {key(s.labels) for s in prometheus.query(selector)}
    rows, offenders = [], []
    for s in sorted(first, key=lambda s: (s.labels.get("alertname", ""), alert_object(s.labels))):
        k, name, severity = key(s.labels), s.labels.get("alertname", "?"), s.labels.get("severity", "")
        still = k in now
        rows.append({"object": alert_object(s.labels), "severity": severity or "(none)",
                     "first fired": utc(s.value), "last firing": utc(last.get(k, s.value)),
                     "firing now": "yes" if still else "no"})
        if still and name not in cfg.ignore and fails(severity, cfg.firing_severities):
            offenders.append({"object": alert_object(s.labels), "detail": f"{severity or 'no severity'}, since {utc(s.value)}"})
    evidence.table(rows)
    counted = [r for r in rows if r["object"].split(" ")[0] not in cfg.ignore]
    evidence.note(f"{len(counted)} alert(s) fired in the last {window} (allow-listed {', '.join(cfg.ignore) or 'none'} left out)")
    evidence.expect_none(offenders, f"alerts of the last {window} still firing", table=False)


def key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in labels.items() if k not in ("__name__", "alertstate")))


def utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
