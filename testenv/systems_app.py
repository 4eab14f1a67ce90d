"""One process for the SmartSensor (002) and Titanium (003) systems' stand-ins.

Stdlib only. It
  * serves each named HTTP endpoint (`--serve NAME=PORT`): /health, /health/live and
    /health/ready answer 200 {"status": "UP"}, unless NAME's control file
    (<state-dir>/<NAME>.control.json) says {"status": "DOWN"} (then 503) or sets
    {"latency_ms": N} (the answer waits N ms); the file is re-read on every request, so a
    self-test breaks and repairs an endpoint without a restart;
  * serves /metrics on the SmartSensor endpoints (METERED): its traffic, a few requests a
    second with the api's and the dashboard's latencies, in seed 002's metric names
    (http_request_duration_seconds histogram, http_requests_total by status), which
    Prometheus scrapes for the SLO tiers and the slow-response check; the control file's
    traffic_latency_ms and traffic_status (an HTTP status) change the requests, apart from
    the health endpoint's faults, so a health fault never fires the api's alert rules;
  * writes every container log of the two systems in CRI format (what the kubelet keeps
    and `kubectl logs` reads through kwok's ClusterLogs, see manifests/kwok-logs.yaml):
    each app logs ordinary INFO lines (requests with response_time, logins, sidecar
    access lines) every 30 s; errors and security events only when a test plants
    them.

One process instead of one per service keeps the test environment small (2 cores).

Usage:
  python -m testenv.systems_app --state-dir DIR --logs-dir DIR --serve smartsensor-api=18091 ...
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from testenv.qsign_app import Counter, Histogram, append_lines, cri_line

LOG_EVERY_SECONDS = 30.0
# Endpoints with simulated traffic in /metrics: name -> (app label, latency range in ms).
# The api answers P95 under 200 ms (critical tier), the dashboard under 1 s (important).
METERED: dict[str, tuple[str, tuple[float, float]]] = {
    "smartsensor-api": ("api-server", (10.0, 120.0)),
    "smartsensor-web": ("web-dashboard", (20.0, 250.0)),
}
REQUESTS_PER_SECOND = 4
LATENCY_BUCKETS = (0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)

# Log file (under --logs-dir) -> the app name in its lines (None: the line is written as
# is, e.g. an Envoy access line), and what it says when healthy.
LOGS: dict[str, tuple[str | None, Callable[[random.Random], str]]] = {
    "smartsensor-api-server.log": (
        "api-server",
        lambda r: (
            f"[http-nio-8000-exec-{r.randint(1, 20)}] c.h.s.api.SensorController: "
            f"GET /api/v1/vehicles/{r.randint(1000, 9999)}/sensors 200 response_time={r.randint(20, 180)}ms"
        ),
    ),
    "smartsensor-oauth2-server.log": (
        "oauth2-server",
        lambda r: f"login_success user=driver{r.randint(1, 500)} client=smartsensor-web",
    ),
    "titanium-api-gateway.log": (
        "api-gateway",
        lambda r: f"GET /api/users/{r.randint(1, 900)} -> prod-user-service 200 {r.randint(5, 60)}ms",
    ),
    "titanium-auth-service.log": ("auth-service", lambda r: f"token issued user_id={r.randint(1, 900)}"),
    "titanium-user-service.log": ("user-service", lambda r: f"GET /users/{r.randint(1, 900)} 200"),
    "titanium-blog-service.log": ("blog-service", lambda r: f"GET /blog/posts?page={r.randint(1, 20)} 200"),
    "titanium-istio-proxy.log": (
        None,
        lambda r: (
            f'[{datetime.now(UTC):%Y-%m-%dT%H:%M:%S.%f}Z] "GET /health HTTP/1.1" 200 - via_upstream - "-" 0 15 '
            f'{r.randint(1, 9)} {r.randint(1, 9)} "-" "kube-probe/1.29" - "-" inbound|8000||'
        ),
    ),
    "systems-other.log": ("platform", lambda r: "heartbeat ok"),
}


def message(app: str, level: str, text: str) -> str:
    """An application line in these services' format: `<time> LEVEL [app] text`."""
    return f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S.%f}"[:-3] + f" {level:<5} [{app}] {text}"


def read_control(state_dir: Path, name: str) -> dict[str, Any]:
    try:
        data = json.loads((state_dir / f"{name}.control.json").read_text(encoding="utf-8") or "{}")
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class Traffic:
    """One metered endpoint's requests, as its Prometheus client would count them."""

    def __init__(self, name: str, app: str, latency_ms: tuple[float, float], per_second: int) -> None:
        self.name, self.app, self.latency_ms, self.per_second = name, app, latency_ms, per_second
        self.duration = Histogram(
            "http_request_duration_seconds", "HTTP request latency.", ("app", "method"), LATENCY_BUCKETS
        )
        self.requests = Counter("http_requests_total", "HTTP requests by status.", ("app", "method", "status"))
        self.requests.touch(app, "GET", "200")
        self.requests.touch(app, "GET", "500")

    def simulate(self, rng: random.Random, control: dict[str, Any]) -> None:
        """One second of traffic, slowed or failing as the control file says."""
        extra = float(control.get("traffic_latency_ms") or 0) / 1000
        status = str(control.get("traffic_status") or 200)
        for _ in range(self.per_second):
            self.duration.observe(rng.uniform(*self.latency_ms) / 1000 + extra, self.app, "GET")
            self.requests.inc(self.app, "GET", status)

    def render(self) -> str:
        return "\n".join([*self.duration.render(), *self.requests.render()]) + "\n"


def simulate_traffic(traffic: list[Traffic], state_dir: Path, stop: threading.Event) -> None:
    rng = random.Random()
    while not stop.is_set():
        for t in traffic:
            t.simulate(rng, read_control(state_dir, t.name))
        stop.wait(1.0)


def make_handler(name: str, state_dir: Path, traffic: Traffic | None = None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = f"{name}/2.0"

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            path = self.path.split("?", 1)[0]
            if path == "/metrics" and traffic is not None:
                data = traffic.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            if path not in ("/health", "/health/live", "/health/ready", "/"):
                self._answer(404, {"error": "not found"})
                return
            control = read_control(state_dir, name)
            if control.get("latency_ms"):
                time.sleep(float(control["latency_ms"]) / 1000)
            status = str(control.get("status", "UP"))
            self._answer(
                200 if status == "UP" else 503,
                {"status": status, "service": name, "timestamp": f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}"},
            )

        def _answer(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # probes every few seconds: not worth a line each

    return Handler


def write_logs(logs_dir: Path, stop: threading.Event) -> None:
    rng = random.Random()
    while not stop.is_set():
        for file, (app, say) in LOGS.items():
            text = say(rng)
            append_lines(logs_dir / file, [cri_line(message(app, "INFO", text) if app else text)])
        stop.wait(LOG_EVERY_SECONDS)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--state-dir", required=True, help="holds <name>.control.json")
    p.add_argument("--logs-dir", required=True, help="where the CRI log files go")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--serve", action="append", default=[], metavar="NAME=PORT")
    p.add_argument("--traffic-per-second", type=int, default=REQUESTS_PER_SECOND, help="requests of each METERED one")
    args = p.parse_args(argv)
    state_dir, logs_dir = Path(args.state_dir), Path(args.logs_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    logs_dir.mkdir(parents=True, exist_ok=True)
    for file in LOGS:
        (logs_dir / file).touch(exist_ok=True)
    stop = threading.Event()
    servers = []
    traffic: list[Traffic] = []
    for spec in args.serve:
        name, port = spec.split("=", 1)
        meter = Traffic(name, *METERED[name], per_second=args.traffic_per_second) if name in METERED else None
        traffic += [meter] if meter else []
        server = ThreadingHTTPServer((args.host, int(port)), make_handler(name, state_dir, meter))
        server.daemon_threads = True
        servers.append(server)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5}, daemon=True).start()
    writer = threading.Thread(target=write_logs, args=(logs_dir, stop), daemon=True)
    writer.start()
    threading.Thread(target=simulate_traffic, args=(traffic, state_dir, stop), daemon=True).start()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stop.wait()
    for server in servers:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()
