"""Prometheus Pushgateway from Debian's prometheus-pushgateway package.

opscheck pushes its results here (the profile's `export.pushgateway`), as a CronJob
in a cluster would; the self-tests read them back from its /metrics.
"""

from __future__ import annotations

import shutil
from typing import Any

import requests

from testenv import procs
from testenv.paths import HOST, PORTS, local_url, state_dir

BINARY = "/usr/bin/prometheus-pushgateway"
PROC_NAME = "pushgateway"
START_TIMEOUT = 30.0


url = local_url("pushgateway")


def _ready() -> bool:
    try:
        return requests.get(url() + "/-/ready", timeout=2).ok
    except requests.RequestException:
        return False


def up() -> dict[str, Any]:
    if not shutil.which(BINARY):
        raise RuntimeError(f"{BINARY} not found: run testenv/install-system-packages.sh (prometheus-pushgateway)")
    workdir = state_dir() / "pushgateway"
    workdir.mkdir(parents=True, exist_ok=True)
    # No persistence file: every test environment start begins with an empty gateway.
    procs.start(PROC_NAME, [BINARY, f"--web.listen-address={HOST}:{PORTS['pushgateway']}"], cwd=workdir)
    procs.wait_started(PROC_NAME, _ready, START_TIMEOUT, f"pushgateway at {url()}")
    return status()


def down() -> None:
    procs.stop(PROC_NAME)


def status() -> dict[str, Any]:
    return procs.server_status(PROC_NAME, url())


def metrics_text() -> str:
    """What the gateway serves to Prometheus: every pushed group."""
    resp = requests.get(url() + "/metrics", timeout=5)
    resp.raise_for_status()
    return resp.text
