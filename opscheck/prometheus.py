"""Instant PromQL queries against the Prometheus HTTP API."""
from __future__ import annotations

from dataclasses import dataclass

import requests

from opscheck.errors import DependencyError
from opscheck.profile import PrometheusConfig


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float


class PrometheusReader:
    def __init__(self, config: PrometheusConfig, session: requests.Session | None = None) -> None:
        self.config = config
        self.session = session or requests.Session()

    def query(self, promql: str) -> list[Sample]:
        url = f"{self.config.url.rstrip('/')}/api/v1/query"
        try:
            resp = self.session.get(url, params={"query": promql}, timeout=self.config.timeout_seconds)
        except requests.RequestException as exc:
            reason = "connection refused" if "refused" in str(exc).lower() else exc.__class__.__name__
            raise DependencyError(f"Prometheus at {self.config.url} unreachable: {reason}") from None
        try:
            body = resp.json()
        except ValueError:
            raise DependencyError(f"Prometheus at {self.config.url}: HTTP {resp.status_code}, not a JSON answer") from None
        if body.get("status") != "success":
            raise DependencyError(f"Prometheus query failed ({body.get('errorType')}): {body.get('error')}: {promql}")
        data = body["data"]
        if data["resultType"] == "scalar":
            return [Sample({}, float(data["result"][1]))]
        if data["resultType"] != "vector":
            raise DependencyError(f"Prometheus query returned a {data['resultType']}, expected an instant vector: {promql}")
        return [Sample(r["metric"], float(r["value"][1])) for r in data["result"]]
