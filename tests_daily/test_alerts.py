"""Daily: alerts firing now, and the alerts of the last 24 hours (seeds 002 and 003)."""

from __future__ import annotations

from opscheck.check import check
from opscheck.rules.alerts import alerting_rules, fired_alerts, firing_alerts

REMEDIATION = """\
Open the alerts (Prometheus /alerts, or kubectl port-forward -n monitoring svc/prometheus-operated 9090:9090
and browse http://localhost:9090/alerts) and Alertmanager; follow each alert's runbook.
Incident playbook (seed 002): detect (confirm the alert, update the status page, assess the impact),
assess (first cause analysis, business impact, priority P1-P4), mitigate (divert traffic, isolate the
service, switch to the backup system), resolve (root cause, permanent fix, confirm service is normal),
communicate, and hold a post-mortem. P1 critical: respond within 15 minutes."""
NO_RULES = "Prometheus has no alerting rule loaded: no alert can fire, so none firing proves nothing"


@check("daily.alerts-firing", severity="high", covers=["002.alerts.none-firing"], remediation=REMEDIATION)
def test_no_alert_firing(prometheus, profile, evidence):
    """No alert firing at a severity that needs action"""
    cfg = profile.prometheus.alerting
    evidence.examined(alerting_rules(prometheus.rules()), "alerting rules loaded", empty=NO_RULES)
    rows, offenders = firing_alerts(prometheus.alerts(), cfg)
    evidence.table(rows)
    evidence.note(
        f"severities that fail: {', '.join(cfg.firing_severities) or 'any'}; allow-listed: {', '.join(cfg.ignore) or 'none'}"
    )
    evidence.expect_none(offenders, "alerts firing", table=False)


@check("daily.alerts-24h", severity="high", covers=["003.daily.alerts-24h"], remediation=REMEDIATION)
def test_alerts_of_the_last_day(prometheus, profile, evidence):
    """Alerts of the last 24 hours reviewed: none still firing"""
    cfg = profile.prometheus.alerting
    window = profile.prometheus.windows.daily
    evidence.examined(alerting_rules(prometheus.rules()), "alerting rules loaded", empty=NO_RULES)
    rows, offenders, counted = fired_alerts(prometheus.fired_alerts(window), cfg)
    evidence.table(rows)
    evidence.note(
        f"{counted} alert(s) fired in the last {window} (allow-listed {', '.join(cfg.ignore) or 'none'} left out)"
    )
    evidence.expect_none(offenders, f"alerts of the last {window} still firing", table=False)
