"""Reading Alertmanager (API v2): its status and routing config, and the alerts it holds.

Used by the alerting checks: is Alertmanager up, did the always-firing Watchdog reach it,
and (opscheck/rules/alerts.py) does each alert rule's label set route to a receiver that
notifies someone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests
import yaml

from opscheck.errors import DependencyError
from opscheck.sources.http import bad_status, new_session, not_json, unanswered


@dataclass(frozen=True)
class AlertmanagerStatus:
    version: str
    cluster: str  # "ready", "settling", "disabled"
    config: dict[str, Any]


@dataclass(frozen=True)
class AlertmanagerState:
    """What one Alertmanager answered; `unreachable` says why it did not (then the rest is empty)."""

    url: str
    status: AlertmanagerStatus | None
    alert_names: frozenset[str]
    unreachable: str = ""


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

    def state(self, *, alerts: bool = True) -> AlertmanagerState:
        """Its status (and held alerts); an Alertmanager that does not answer is a state too,
        for the checks whose subject is the alerting path reaching it."""
        try:
            status = self.status()
            held = frozenset(self.alert_names()) if alerts else frozenset()
        except DependencyError as exc:
            return AlertmanagerState(self.url, None, frozenset(), str(exc))
        return AlertmanagerState(self.url, status, held)
