"""Reading Alertmanager (API v2), and where its routing tree sends an alert.

Used by the alerting checks: is Alertmanager up, did the always-firing Watchdog reach it,
and does each alert rule's label set route to a receiver that notifies someone.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import requests
import yaml

from opscheck.sources.http import bad_status, new_session, not_json, unanswered


@dataclass(frozen=True)
class AlertmanagerStatus:
    version: str
    cluster: str  # "ready", "settling", "disabled"
    config: dict[str, Any]


class AlertmanagerReader:
    def __init__(self, url: str, timeout: float, session: requests.Session | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = session or new_session()
        self.where = f"Alertmanager at {self.url}"

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        try:
            resp = self.session.get(self.url + path, params=params, timeout=self.timeout)
        except requests.RequestException as exc:
            raise unanswered(self.where, exc, self.timeout) from None
        if resp.status_code != 200:
            raise bad_status(self.where, resp.status_code, f"GET {path}")
        try:
            return resp.json()
        except ValueError:
            raise not_json(self.where, f"GET {path}", resp.status_code) from None

    def status(self) -> AlertmanagerStatus:
        body = self._get("/api/v2/status")
        try:
            config = yaml.safe_load((body.get("config") or {}).get("original") or "") or {}
        except yaml.YAMLError:
            config = {}
        return AlertmanagerStatus(
            version=(body.get("versionInfo") or {}).get("version", ""),
            cluster=(body.get("cluster") or {}).get("status", ""),
            config=config,
        )

    def alert_names(self) -> set[str]:
        """Names of the active (not silenced or inhibited) alerts Alertmanager holds."""
        alerts = self._get("/api/v2/alerts", {"active": "true", "silenced": "false", "inhibited": "false"})
        return {a.get("labels", {}).get("alertname", "") for a in alerts}


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
