"""A real HTTP server on 127.0.0.1 whose every GET answers 200 with one JSON body: a health
endpoint or an API server's /version saying what a self-test needs it to say. Optionally
over TLS (a certificate and key file) and answering only a request with a bearer token."""

from __future__ import annotations

import http.server
import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def serving_json(body: Any, *, tls: tuple[Path, Path] | None = None, bearer: str | None = None) -> Iterator[str]:
    """Serve `body` (as JSON) at every path; yields the server's base URL. With `tls`
    (certificate file, key file): https. With `bearer`: a request without
    `Authorization: Bearer <bearer>` gets 401."""
    payload = json.dumps(body).encode()
    refused = json.dumps({"error": "unauthorized"}).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - stdlib naming
            ok = bearer is None or self.headers.get("Authorization") == f"Bearer {bearer}"
            answer = payload if ok else refused
            self.send_response(200 if ok else 401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
