"""The HTTP base every HTTP reader uses, and probing health endpoints (the runbooks'
`curl http://<svc>:8080/health`).

One session factory (a User-Agent that names opscheck, a default timeout so no request can
hang a run) and one wording for a request that got no usable answer: the checks' messages
read the same whether Prometheus, Alertmanager, Grafana, Vault or Elasticsearch is down.

Time is bounded per request and per run: no retries; the timeout is a total deadline for
the whole exchange (opscheck/sources/deadline.py), not only for each read; and with the
run cache given, a service (scheme://host:port) that gave no answer once answers every later
request of the run with that error at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3 import PoolManager

from opscheck.errors import DependencyError
from opscheck.profile.common import HttpAccess
from opscheck.sources.deadline import bound_pools, total_deadline
from opscheck.sources.runcache import RunCache

USER_AGENT = "opscheck"
DEFAULT_TIMEOUT_SECONDS = 10.0


class TotalTimeout(requests.Timeout):
    """The exchange did not complete within its total deadline (a server answering too slowly)."""


class KnownOutage(requests.ConnectionError):
    """The service gave no answer earlier in this run: this request was not sent."""


class _BoundedAdapter(HTTPAdapter):
    """No retries, and connections that obey `total_deadline`."""

    def __init__(self) -> None:
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        bound_pools(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> PoolManager:
        return bound_pools(super().proxy_manager_for(proxy, **kwargs))


def service_of(url: str | bytes) -> str:
    """The dependency a URL belongs to: `http://host:port`."""
    parts = urlsplit(url.decode() if isinstance(url, bytes) else url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname}:{port}"


def total_seconds(timeout: Any) -> float:
    """The whole exchange's deadline for a requests timeout (a number or (connect, read))."""
    if isinstance(timeout, tuple):
        return float(sum(t for t in timeout if t is not None))
    return float(timeout)


class HttpSession(requests.Session):
    """A session whose requests time out after `default_timeout` unless given their own."""

    def __init__(self, default_timeout: float, outages: RunCache | None = None) -> None:
        super().__init__()
        self.default_timeout = default_timeout
        self.outages = outages
        self.headers["User-Agent"] = USER_AGENT
        for prefix in ("http://", "https://"):
            self.mount(prefix, _BoundedAdapter())
        # service (scheme://host:port) -> (bearer token, requests' verify)
        self._access: dict[str, tuple[str | None, str | bool]] = {}

    def allow(self, url: str, access: HttpAccess) -> None:
        """Requests to `url`'s service carry `access`'s bearer token and verify its TLS
        certificate against `access`'s CA bundle (one session serves every service, each
        with its own credentials). The token is read now: a missing one is a profile error."""
        token = access.bearer_token.read() if access.bearer_token else None
        if token is not None or access.ca_bundle:
            self._access[service_of(url)] = (token, access.verify())

    def services_with_access(self) -> set[str]:
        """The services (scheme://host:port) whose requests carry a token or a CA bundle."""
        return set(self._access)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        service = service_of(url)
        if self.outages is not None and (known := self.outages.known_outage(service)):
            raise KnownOutage(known)
        if service in self._access:
            token, verify = self._access[service]
            kwargs.setdefault("verify", verify)
            if token is not None:
                kwargs["headers"] = {**(kwargs.get("headers") or {}), "Authorization": f"Bearer {token}"}
        seconds = total_seconds(kwargs["timeout"])
        try:
            with total_deadline(seconds) as deadline:
                try:
                    # not streamed unless asked: the body is read inside the deadline too
                    return super().request(method, url, *args, **kwargs)
                except requests.RequestException as exc:
                    if deadline.expired:
                        raise TotalTimeout(f"no complete answer within {seconds:g}s") from exc
                    raise
        except (requests.Timeout, requests.ConnectionError) as exc:
            if self.outages is not None and not isinstance(exc, requests.exceptions.SSLError):
                self.outages.record_outage(service, no_answer_reason(exc, seconds))
            raise

    def probe(self, url: str, timeout: float) -> Probe:
        """GET `url` once (no redirects): its status, JSON body and time, or why no answer."""
        return probe(self, url, timeout)


def new_session(timeout: float = DEFAULT_TIMEOUT_SECONDS, outages: RunCache | None = None) -> HttpSession:
    """A requests session with opscheck's User-Agent, a default timeout, no retries, a total
    deadline per request and, given the run cache, the run's known outages."""
    return HttpSession(timeout, outages)


def no_answer_reason(exc: requests.RequestException, timeout: float | None = None) -> str:
    """Why a request got no HTTP answer: "connection refused", "no answer within 5s", or the error's kind."""
    if isinstance(exc, (KnownOutage, TotalTimeout)):
        return str(exc)
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
