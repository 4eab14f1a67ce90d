"""The sample QSIGN services (api-server, signature-service, hsm-adapter) and the kubelet
volume-stats stand-in, as local processes of testenv/qsign_app.py.

Faults are injected through each service's control file, which the service re-reads every
second, so a self-test can break a service and repair it without restarting anything.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from testenv import procs
from testenv.paths import HOST, PORTS, state_dir, under
from testenv.qsign_app import CONTROL_FIELDS, app_message, append_lines, cri_line

APPS: tuple[str, ...] = ("api-server", "signature-service", "hsm-adapter")
VOLUME_EXPORTER = "volume-exporter"
SCRIPT = Path(__file__).with_name("qsign_app.py")
START_TIMEOUT = 30.0


# Where the services keep their control files and (under logs/) their logs.
apps_dir = under(state_dir, "apps")


def proc_name(app: str) -> str:
    """The procs.py name of an app's process (pid file, supervisor log)."""
    _check_app(app)
    return f"qsign-{app}"


def log_file(app: str) -> Path:
    """The app's CRI-format log, what the kubelet would keep for the container."""
    _check_app(app)
    return apps_dir() / "logs" / f"{app}.log"


def control_file(app: str) -> Path:
    _check_app(app)
    return apps_dir() / f"{app}.control.json"


def url(app: str) -> str:
    """Base URL of an app, or of the volume exporter."""
    if app != VOLUME_EXPORTER:
        _check_app(app)
    return f"http://{HOST}:{PORTS[app]}"


# The PostgreSQL volume whose stats the exporter reports (mounted by testenv.postgres).
volume_path = under(state_dir, "volumes", "postgresql-data")


def _check_app(app: str) -> None:
    if app not in APPS:
        raise ValueError(f"unknown app {app!r}; expected one of {', '.join(APPS)}")


def up() -> dict[str, Any]:
    """Start the three services and the volume exporter (no-op for those already running)."""
    (apps_dir() / "logs").mkdir(parents=True, exist_ok=True)
    volume_path().mkdir(parents=True, exist_ok=True)
    for app in APPS:
        procs.start(
            proc_name(app),
            [
                sys.executable,
                str(SCRIPT),
                "--name",
                app,
                "--port",
                str(PORTS[app]),
                "--host",
                HOST,
                "--state-dir",
                str(apps_dir()),
                "--db-port",
                str(PORTS["postgres"]),
                "--vault-port",
                str(PORTS["vault"]),
                "--hsm-port",
                str(PORTS["hsm-adapter"]),
            ],
        )
    procs.start(
        VOLUME_EXPORTER,
        [
            sys.executable,
            str(SCRIPT),
            "--role",
            "volume-exporter",
            "--port",
            str(PORTS[VOLUME_EXPORTER]),
            "--host",
            HOST,
            "--volume-path",
            str(volume_path()),
            "--namespace",
            "qsign",
            "--pvc",
            "data-postgresql-0",
        ],
    )
    for app in APPS:
        _wait_live(proc_name(app), url(app), "/health/live", app)
    _wait_live(VOLUME_EXPORTER, url(VOLUME_EXPORTER), "/metrics", VOLUME_EXPORTER)
    return status()


def _wait_live(name: str, base: str, path: str, what: str) -> None:
    procs.wait_started(
        name, lambda: procs.http_ok(base + path, 2), START_TIMEOUT, f"{what} at {base}{path}", label=what
    )


def down() -> None:
    """Stop the services and the exporter; logs and control files stay for inspection."""
    for app in APPS:
        procs.stop(proc_name(app))
    procs.stop(VOLUME_EXPORTER)


def status() -> dict[str, Any]:
    apps: dict[str, Any] = {}
    for app in APPS:
        running = procs.is_running(proc_name(app))
        apps[app] = {
            "running": running,
            "live": running and procs.http_ok(url(app) + "/health/live", 2),
            "pid": procs.read_pid(proc_name(app)),
            "url": url(app),
            "port": PORTS[app],
            "log_file": str(log_file(app)),
            "control_file": str(control_file(app)),
            "control": read_control(app),
        }
    exporter_running = procs.is_running(VOLUME_EXPORTER)
    return {
        "running": all(a["running"] for a in apps.values()) and exporter_running,
        "apps": apps,
        "volume_exporter": {
            "running": exporter_running,
            "pid": procs.read_pid(VOLUME_EXPORTER),
            "url": url(VOLUME_EXPORTER),
            "metrics_url": url(VOLUME_EXPORTER) + "/metrics",
            "volume_path": str(volume_path()),
        },
    }


def read_control(app: str) -> dict[str, Any]:
    """The explicitly set control fields of an app ({} = healthy defaults)."""
    try:
        data = json.loads(control_file(app).read_text(encoding="utf-8") or "{}")
    except FileNotFoundError:
        return {}
    return data if isinstance(data, dict) else {}


def set_control(app: str, **fields: Any) -> dict[str, Any]:
    """Merge fault knobs into the app's control file; the app applies them within ~1 s.

    Fields: latency_ms, error_rate, signature_failure_rate, hsm_connected (hsm-adapter),
    unauthorized_per_tick, requests_per_second. A value of None removes the field."""
    unknown = set(fields) - set(CONTROL_FIELDS)
    if unknown:
        raise ValueError(f"unknown control field(s) {sorted(unknown)}; known: {', '.join(CONTROL_FIELDS)}")
    merged = read_control(app)
    for key, value in fields.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    _write_atomic(control_file(app), json.dumps(merged, indent=2, sort_keys=True) + "\n")
    return merged


def reset_controls() -> None:
    """Back to healthy defaults for every app."""
    for app in APPS:
        control_file(app).unlink(missing_ok=True)


def _write_atomic(path: Path, text: str) -> None:
    """Write via rename so a service never reads a half-written control file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def format_message(app: str, level: str, text: str) -> str:
    """An application message in the services' own format, e.g. for write_log_lines:
    format_message("api-server", "ERROR", "boom") -> '2026-... ERROR [api-server] boom'."""
    _check_app(app)
    return app_message(app, level, text)


def write_log_lines(app: str, messages: list[str]) -> None:
    """Append messages to the app's log as CRI lines stamped now (self-tests plant lines)."""
    base = time.time_ns()
    append_lines(log_file(app), [cri_line(m, base + i) for i, m in enumerate(messages)])
