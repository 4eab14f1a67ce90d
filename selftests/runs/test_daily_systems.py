"""Each system's profile runs its daily checklist on the healthy test environment with no
check failed or in error: QSIGN (runbooks 000/001), SmartSensor (002), Titanium (003).
What a profile does not configure is "not applicable", never passed.
"""

from __future__ import annotations

import json
import time

import pytest

from selftests.harness import REPO, validate_results

pytestmark = pytest.mark.usefixtures("testenv_up")

PROFILES = ("qsign", "smartsensor", "titanium")
# Checks each profile must really run (not skip): the system's own runbook items.
MUST_RUN = {
    "qsign": {"daily.pods-running", "daily.vault-unsealed", "daily.vault-pods", "daily.health-endpoints"},
    "smartsensor": {
        "daily.pods-running",
        "daily.redis-ping",
        "daily.top-usage",
        "daily.node-disk",
        "daily.health-endpoints",
        "daily.error-logs",
        "daily.abnormal-access",
        "daily.pvc-bound",
    },
    "titanium": {
        "daily.pods-running",
        "daily.cluster-dns",
        "daily.log-pipeline",
        "daily.postgres-backup",
        "daily.endpoints-ready",
        "daily.node-disk",
    },
}


@pytest.mark.parametrize("name", PROFILES)
def test_daily_checklist_of_each_system_has_no_failure(checks, name):
    profile = REPO / "environments" / f"{name}.yaml"
    start = time.monotonic()
    proc, reports = checks.run_pytest("-m", "daily", profile=profile)
    elapsed = time.monotonic() - start
    folders = sorted(p for p in reports.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert len(folders) == 1, (proc.stdout[-2000:], proc.stderr[-2000:])
    data = json.loads((folders[0] / "results.json").read_text())
    validate_results(data)
    bad = {c["id"]: f"{c['outcome']}: {c['message']}" for c in data["checks"] if c["outcome"] in ("failed", "error")}
    assert bad == {}
    assert proc.returncode == 0, proc.stdout[-2000:]
    ran = {c["id"] for c in data["checks"] if c["outcome"] == "passed"}
    assert MUST_RUN[name] <= ran, MUST_RUN[name] - ran
    assert data["run"]["profile"]["name"] == name
    print(f"{name}: {len(data['checks'])} checks ({len(ran)} passed) in {elapsed:.1f} s")


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
