"""Servers that hold a client: real TCP servers on 127.0.0.1 for the bounded-time self-tests.

- `black_hole()`: accepts connections and never answers (nor reads): a frozen process, a
  firewall that drops after the handshake.
- `slow_drip()`: reads the request, sends an HTTP status line and headers at once, then the
  body one byte a second (`drip_headers=True`: the headers too, byte by byte). Every read
  gets a byte well within any read timeout, so only a total deadline ends the call.

Each is a context manager yielding the server's base URL and counting the connections it
accepted (`server.accepted`), so a test can also see that no request was retried.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

BODY = b'{"status": "success", "data": {"resultType": "vector", "result": []}, "pad": "' + b"x" * 200 + b'"}'


@dataclass
class Server:
    url: str
    accepted: int = 0
    connections: list[socket.socket] = field(default_factory=list)


def _serve(listener: socket.socket, server: Server, handle, stop: threading.Event) -> None:
    listener.settimeout(0.2)
    while not stop.is_set():
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        except OSError:
            return
        server.accepted += 1
        server.connections.append(conn)
        threading.Thread(target=handle, args=(conn, stop), daemon=True).start()


@contextmanager
def _running(handle) -> Iterator[Server]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    server = Server(f"http://127.0.0.1:{listener.getsockname()[1]}")
    stop = threading.Event()
    thread = threading.Thread(target=_serve, args=(listener, server, handle, stop), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(2)
        listener.close()
        for conn in server.connections:
            conn.close()


def _hold(conn: socket.socket, stop: threading.Event) -> None:
    stop.wait()  # never read, never answer


@contextmanager
def black_hole() -> Iterator[Server]:
    with _running(_hold) as server:
        yield server


def _read_request(conn: socket.socket) -> None:
    data = b""
    conn.settimeout(10)
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return
        data += chunk


def _dripper(drip_headers: bool, interval: float):
    def handle(conn: socket.socket, stop: threading.Event) -> None:
        try:
            _read_request(conn)
            head = (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(BODY)}\r\n\r\n".encode()
            )
            if not drip_headers:
                conn.sendall(head)
            for byte in (head if drip_headers else b"") + BODY:
                if stop.wait(interval):
                    return
                conn.sendall(bytes([byte]))
        except OSError:
            return  # the client gave up: what a bounded client does

    return handle


@contextmanager
def slow_drip(*, drip_headers: bool = False, interval: float = 1.0) -> Iterator[Server]:
    with _running(_dripper(drip_headers, interval)) as server:
        yield server


@contextmanager
def timed() -> Iterator[list[float]]:
    """`with timed() as took:` ... `took[0]` is the block's wall-clock seconds."""
    took: list[float] = []
    start = time.monotonic()
    try:
        yield took
    finally:
        took.append(time.monotonic() - start)
