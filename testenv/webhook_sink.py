#!/usr/bin/env python3
"""A webhook receiver for Alertmanager: the test environment's stand-in for the runbooks'
Slack and e-mail receivers (seed 000 alertmanager-config).

Stdlib only. Every POSTed notification is appended as one JSON line to --file (newest
kept, the file is trimmed past --max-lines), so a self-test can see an alert delivered.

Usage: webhook_sink.py --port 19094 --file notifications.jsonl
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--file", required=True)
    p.add_argument("--max-lines", type=int, default=1000)
    args = p.parse_args()
    out = Path(args.file)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *a: object) -> None:  # noqa: A002 - stdlib signature
            """Quiet: the notifications file is the record."""

        def do_GET(self) -> None:  # noqa: N802 - stdlib naming
            self._answer(200, b"ok")

        def do_POST(self) -> None:  # noqa: N802 - stdlib naming
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                payload = json.loads(body or b"{}")
            except ValueError:
                self._answer(400, b"not JSON")
                return
            record = {"received": time.time(), "path": self.path, "payload": payload}
            with lock:
                lines = out.read_text().splitlines() if out.exists() else []
                lines = (lines + [json.dumps(record, sort_keys=True)])[-args.max_lines :]
                tmp = out.with_name(out.name + ".tmp")
                tmp.write_text("\n".join(lines) + "\n")
                tmp.replace(out)
            self._answer(200, b"ok")

        def _answer(self, status: int, text: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True

    def on_signal(signum: int, frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
