"""Reading Redis the way runbook 002 does: `redis-cli ping`, `INFO memory`, `INFO stats`.

Only PING and INFO are sent (an ACL user limited to `+ping +info` is enough): opscheck
never reads cached values nor changes anything.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import redis
from redis import exceptions as rexc
from redis.backoff import NoBackoff
from redis.retry import Retry

from opscheck.errors import DependencyError
from opscheck.profile import RedisConfig
from opscheck.sources.runcache import RunCache


class _NoAnswer(Exception):
    """Redis gave no answer (refused, timed out): an outage for the rest of the run."""


class RedisReader:
    """PING and INFO, each bounded in all by the timeout (not only per read), no retries;
    with the run cache, a Redis that gave no answer once answers the rest of the run with
    that error at once."""

    def __init__(self, config: RedisConfig, outages: RunCache | None = None) -> None:
        self.config = config
        self.where = f"Redis at {config.host}:{config.port}"
        self.outages = outages
        self._client: redis.Redis | None = None

    def _redis(self) -> redis.Redis:
        if self._client is None:
            c = self.config
            self._client = redis.Redis(
                host=c.host,
                port=c.port,
                username=c.username,
                password=c.password.read() if c.password else None,
                ssl=c.tls,
                socket_timeout=c.timeout_seconds,
                socket_connect_timeout=c.timeout_seconds,
                # one bounded attempt: redis-py retries with backoff by default
                retry=Retry(NoBackoff(), 0),
            )
        return self._client

    def _cut(self) -> None:
        """The deadline passed: shut down the client's sockets, ending a read blocked on one."""
        pool = self._redis().connection_pool
        for connection in [*getattr(pool, "_in_use_connections", ()), *getattr(pool, "_available_connections", ())]:
            sock = getattr(connection, "_sock", None)
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _call(self, what: str, fn: Any, *args: Any) -> Any:
        service = f"redis://{self.config.host}:{self.config.port}"
        if self.outages is not None and (known := self.outages.known_outage(service)):
            raise DependencyError(known)
        try:
            return self._bounded(what, fn, *args)
        except _NoAnswer as exc:
            if self.outages is not None:
                self.outages.record_outage(service, str(exc))
            raise DependencyError(str(exc)) from None

    def _bounded(self, what: str, fn: Any, *args: Any) -> Any:
        """`fn(*args)` within the timeout in all: the sockets are shut down when it passes."""
        timeout = self.config.timeout_seconds
        timer = threading.Timer(timeout, self._cut)
        timer.daemon = True
        timer.start()
        try:
            return fn(*args)
        except rexc.AuthenticationError:
            raise DependencyError(f"{self.where}: {what}: the credentials were rejected") from None
        except rexc.NoPermissionError:
            raise DependencyError(
                f"{self.where}: {what}: the user lacks permission (it needs +ping and +info)"
            ) from None
        except (rexc.TimeoutError, rexc.ConnectionError) as exc:
            if timer.finished.is_set():  # the deadline fired (cancel comes only below)
                raise _NoAnswer(f"{self.where}: {what}: no complete answer within {timeout:g}s") from None
            if isinstance(exc, rexc.TimeoutError):
                raise _NoAnswer(f"{self.where}: {what}: no answer within {timeout:g}s") from None
            text = str(exc)
            reason = "connection refused" if "refused" in text.lower() else text.splitlines()[0][:200]
            raise _NoAnswer(f"{self.where} unreachable: {reason}") from None
        except rexc.RedisError as exc:
            raise DependencyError(f"{self.where}: {what} failed: {str(exc).splitlines()[0][:200]}") from None
        finally:
            timer.cancel()

    def ping(self) -> float:
        """PING; the round trip in milliseconds. Raises DependencyError when no PONG,
        its message ending "(PING got no PONG)"."""
        start = time.monotonic()
        try:
            answer = self._call("PING", self._redis().ping)
            if answer is not True:
                raise DependencyError(f"{self.where}: PING answered {answer!r}, not PONG")
        except DependencyError as exc:
            raise DependencyError(f"{exc} (PING got no PONG)") from None
        return (time.monotonic() - start) * 1000

    def info(self, section: str) -> dict[str, Any]:
        return self._call(f"INFO {section}", self._redis().info, section)

    @property
    def address(self) -> str:
        return f"{self.config.host}:{self.config.port}"

    def memory(self) -> MemoryUse:
        return memory_use(self.info("memory"))

    def lookups(self) -> tuple[int, int]:
        """(keyspace hits, keyspace misses) since the server started or stats were reset."""
        stats = self.info("stats")
        return int(stats.get("keyspace_hits", 0)), int(stats.get("keyspace_misses", 0))


@dataclass(frozen=True)
class MemoryUse:
    used: int
    maxmemory: int
    policy: str


def memory_use(info_memory: dict[str, Any]) -> MemoryUse:
    return MemoryUse(
        int(info_memory.get("used_memory", 0)),
        int(info_memory.get("maxmemory", 0)),
        str(info_memory.get("maxmemory_policy", "")),
    )
