"""Monthly: the alert rules are loaded, healthy, labelled and routed (seed 001 알림 규칙
검토; seed 002 prometheus-rules.yaml)."""

from __future__ import annotations

from opscheck.check import check
from opscheck.rules.alerts import alerting_rules, rule_problems


@check("monthly.alert-rules", severity="high", covers=["002.alerts.rules-present", "001.monthly.alert-rules-review"])
def test_alert_rules(prometheus, alertmanagers, profile, evidence):
    """Expected alert rules loaded; every rule healthy, labelled, annotated and routed to a receiver

    promtool check rules <file>; kubectl get prometheusrules -A; http://localhost:9090/rules shows each rule's
    health and last error. A missing rule: re-apply the PrometheusRule (prometheus-rules.yaml) and check the
    Prometheus Operator's ruleSelector labels. Every rule needs a severity label and summary/description
    annotations; route each severity to a receiver in alertmanager.yml (amtool config routes test).
    """
    cfg = profile.prometheus.alerting
    rules = prometheus.rules()
    evidence.examined(alerting_rules(rules), f"{len(alerting_rules(rules))} alerting rules loaded")
    config = alertmanagers[0].status().config if alertmanagers else {}
    rows, offenders = rule_problems(rules, cfg, config)
    evidence.table(rows)
    evidence.note(
        f"{len([r for r in rules if r.kind == 'alerting'])} alerting rules loaded; "
        f"expected: {', '.join(cfg.expected_rules) or 'none listed'}; "
        + (
            "routing read from Alertmanager " + alertmanagers[0].url
            if config
            else "routing not checked (no Alertmanager)"
        )
    )
    evidence.expect_none(offenders, "alert rules need attention", table=False)
