#!/usr/bin/env python3
"""A stand-in for one QSIGN service (api-server, signature-service, hsm-adapter), or for
the kubelet's volume statistics endpoint.

Stdlib only, so it runs anywhere a Python runs. Each service instance:
  * answers /health, /health/live and /health/ready; readiness probes the real PostgreSQL
    port, the real OpenBao health endpoint and the (simulated) HSM connection;
  * exposes Prometheus metrics on /metrics, fed by a traffic-simulation thread;
  * writes its application log in CRI format (what the kubelet stores and `kubectl logs`
    reads), under <state-dir>/logs/<name>.log;
  * re-reads <state-dir>/<name>.control.json every tick, so tests inject faults (latency,
    errors, signature failures, HSM disconnect, unauthorized access) without a restart.

Usage:
  qsign_app.py --name api-server --port 18081 --state-dir DIR [--db-port ...]
  qsign_app.py --role volume-exporter --port 19101 --volume-path PATH
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# Base latency per service in milliseconds: what a healthy QSIGN installation shows.
DEFAULT_LATENCY_MS = {"api-server": 60.0, "signature-service": 150.0, "hsm-adapter": 30.0}
DEFAULT_REQUESTS_PER_SECOND = 2.0
LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0)
CONTROL_FIELDS = (
    "latency_ms",
    "error_rate",
    "signature_failure_rate",
    "hsm_connected",
    "unauthorized_per_tick",
    "requests_per_second",
)
# Simulated business endpoints per service: (method, uri template, weight).
ENDPOINTS: dict[str, list[tuple[str, str, int]]] = {
    "api-server": [
        ("GET", "/api/v1/documents", 5),
        ("GET", "/api/v1/documents/{id}", 3),
        ("POST", "/api/v1/documents", 1),
        ("POST", "/api/v1/signatures", 2),
    ],
    "signature-service": [
        ("POST", "/api/v1/signatures", 4),
        ("GET", "/api/v1/signatures/{id}", 1),
    ],
    "hsm-adapter": [
        ("POST", "/api/v1/hsm/sign", 4),
        ("GET", "/api/v1/hsm/keys", 1),
    ],
}
FAILURE_REASONS = ("DatabaseTimeoutException", "UpstreamConnectionReset", "NullPointerException")
SIGNATURE_FAILURE_REASONS = ("HSM_TIMEOUT", "INVALID_CERTIFICATE", "KEY_NOT_FOUND")
UNAUTHORIZED_SOURCE = "203.0.113.7"
CHECK_CACHE_SECONDS = 1.0
PROBE_TIMEOUT_SECONDS = 1.0


# ---------------------------------------------------------------------------- log format


def cri_timestamp(ns: int | None = None) -> str:
    """RFC 3339 UTC with nanoseconds, as containerd writes it in front of each log line."""
    ns = time.time_ns() if ns is None else ns
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def app_message(name: str, level: str, text: str, ns: int | None = None) -> str:
    """One application log message the way the services' logback pattern prints it."""
    ns = time.time_ns() if ns is None else ns
    stamp = datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return f"{stamp} {level:<5} [{name}] {text}"


def cri_line(message: str, ns: int | None = None, stream: str = "stdout") -> str:
    """A full CRI log line: `<time> <stream> F <message>` (F = full, not a partial line)."""
    return f"{cri_timestamp(ns)} {stream} F {message}\n"


def append_lines(path: Path, lines: list[str], max_bytes: int = 10 * 1024 * 1024) -> None:
    """Append in a single write (O_APPEND keeps concurrent writers from interleaving);
    rotate to `<file>.1` past `max_bytes`, like the kubelet's log rotation, only simpler."""
    if not lines:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if path.stat().st_size > max_bytes:
            os.replace(path, path.with_name(path.name + ".1"))
    except FileNotFoundError:
        pass
    with open(path, "a", encoding="utf-8") as f:
        f.write("".join(lines))


# ------------------------------------------------------------------------------- metrics


def _fmt_labels(names: tuple[str, ...], values: tuple[str, ...], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _fmt_value(v: float) -> str:
    if v == math.inf:
        return "+Inf"
    return repr(float(v)) if not float(v).is_integer() else str(int(v))


class Histogram:
    """A labelled Prometheus histogram (cumulative buckets, _sum, _count)."""

    def __init__(self, name: str, help_text: str, labels: tuple[str, ...], buckets: tuple[float, ...]):
        self.name, self.help, self.labels, self.buckets = name, help_text, labels, buckets
        self._series: dict[tuple[str, ...], list[float]] = {}
        self._lock = threading.Lock()

    def observe(self, value: float, *label_values: str) -> None:
        with self._lock:
            s = self._series.setdefault(label_values, [0.0] * (len(self.buckets) + 2))
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    s[i] += 1
            s[-2] += value
            s[-1] += 1

    def render(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        with self._lock:
            for lv, s in sorted(self._series.items()):
                for i, bound in enumerate(self.buckets):
                    le = f'le="{_fmt_value(bound)}"'
                    out.append(f"{self.name}_bucket{_fmt_labels(self.labels, lv, le)} {_fmt_value(s[i])}")
                inf = 'le="+Inf"'
                out.append(f"{self.name}_bucket{_fmt_labels(self.labels, lv, inf)} {_fmt_value(s[-1])}")
                out.append(f"{self.name}_sum{_fmt_labels(self.labels, lv)} {_fmt_value(s[-2])}")
                out.append(f"{self.name}_count{_fmt_labels(self.labels, lv)} {_fmt_value(s[-1])}")
        return out


class Counter:
    """A labelled Prometheus counter."""

    def __init__(self, name: str, help_text: str, labels: tuple[str, ...]):
        self.name, self.help, self.labels = name, help_text, labels
        self._series: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def inc(self, *label_values: str, amount: float = 1.0) -> None:
        with self._lock:
            self._series[label_values] = self._series.get(label_values, 0.0) + amount

    def touch(self, *label_values: str) -> None:
        """Make a series exist at 0, so rate() and ratios have data before the first event."""
        with self._lock:
            self._series.setdefault(label_values, 0.0)

    def render(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        with self._lock:
            for lv, v in sorted(self._series.items()):
                out.append(f"{self.name}{_fmt_labels(self.labels, lv)} {_fmt_value(v)}")
        return out


# ------------------------------------------------------------------------------- control


class Control:
    """The fault-injection knobs, re-read whenever the control file's mtime changes."""

    def __init__(self, path: Path, name: str):
        self.path, self.name = path, name
        self._stamp: tuple[int, int] | None = None
        self._values: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _reload(self) -> None:
        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp:
            return
        values: dict[str, Any] = {}
        if stamp is not None:
            try:
                loaded = json.loads(self.path.read_text(encoding="utf-8") or "{}")
                values = loaded if isinstance(loaded, dict) else {}
            except (OSError, ValueError):
                return  # half-written file: keep the previous values, retry next time
        self._stamp, self._values = stamp, values

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            self._reload()
            v = self._values
        return {
            "latency_ms": float(v.get("latency_ms", DEFAULT_LATENCY_MS.get(self.name, 50.0))),
            "error_rate": min(max(float(v.get("error_rate", 0.0)), 0.0), 1.0),
            "signature_failure_rate": min(max(float(v.get("signature_failure_rate", 0.0)), 0.0), 1.0),
            "hsm_connected": bool(v.get("hsm_connected", True)),
            "unauthorized_per_tick": max(int(v.get("unauthorized_per_tick", 0)), 0),
            "requests_per_second": max(float(v.get("requests_per_second", DEFAULT_REQUESTS_PER_SECOND)), 0.0),
        }


# ------------------------------------------------------------------------------- service


class Service:
    """State shared by the HTTP handler and the simulation thread of one service."""

    def __init__(self, args: argparse.Namespace):
        self.name: str = args.name
        self.state_dir = Path(args.state_dir)
        self.log_path = self.state_dir / "logs" / f"{self.name}.log"
        self.control = Control(self.state_dir / f"{self.name}.control.json", self.name)
        # each dependency on its own host when it runs elsewhere (pods on kind), else beside us
        self.db_addr = (args.db_host or args.host, args.db_port)
        self.vault_url = f"http://{args.vault_host or args.host}:{args.vault_port}/v1/sys/health"
        self.hsm_ready_url = f"http://{args.hsm_host or args.host}:{args.hsm_port}/health/ready"
        self.log_max_bytes: int = args.log_max_bytes
        self.log_stdout: bool = args.log_stdout
        self.rng = random.Random()
        self.rng_lock = threading.Lock()
        self.next_id = 1
        self.id_lock = threading.Lock()
        self.stop = threading.Event()
        self._checks: dict[str, str] = {}
        self._checks_at = 0.0
        self._checks_lock = threading.Lock()
        self.requests = Histogram(
            "http_server_requests_seconds",
            "Duration of HTTP server requests.",
            ("method", "uri", "status"),
            LATENCY_BUCKETS,
        )
        self.requests_total = Counter("http_server_requests_total", "HTTP server requests by status.", ("status",))
        self.signature_duration: Histogram | None = None
        self.signature_total: Counter | None = None
        if self.name == "signature-service":
            self.signature_duration = Histogram(
                "signature_duration_seconds", "Time to produce a signature.", (), LATENCY_BUCKETS
            )
            self.signature_total = Counter(
                "signature_requests_total", "Finished signature requests by result.", ("result",)
            )
            self.signature_total.touch("completed")
            self.signature_total.touch("failed")
        self.requests_total.touch("200")
        self.requests_total.touch("500")

    # -- logging
    def log(self, entries: list[tuple[str, str]]) -> None:
        """Write (level, text) entries with increasing nanosecond timestamps."""
        base = time.time_ns()
        if self.log_stdout:  # in a container: the runtime frames and stores each line itself
            messages = [app_message(self.name, lvl, txt, base + i) + "\n" for i, (lvl, txt) in enumerate(entries)]
            sys.stdout.write("".join(messages))
            sys.stdout.flush()
            return
        lines = [cri_line(app_message(self.name, lvl, txt, base + i), base + i) for i, (lvl, txt) in enumerate(entries)]
        append_lines(self.log_path, lines, self.log_max_bytes)

    # -- readiness
    def checks(self) -> dict[str, str]:
        """Real dependency probes, cached ~1 s so probes and scrapes stay cheap."""
        with self._checks_lock:
            if time.monotonic() - self._checks_at < CHECK_CACHE_SECONDS and self._checks:
                return dict(self._checks)
            self._checks = {"database": self._check_database(), "vault": self._check_vault(), "hsm": self._check_hsm()}
            self._checks_at = time.monotonic()
            return dict(self._checks)

    def _check_database(self) -> str:
        try:
            with socket.create_connection(self.db_addr, timeout=PROBE_TIMEOUT_SECONDS):
                return "UP"
        except OSError:
            return "DOWN"

    def _check_vault(self) -> str:
        # sys/health: 200 = initialized, unsealed, active; 503 sealed; 501 not initialized.
        try:
            with urllib.request.urlopen(self.vault_url, timeout=PROBE_TIMEOUT_SECONDS) as resp:
                return "UP" if resp.status == 200 else "DOWN"
        except (urllib.error.URLError, OSError, ValueError):
            return "DOWN"

    def _check_hsm(self) -> str:
        if self.name == "hsm-adapter":
            return "UP" if self.control.snapshot()["hsm_connected"] else "DOWN"
        try:
            with urllib.request.urlopen(self.hsm_ready_url, timeout=PROBE_TIMEOUT_SECONDS) as resp:
                body = resp.read()
        except urllib.error.HTTPError as err:  # 503 still carries the checks
            body = err.read()
        except (urllib.error.URLError, OSError, ValueError):
            return "DOWN"
        try:
            return "UP" if json.loads(body).get("checks", {}).get("hsm") == "UP" else "DOWN"
        except (ValueError, AttributeError):
            return "DOWN"

    # -- traffic
    def sample_latency(self, base_ms: float) -> float:
        with self.rng_lock:
            return max(1.0, self.rng.gauss(base_ms, base_ms * 0.15))

    def new_id(self) -> int:
        with self.id_lock:
            n = self.next_id
            self.next_id += 1
            return n

    def handle_request(self, method: str, uri: str, ctl: dict[str, Any]) -> tuple[int, float]:
        """Decide outcome and latency of one business request; record metrics and log.

        Returns (status, latency seconds). Used both by the simulator and by real requests
        to /api/v1/..., so both show up the same way in metrics and logs."""
        latency_ms = self.sample_latency(ctl["latency_ms"])
        with self.rng_lock:
            fails = self.rng.random() < ctl["error_rate"]
            sig_fails = self.rng.random() < ctl["signature_failure_rate"]
            reason = self.rng.choice(FAILURE_REASONS)
            sig_reason = self.rng.choice(SIGNATURE_FAILURE_REASONS)
        entries: list[tuple[str, str]] = []
        status = 500 if fails else 200
        is_signature = self.name == "signature-service" and method == "POST" and uri == "/api/v1/signatures"
        if is_signature and not fails:
            sid = self.new_id()
            entries.append(("INFO", f"Signature request received id={sid}"))
            assert self.signature_duration is not None and self.signature_total is not None
            self.signature_duration.observe(latency_ms / 1000.0)
            if sig_fails:
                status = 500
                self.signature_total.inc("failed")
                entries.append(("ERROR", f"Signature failed id={sid} reason={sig_reason}"))
            else:
                self.signature_total.inc("completed")
                entries.append(("INFO", f"Signature completed id={sid} duration={latency_ms:.0f}ms"))
        if fails:
            entries.append(("ERROR", f"Request failed: {method} {uri} status=500 error={reason}"))
        entries.append(("INFO", f"{method} {uri} {status} Response time: {latency_ms:.0f}ms"))
        self.requests.observe(latency_ms / 1000.0, method, uri, str(status))
        self.requests_total.inc(str(status))
        self.log(entries)
        return status, latency_ms / 1000.0

    def record_unauthorized(self, count: int) -> None:
        for _ in range(count):
            latency_ms = self.sample_latency(5.0)
            self.requests.observe(latency_ms / 1000.0, "GET", "/api/v1/admin", "401")
            self.requests_total.inc("401")
        if count:
            msg = f"Unauthorized access attempt from {UNAUTHORIZED_SOURCE} path=/api/v1/admin status=401"
            self.log([("WARN", msg)] * count)

    def simulate(self) -> None:
        """Generate Poisson-distributed traffic spread over each 1 s tick."""
        endpoints = ENDPOINTS.get(self.name, [("GET", "/api/v1/ping", 1)])
        weights = [w for _, _, w in endpoints]
        hsm_was_connected = True
        while not self.stop.is_set():
            tick_start = time.monotonic()
            ctl = self.control.snapshot()
            if self.name == "hsm-adapter" and ctl["hsm_connected"] != hsm_was_connected:
                hsm_was_connected = ctl["hsm_connected"]
                if hsm_was_connected:
                    self.log([("INFO", "HSM connection restored slot=0")])
                else:
                    self.log([("ERROR", "HSM connection lost slot=0 reason=device not responding")])
            with self.rng_lock:
                n = _poisson(self.rng, ctl["requests_per_second"])
                offsets = sorted(self.rng.random() for _ in range(n))
                picks = self.rng.choices(endpoints, weights=weights, k=n)
            self.record_unauthorized(ctl["unauthorized_per_tick"])
            for offset, (method, uri, _) in zip(offsets, picks, strict=True):
                delay = tick_start + offset - time.monotonic()
                if delay > 0 and self.stop.wait(delay):
                    return
                self.handle_request(method, uri, ctl)
            self.stop.wait(max(0.0, tick_start + 1.0 - time.monotonic()))

    def render_metrics(self) -> str:
        lines = self.requests.render() + self.requests_total.render()
        if self.signature_duration is not None and self.signature_total is not None:
            lines += self.signature_duration.render() + self.signature_total.render()
        if self.name == "hsm-adapter":
            connected = 1 if self.control.snapshot()["hsm_connected"] else 0
            lines += [
                "# HELP hsm_connected Whether the adapter holds a working session with the HSM (1) or not (0).",
                "# TYPE hsm_connected gauge",
                f"hsm_connected {connected}",
            ]
        return "\n".join(lines) + "\n"


def _poisson(rng: random.Random, lam: float) -> int:
    """Knuth's algorithm; fine for the small rates used here."""
    if lam <= 0:
        return 0
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --------------------------------------------------------------------------------- HTTP


class _Handler(BaseHTTPRequestHandler):
    server_version = "qsign-app/1.0"
    routes: dict[str, str] = {}  # GET path -> name of the handler method

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Silence per-request stderr lines; the service writes its own log."""

    def send_json(self, status: int, body: dict[str, Any]) -> None:
        self.send_text(status, json.dumps(body), "application/json")

    def send_text(self, status: int, text: str, ctype: str) -> None:
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self.dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        self.dispatch("POST")

    def dispatch(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        route = self.routes.get(path)
        if route is not None and method == "GET":
            getattr(self, route)()
        elif self.handle_api(method, path):
            return
        else:
            self.send_json(404, {"status": 404, "error": "Not Found", "path": path})

    def handle_api(self, method: str, path: str) -> bool:
        return False


def serve_service(args: argparse.Namespace) -> None:
    svc = Service(args)

    class Handler(_Handler):
        def health(self) -> None:
            checks = svc.checks()
            up = all(v == "UP" for v in checks.values())
            body = {"status": "UP" if up else "DOWN", "service": svc.name, "timestamp": _now_iso()}
            self.send_json(200 if up else 503, body)

        def live(self) -> None:
            self.send_json(200, {"status": "UP", "timestamp": _now_iso()})

        def ready(self) -> None:
            checks = svc.checks()
            up = all(v == "UP" for v in checks.values())
            self.send_json(200 if up else 503, {"status": "UP" if up else "DOWN", "checks": checks})

        def metrics(self) -> None:
            self.send_text(200, svc.render_metrics(), "text/plain; version=0.0.4; charset=utf-8")

        def handle_api(self, method: str, path: str) -> bool:
            """Real requests to /api/v1/... behave like simulated ones (latency, errors)."""
            if not path.startswith("/api/v1/"):
                return False
            if self.headers.get("Content-Length"):
                self.rfile.read(int(self.headers["Content-Length"]))
            uri = "/".join("{id}" if part.isdigit() else part for part in path.split("/"))
            status, seconds = svc.handle_request(method, uri, svc.control.snapshot())
            time.sleep(seconds)
            body = {"service": svc.name, "path": path, "status": status}
            self.send_json(status, body)
            return True

    Handler.routes = {"/health": "health", "/health/live": "live", "/health/ready": "ready", "/metrics": "metrics"}
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    sim = threading.Thread(target=svc.simulate, name="simulate", daemon=True)
    sim.start()
    svc.log([("INFO", f"Started {svc.name} on port {args.port}")])
    _serve_until_signal(server, svc.stop)


def serve_volume_exporter(args: argparse.Namespace) -> None:
    """kubelet_volume_stats_* for one PVC, from statvfs at every scrape, as the kubelet does."""
    volume = Path(args.volume_path)
    labels = f'namespace="{_escape(args.namespace)}",persistentvolumeclaim="{_escape(args.pvc)}"'

    def render() -> str:
        try:
            st = os.statvfs(volume)
        except OSError:
            return ""  # an unmounted volume has no stats, the kubelet reports nothing either
        values = {
            "capacity_bytes": (st.f_blocks * st.f_frsize, "Capacity in bytes of the volume"),
            "available_bytes": (st.f_bavail * st.f_frsize, "Number of available bytes in the volume"),
            "used_bytes": ((st.f_blocks - st.f_bfree) * st.f_frsize, "Number of used bytes in the volume"),
            "inodes": (st.f_files, "Maximum number of inodes in the volume"),
            "inodes_free": (st.f_ffree, "Number of free inodes in the volume"),
            "inodes_used": (st.f_files - st.f_ffree, "Number of used inodes in the volume"),
        }
        out: list[str] = []
        for key, (value, help_text) in values.items():
            name = f"kubelet_volume_stats_{key}"
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name}{{{labels}}} {value}"]
        return "\n".join(out) + "\n"

    class Handler(_Handler):
        def metrics(self) -> None:
            self.send_text(200, render(), "text/plain; version=0.0.4; charset=utf-8")

        def healthz(self) -> None:
            self.send_text(200, "ok", "text/plain")

    Handler.routes = {"/metrics": "metrics", "/healthz": "healthz", "/health/live": "healthz"}
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    _serve_until_signal(server, threading.Event())


def _serve_until_signal(server: ThreadingHTTPServer, stop: threading.Event) -> None:
    """Serve until SIGTERM/SIGINT, then close the socket and stop background threads."""

    def on_signal(signum: int, frame: object) -> None:
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        stop.set()
        server.server_close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--role", choices=("service", "volume-exporter"), default="service")
    p.add_argument("--name", default="api-server", help="service name (service role)")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--state-dir", default=".", help="holds logs/<name>.log and <name>.control.json")
    p.add_argument("--db-host", help="PostgreSQL's host (default: --host)")
    p.add_argument("--vault-host", help="OpenBao's host (default: --host)")
    p.add_argument("--hsm-host", help="the hsm-adapter's host (default: --host)")
    p.add_argument("--db-port", type=int, default=15432)
    p.add_argument("--vault-port", type=int, default=18200)
    p.add_argument("--hsm-port", type=int, default=18083)
    p.add_argument("--log-max-bytes", type=int, default=10 * 1024 * 1024)
    p.add_argument("--log-stdout", action="store_true", help="log to stdout (in a container), not to the state dir")
    p.add_argument("--volume-path", help="mounted volume to report (volume-exporter role)")
    p.add_argument("--namespace", default="qsign")
    p.add_argument("--pvc", default="data-postgresql-0")
    args = p.parse_args(argv)
    if args.role == "volume-exporter" and not args.volume_path:
        p.error("--volume-path is required for --role volume-exporter")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.role == "volume-exporter":
        serve_volume_exporter(args)
    else:
        serve_service(args)


if __name__ == "__main__":
    main()
