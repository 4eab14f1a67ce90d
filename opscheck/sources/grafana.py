"""Grafana's health and its datasources' health (HTTP API), for the dashboards check.

Grafana is not packaged in Debian, so the test environment has none: the check reads it
only when the profile gives prometheus.grafana_url. /api/health needs no credentials;
the datasource list needs a service-account token with datasources:read (a Viewer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from opscheck.profile import SecretRef
from opscheck.sources.http import bad_status, new_session, unanswered


@dataclass(frozen=True)
class DatasourceHealth:
    name: str
    type: str
    ok: bool
    message: str


class GrafanaReader:
    def __init__(
        self, url: str, token: SecretRef | None, timeout: float, session: requests.Session | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.session = session or new_session()
        self.where = f"Grafana at {self.url}"

    def _get(self, path: str, *, auth: bool) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token.read()}"} if auth and self.token else {}
        try:
            return self.session.get(self.url + path, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise unanswered(self.where, exc, self.timeout) from None

    def health(self) -> dict[str, Any]:
        """Grafana's /api/health answer: {"database": "ok", "version": ...}; raises when down."""
        resp = self._get("/api/health", auth=False)
        try:
            body = resp.json()
        except ValueError:
            body = {}
        return {"http_status": resp.status_code, **body}

    def datasources(self) -> list[DatasourceHealth]:
        """Each datasource's own health check; [] without a token (not readable)."""
        if self.token is None:
            return []
        resp = self._get("/api/datasources", auth=True)
        if resp.status_code != 200:
            raise bad_status(self.where, resp.status_code, "GET /api/datasources", "token rights?")
        out = []
        for ds in resp.json():
            check = self._get(f"/api/datasources/uid/{ds.get('uid', '')}/health", auth=True)
            try:
                body = check.json()
            except ValueError:
                body = {}
            ok = check.status_code == 200 and str(body.get("status", "")).upper() == "OK"
            out.append(
                DatasourceHealth(
                    ds.get("name", "?"), ds.get("type", "?"), ok, str(body.get("message", f"HTTP {check.status_code}"))
                )
            )
        return out
