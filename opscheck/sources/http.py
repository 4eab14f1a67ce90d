"""The HTTP base every HTTP reader uses, and probing health endpoints (the runbooks'
`curl http://<svc>:8080/health`).

One session factory (a User-Agent that names opscheck, a default timeout so no request can
hang a run) and one wording for a request that got no usable answer: the checks' messages
read the same whether Prometheus, Alertmanager, Grafana, Vault or Elasticsearch is down.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import requests

from opscheck.errors import DependencyError

USER_AGENT = "opscheck"
DEFAULT_TIMEOUT_SECONDS = 10.0


class _Session(requests.Session):
    """A session whose requests time out after `default_timeout` unless given their own."""

    def __init__(self, default_timeout: float) -> None:
        super().__init__()
        self.default_timeout = default_timeout
        self.headers["User-Agent"] = USER_AGENT

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, *args, **kwargs)

    def probe(self, url: str, timeout: float) -> Probe:
        """GET `url` once (no redirects): its status, JSON body and time, or why no answer."""
        return probe(self, url, timeout)


def new_session(timeout: float = DEFAULT_TIMEOUT_SECONDS) -> _Session:
    """A requests session with opscheck's User-Agent and a default timeout."""
    return _Session(timeout)


def no_answer_reason(exc: requests.RequestException, timeout: float | None = None) -> str:
    """Why a request got no HTTP answer: "connection refused", "no answer within 5s", or the error's kind."""
    if "refused" in str(exc).lower():
        return "connection refused"
    if isinstance(exc, requests.Timeout) and timeout is not None:
        return f"no answer within {timeout:g}s"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS handshake failed"
    if isinstance(exc, requests.ConnectionError):
        return "cannot connect"
    return type(exc).__name__


def unanswered(where: str, exc: requests.RequestException, timeout: float | None = None) -> DependencyError:
    """The one wording of "`where` gave no HTTP answer": `Prometheus at <url> unreachable: connection refused`."""
    return DependencyError(f"{where} unreachable: {no_answer_reason(exc, timeout)}")


def bad_status(where: str, status: int, request: str, hint: str = "") -> DependencyError:
    """The one wording of "`where` answered, but not 200": `... at <url>: GET /x answered HTTP 503`."""
    return DependencyError(f"{where}: {request} answered HTTP {status}" + (f" ({hint})" if hint else ""))


def not_json(where: str, request: str, status: int) -> DependencyError:
    return DependencyError(f"{where}: {request} answered HTTP {status}, not JSON")


@dataclass
class Probe:
    """One GET of a health endpoint (opscheck/rules/health.py judges it)."""

    url: str
    status: int | None  # None: no HTTP answer at all
    body: Any  # parsed JSON, or None
    elapsed_ms: float
    error: str = ""
    text: str = ""  # the body as text, cut to TEXT_LIMIT characters


TEXT_LIMIT = 1000


def probe(session: requests.Session, url: str, timeout: float) -> Probe:
    start = time.monotonic()
    try:
        resp = session.get(url, timeout=timeout, allow_redirects=False)
    except (requests.Timeout, requests.ConnectionError) as exc:
        return Probe(url, None, None, (time.monotonic() - start) * 1000, no_answer_reason(exc, timeout))
    elapsed = (time.monotonic() - start) * 1000
    try:
        body = resp.json()
    except ValueError:
        body = None
    return Probe(url, resp.status_code, body, elapsed, text=resp.text[:TEXT_LIMIT])
