"""Alertmanager from Debian's package (prometheus-alertmanager), with a webhook receiver.

The route follows the QSIGN runbook's alertmanager-config (seed 000): receiver team-qsign,
grouped by alertname/cluster/service, group_wait/group_interval 10s, repeat_interval 12h.
Slack and e-mail are replaced by a local webhook sink (testenv/webhook_sink.py) that
records each notification, and the always-firing Watchdog goes to a dead man's switch
receiver, as kube-prometheus routes it. Prometheus (testenv/prometheus.py) sends its
alerts here and scrapes it as job "alertmanager".
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import requests
import yaml

from testenv import procs
from testenv.paths import HOST, PORTS, local_url, state_dir, under

ALERTMANAGER_BIN = "/usr/bin/prometheus-alertmanager"
PROC_NAME = "alertmanager"
SINK = "alert-webhook"
SINK_SCRIPT = Path(__file__).with_name("webhook_sink.py")
START_TIMEOUT = 30.0


am_dir = under(state_dir, "alertmanager")
config_file = under(am_dir, "alertmanager.yml")
# One JSON line per notification the receivers got.
notifications_file = under(am_dir, "notifications.jsonl")
url = local_url("alertmanager")
sink_url = local_url("alert-webhook")


def _config() -> dict[str, Any]:
    return {
        "route": {
            "receiver": "team-qsign",
            "group_by": ["alertname", "cluster", "service"],
            "group_wait": "10s",
            "group_interval": "10s",
            "repeat_interval": "12h",
            "routes": [{"matchers": ['alertname="Watchdog"'], "receiver": "deadmansswitch", "repeat_interval": "5m"}],
        },
        "receivers": [
            {"name": "team-qsign", "webhook_configs": [{"url": sink_url() + "/team-qsign", "send_resolved": True}]},
            {"name": "deadmansswitch", "webhook_configs": [{"url": sink_url() + "/watchdog"}]},
        ],
    }


def up() -> dict[str, Any]:
    """Start the webhook sink and Alertmanager (reloading the config if it changed)."""
    if not Path(ALERTMANAGER_BIN).exists():
        raise RuntimeError(
            f"{ALERTMANAGER_BIN} not found: DEBIAN_FRONTEND=noninteractive apt-get install -y prometheus-alertmanager"
        )
    (am_dir() / "data").mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(_config(), sort_keys=False)
    changed = not config_file().exists() or config_file().read_text() != text
    if changed:
        config_file().write_text(text)

    procs.start(
        SINK,
        [
            sys.executable,
            str(SINK_SCRIPT),
            "--host",
            HOST,
            "--port",
            str(PORTS["alert-webhook"]),
            "--file",
            str(notifications_file()),
        ],
    )
    _wait(SINK, sink_url(), "/")
    was_running = procs.is_running(PROC_NAME)
    start()
    if was_running and changed:
        requests.post(url() + "/-/reload", timeout=10).raise_for_status()
    return status()


def start() -> None:
    """Start Alertmanager alone (the self-tests stop and start it as a fault)."""
    procs.start(
        PROC_NAME,
        [
            ALERTMANAGER_BIN,
            f"--config.file={config_file()}",
            f"--storage.path={am_dir() / 'data'}",
            f"--web.listen-address={HOST}:{PORTS['alertmanager']}",
            f"--web.external-url={url()}",
            # No high-availability gossip: it would listen on 0.0.0.0:9094.
            "--cluster.listen-address=",
        ],
        cwd=am_dir(),
    )
    _wait(PROC_NAME, url(), "/-/ready")


def stop() -> None:
    procs.stop(PROC_NAME)


def _wait(name: str, base: str, path: str) -> None:
    procs.wait_started(name, lambda: procs.http_ok(base + path, 3), START_TIMEOUT, f"{name} at {base}{path}")


def down() -> None:
    procs.stop(PROC_NAME)
    procs.stop(SINK)


def notifications() -> list[dict[str, Any]]:
    """What the receivers got, oldest first."""
    if not notifications_file().exists():
        return []
    return [json.loads(line) for line in notifications_file().read_text().splitlines() if line.strip()]


def status() -> dict[str, Any]:
    alertmanager = procs.server_status(PROC_NAME, url())
    sink_running = procs.is_running(SINK)
    return {
        "running": alertmanager["running"] and sink_running,
        "alertmanager": {**alertmanager, "config_file": str(config_file())},
        "webhook": {
            "running": sink_running,
            "pid": procs.read_pid(SINK),
            "url": sink_url(),
            "notifications_file": str(notifications_file()),
        },
    }
