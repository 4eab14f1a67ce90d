"""Judging alerts and the alerting path: alerts firing, alert rules, Alertmanager routing.

Objects in (from opscheck/sources/prometheus.py and alertmanager.py), rows and offenders out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from opscheck.profile import AlertingConfig

if TYPE_CHECKING:
    from opscheck.sources.alertmanager import AlertmanagerState
    from opscheck.sources.prometheus import Alert, FiredAlert, Rule

Row = dict[str, Any]


def counts(severity: str, alerting: AlertingConfig) -> bool:
    """An alert of this severity fails the alert checks (any severity when none is listed)."""
    return not alerting.firing_severities or severity in alerting.firing_severities


def utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def firing_alerts(alerts: Sequence[Alert], alerting: AlertingConfig) -> tuple[list[Row], list[Row]]:
    """(rows, offenders): every alert firing now; offenders are those not allow-listed at a counted severity."""
    firing = [a for a in alerts if a.state == "firing"]
    rows, offenders = [], []
    for a in sorted(firing, key=lambda a: (a.name, a.subject)):
        since = a.active_at.strftime("%Y-%m-%d %H:%M:%S UTC") if a.active_at else "?"
        ignored = a.name in alerting.ignore
        rows.append(
            {
                "object": a.subject,
                "severity": a.severity or "(none)",
                "firing since": since,
                "counted": "no (allow-listed)"
                if ignored
                else ("yes" if counts(a.severity, alerting) else "no (severity)"),
            }
        )
        if not ignored and counts(a.severity, alerting):
            offenders.append({"object": a.subject, "detail": f"{a.severity or 'no severity'}, since {since}"})
    return rows, offenders


def fired_alerts(fired: Sequence[FiredAlert], alerting: AlertingConfig) -> tuple[list[Row], list[Row], int]:
    """(rows, offenders, counted): the window's alerts; offenders are those still firing
    (not allow-listed, at a counted severity); `counted` leaves the allow-listed out."""
    rows, offenders = [], []
    for a in sorted(fired, key=lambda a: (a.labels.get("alertname", ""), a.subject)):
        rows.append(
            {
                "object": a.subject,
                "severity": a.severity or "(none)",
                "first fired": utc(a.first),
                "last firing": utc(a.last),
                "firing now": "yes" if a.firing_now else "no",
            }
        )
        if a.firing_now and a.name not in alerting.ignore and counts(a.severity, alerting):
            offenders.append({"object": a.subject, "detail": f"{a.severity or 'no severity'}, since {utc(a.first)}"})
    counted = len([r for r in rows if r["object"].split(" ")[0] not in alerting.ignore])
    return rows, offenders, counted


def rule_problems(
    rules: Sequence[Rule], alerting: AlertingConfig, routing: dict[str, Any]
) -> tuple[list[Row], list[Row]]:
    """(rows, offenders): expected rules not loaded; rules with an evaluation error, never
    evaluated, without the required labels/annotations, at an unknown severity, or routed
    (when `routing`, Alertmanager's config, is known) only to receivers that notify nobody."""
    loaded = {r.name for r in rules if r.kind == "alerting"}
    silent = silent_receivers(routing)
    problems: dict[str, list[str]] = {name: ["not loaded"] for name in alerting.expected_rules if name not in loaded}
    rows = []
    for r in sorted(rules, key=lambda r: (r.group, r.name)):
        found: list[str] = []
        if r.health == "err":
            found.append(f"evaluation error: {r.last_error}")
        elif r.last_evaluation is None:
            found.append("never evaluated")
        if r.kind == "alerting":
            found += [f"no {label} label" for label in alerting.required_labels if not r.labels.get(label)]
            severity = r.labels.get("severity")
            if severity and alerting.severities and severity not in alerting.severities:
                found.append(f"severity {severity!r} is not one of {', '.join(alerting.severities)}")
            found += [f"no {a} annotation" for a in alerting.required_annotations if not r.annotations.get(a)]
            if routing and r.name not in alerting.ignore:
                receivers = receivers_for(routing, {"alertname": r.name, **r.labels})
                if all(rc in silent for rc in receivers):
                    found.append(f"routed only to receivers without integrations: {', '.join(receivers)}")
        rows.append(
            {
                "object": r.name,
                "kind": r.kind,
                "group": r.group,
                "health": r.health,
                "severity": r.labels.get("severity", ""),
                "problems": "; ".join(found),
            }
        )
        if found:
            problems.setdefault(r.name, []).extend(found)
    return rows, [{"object": name, "detail": ", ".join(p)} for name, p in sorted(problems.items())]


NO_ALERTMANAGER = {"object": "Alertmanager", "detail": "Prometheus sends alerts to none"}


def answering(
    alertmanagers: Sequence[AlertmanagerState], column: str, rows: list[Row], offenders: list[Row]
) -> Iterator[AlertmanagerState]:
    """Each Alertmanager that answered, in order. As it goes, an offender when there is no
    Alertmanager at all, and a row (`column` saying why) and an offender for each that did
    not answer, so rows and offenders keep the Alertmanagers' order."""
    if not alertmanagers:
        offenders.append(dict(NO_ALERTMANAGER))
    for am in alertmanagers:
        if am.status is not None:
            yield am
            continue
        rows.append({"object": f"Alertmanager {am.url}", column: am.unreachable})
        offenders.append(
            {"object": f"Alertmanager {am.url}", "detail": am.unreachable.removeprefix(f"Alertmanager at {am.url} ")}
        )


def alerting_path(
    rules: Sequence[Rule], alertmanagers: Sequence[AlertmanagerState], watchdog: str | None
) -> tuple[list[Row], list[Row]]:
    """(rows, offenders): rules failing to evaluate, no Alertmanager, an Alertmanager that
    does not answer or whose cluster has not settled, and the Watchdog alert not arriving."""
    offenders = [
        {"object": f"rule {r.name}", "detail": f"evaluation error: {r.last_error}"} for r in rules if r.health == "err"
    ]
    rows = [{"object": "rules", "state": f"{len(offenders)} with evaluation errors"}]
    for am in answering(alertmanagers, "state", rows, offenders):
        assert am.status is not None
        state = f"{am.status.version}, cluster {am.status.cluster}, {len(am.alert_names)} active alerts"
        if am.status.cluster not in ("ready", "disabled", ""):
            offenders.append({"object": f"Alertmanager {am.url}", "detail": f"cluster {am.status.cluster}"})
        if watchdog:
            state += f", {watchdog} {'received' if watchdog in am.alert_names else 'MISSING'}"
            if watchdog not in am.alert_names:
                offenders.append(
                    {"object": f"Alertmanager {am.url}", "detail": f"has no {watchdog} alert: alerts do not arrive"}
                )
        rows.append({"object": f"Alertmanager {am.url}", "state": state})
    return rows, offenders


# ------------------------------------------------------------------------------ routing

_MATCHER = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"?(.*?)"?\s*$')


def _matchers(route: dict[str, Any]) -> list[tuple[str, str, str]]:
    """A route's conditions as (label, op, value): `matchers` and the older match/match_re."""
    out = [(k, "=", str(v)) for k, v in (route.get("match") or {}).items()]
    out += [(k, "=~", str(v)) for k, v in (route.get("match_re") or {}).items()]
    for m in route.get("matchers") or []:
        for part in _split_matchers(m):
            found = _MATCHER.match(part)
            if found:
                out.append((found.group(1), found.group(2), found.group(3)))
    return out


def _split_matchers(text: str) -> list[str]:
    text = text.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    return [p for p in re.split(r',(?=(?:[^"]*"[^"]*")*[^"]*$)', text) if p.strip()]


def _matches(route: dict[str, Any], labels: dict[str, str]) -> bool:
    for name, op, value in _matchers(route):
        actual = labels.get(name, "")
        if op == "=" and actual != value:
            return False
        if op == "!=" and actual == value:
            return False
        if op == "=~" and not re.fullmatch(value, actual):
            return False
        if op == "!~" and re.fullmatch(value, actual):
            return False
    return True


def receivers_for(config: dict[str, Any], labels: dict[str, str]) -> list[str]:
    """The receivers Alertmanager's routing tree sends an alert with these labels to
    (as `amtool config routes test` does): depth first, first match wins unless `continue`."""
    root = config.get("route") or {}

    def walk(route: dict[str, Any], inherited: str) -> list[str]:
        receiver = route.get("receiver") or inherited
        found: list[str] = []
        for child in route.get("routes") or []:
            if _matches(child, labels):
                found += walk(child, receiver)
                if not child.get("continue"):
                    break
        return found or [receiver]

    return walk(root, root.get("receiver", ""))


def silent_receivers(config: dict[str, Any]) -> set[str]:
    """Receivers with no integration (no *_configs): alerts routed there notify nobody."""
    out = set()
    for r in config.get("receivers") or []:
        if not any(k.endswith("_configs") and v for k, v in r.items()):
            out.add(r.get("name", ""))
    return out


def alerting_rules(rules: Iterable[Any]) -> list[Any]:
    """The alerting rules among Prometheus's rules (recording rules cannot fire)."""
    return [r for r in rules if r.kind == "alerting"]
