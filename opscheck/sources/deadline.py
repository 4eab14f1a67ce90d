"""A total deadline per HTTP request, for requests' sessions and the Kubernetes client alike.

urllib3's read timeout (and its `Timeout(total=...)`, which only sets the socket timeout
once, before the response is read) bounds each `recv`, not the call: a server that sends a
byte a second never trips it. So a call runs inside `total_deadline(seconds)`: a timer
armed for the whole call shuts down the socket of every connection the call used when it
fires, which ends whatever read is blocked on it (seen as a dropped connection); the
caller then sees `deadline.expired` and reports a timeout.

The connection classes below register themselves with the calling thread's deadline when
they connect and when they wait for a response; `bound_pools` puts them into a urllib3
PoolManager (requests' adapter, the Kubernetes client's REST client).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from urllib3 import PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_local = threading.local()


class Deadline:
    """One call's deadline: after `seconds`, the sockets of its connections are shut down."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._started = time.monotonic()
        self._fired = False
        self._connections: list[HTTPConnection] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    @property
    def expired(self) -> bool:
        """The timer fired, or the time is up: a socket read timeout of the same length can
        end the call a moment before the timer thread runs (on a busy machine)."""
        return self._fired or time.monotonic() - self._started >= self.seconds

    def watch(self, connection: HTTPConnection) -> None:
        with self._lock:
            if not self.expired:
                if connection not in self._connections:
                    self._connections.append(connection)
                return
        _cut(connection)

    def _expire(self) -> None:
        with self._lock:
            self._fired = True
            connections = list(self._connections)
        for connection in connections:
            _cut(connection)


def _cut(connection: HTTPConnection) -> None:
    sock = getattr(connection, "sock", None)
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)  # wakes a recv blocked in another thread
    except OSError:
        pass  # already closed


@contextmanager
def total_deadline(seconds: float) -> Iterator[Deadline]:
    """Bound every HTTP exchange this thread makes inside the block to `seconds` in all."""
    outer = getattr(_local, "deadline", None)
    deadline = Deadline(seconds)
    _local.deadline = deadline
    deadline._timer.start()
    try:
        yield deadline
    finally:
        deadline._timer.cancel()
        _local.deadline = outer


def _watch(connection: HTTPConnection) -> None:
    deadline: Deadline | None = getattr(_local, "deadline", None)
    if deadline is not None:
        deadline.watch(connection)


class _Watched:
    """Mixed into urllib3's connections: registers with the current deadline."""

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        _watch(self)  # type: ignore[arg-type]

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        _watch(self)  # type: ignore[arg-type]
        return super().getresponse(*args, **kwargs)  # type: ignore[misc]


class DeadlineHTTPConnection(_Watched, HTTPConnection):
    pass


class DeadlineHTTPSConnection(_Watched, HTTPSConnection):
    pass


class DeadlineHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = DeadlineHTTPConnection


class DeadlineHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = DeadlineHTTPSConnection


def bound_pools(manager: PoolManager) -> PoolManager:
    """Make `manager`'s connection pools use the deadline-aware connections."""
    manager.pool_classes_by_scheme = {"http": DeadlineHTTPConnectionPool, "https": DeadlineHTTPSConnectionPool}
    return manager
