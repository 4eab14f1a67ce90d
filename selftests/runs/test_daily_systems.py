"""Titanium's log pipeline check against a Loki /ready stand-in. Each system's whole
checklist (every cadence) runs in selftests/runs/test_system_checklists.py.
"""

from __future__ import annotations

import pytest

from selftests.harness import REPO

pytestmark = pytest.mark.usefixtures("testenv_up")


def test_log_pipeline_reads_the_loki_ready_endpoint(checks, tmp_path):
    """The Loki half of daily.log-pipeline: GET <loki_url>/ready must answer 200 "ready".
    Grafana Loki cannot be installed here, so a stand-in answers /ready as Loki 2.9 does
    (200 "ready", or 503 "Ingester not ready: ..."); the DaemonSet half is the real one."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import yaml

    state = {"code": 200, "body": "ready\n"}

    class Loki(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = state["body"].encode() if self.path == "/ready" else b"404 page not found\n"
            self.send_response(state["code"] if self.path == "/ready" else 404)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Loki)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        data = yaml.safe_load((REPO / "environments" / "titanium.yaml").read_text())
        data["log_pipeline"]["loki_url"] = f"http://127.0.0.1:{server.server_port}"
        profile = tmp_path / "titanium.yaml"
        profile.write_text(yaml.safe_dump(data, sort_keys=False))
        assert checks.one("daily.log-pipeline", profile=profile).outcome == "passed"
        state.update(code=503, body="Ingester not ready: waiting for 15s after being ready\n")
        r = checks.one("daily.log-pipeline", profile=profile)
        assert r.outcome == "failed"
        assert r.message == (
            f"1 log pipeline problems: http://127.0.0.1:{server.server_port}/ready (Loki not ready: "
            "HTTP 503: Ingester not ready: waiting for 15s after being ready)"
        )
    finally:
        server.shutdown()
        server.server_close()
