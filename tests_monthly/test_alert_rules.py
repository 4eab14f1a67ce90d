"""Monthly: the alert rules are loaded, healthy, labelled and routed (seed 001 알림 규칙
검토; seed 002 prometheus-rules.yaml)."""
from __future__ import annotations

from opscheck.sources.alertmanager import receivers_for, silent_receivers
from opscheck.check import check


@check(
    id="monthly.alert-rules",
    title="Expected alert rules loaded; every rule healthy, labelled, annotated and routed to a receiver",
    severity="high",
    covers=["002.alerts.rules-present", "001.monthly.alert-rules-review"],
    remediation="""\
promtool check rules <file>; kubectl get prometheusrules -A; http://localhost:9090/rules shows each rule's
health and last error. A missing rule: re-apply the PrometheusRule (prometheus-rules.yaml) and check the
Prometheus Operator's ruleSelector labels. Every rule needs a severity label and summary/description
annotations; route each severity to a receiver in alertmanager.yml (amtool config routes test).""",
)
def test_alert_rules(prometheus, alertmanagers, profile, evidence):
    cfg = profile.prometheus.alerting
    rules = prometheus.rules()
    alerting = [r for r in rules if r.kind == "alerting"]
    loaded = {r.name for r in alerting}
    config = alertmanagers[0].status().config if alertmanagers else {}
    silent = silent_receivers(config)
    problems: dict[str, list[str]] = {name: ["not loaded"] for name in cfg.expected_rules if name not in loaded}
    rows = []
    for r in sorted(rules, key=lambda r: (r.group, r.name)):
        found: list[str] = []
        if r.health == "err":
            found.append(f"evaluation error: {r.last_error}")
        elif r.last_evaluation is None:
            found.append("never evaluated")
        if r.kind == "alerting":
            found += [f"no {label} label" for label in cfg.required_labels if not r.labels.get(label)]
            severity = r.labels.get("severity")
            if severity and cfg.severities and severity not in cfg.severities:
                found.append(f"severity {severity!r} is not one of {', '.join(cfg.severities)}")
            found += [f"no {a} annotation" for a in cfg.required_annotations if not r.annotations.get(a)]
            if config and r.name not in cfg.ignore:
                receivers = receivers_for(config, {"alertname": r.name, **r.labels})
                if all(rc in silent for rc in receivers):
                    found.append(f"routed only to receivers without integrations: {', '.join(receivers)}")
        rows.append({"object": r.name, "kind": r.kind, "group": r.group, "health": r.health,
                     "severity": r.labels.get("severity", ""), "problems": "; ".join(found)})
        if found:
            problems.setdefault(r.name, []).extend(found)
    evidence.table(rows)
    evidence.note(f"{len(alerting)} alerting rules loaded; expected: {', '.join(cfg.expected_rules) or 'none listed'}; "
                  + ("routing read from Alertmanager " + alertmanagers[0].url if config else "routing not checked (no Alertmanager)"))
    offenders = [{"object": name, "detail": ", ".join(p)} for name, p in sorted(problems.items())]
    evidence.expect_none(offenders, "alert rules need attention", table=False)
