"""Past metrics for the test environment's Prometheus, and live series a self-test pushes.

The weekly and monthly checks look back 7 and 30 days (trends, forecasts, SLA periods);
a fresh test environment has minutes of data. `backfill()` writes 35 days of history once
with `promtool tsdb create-blocks-from openmetrics` into the TSDB:

  * node CPU and memory utilisation of the three kwok nodes under the node-mixin
    recording-rule names kube-prometheus uses (instance:node_cpu_utilisation:rate5m,
    instance:node_memory_utilisation:ratio), a daily cycle with a slow growth that stays
    under 70 % / 80 % for six months;
  * the PostgreSQL volume's kubelet_volume_stats_* with the live series' own labels, so
    history and live samples form one series (slow growth from 15 % to 18 % used).

History ends 3 hours ago (the head block's range is not backfilled, per the Prometheus
storage docs) and before the first live sample of the volume series. A marker in the
data directory makes it happen once per TSDB.

`growing_gauge()` is fault injection: a series that climbs steeply, served through
node-exporter's textfile collector, for the capacity forecasts to catch.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from testenv.paths import HOST, PORTS

PROMTOOL = "/usr/bin/promtool"
VERSION = 2
DAYS = 35
# Every 5 minutes on the minute: any instant evaluation (a subquery's steps included)
# then finds a sample within Prometheus' 5-minute lookback.
STEP_SECONDS = 300
HEAD_MARGIN_SECONDS = 3 * 3600
NODES = ("kwok-node-0", "kwok-node-1", "kwok-node-2")
# (CPU, memory) utilisation at the start of the history, per node.
NODE_BASE = {"kwok-node-0": (0.32, 0.52), "kwok-node-1": (0.38, 0.56), "kwok-node-2": (0.27, 0.47)}
CPU_GROWTH_PER_DAY = 0.0004
MEMORY_GROWTH_PER_DAY = 0.0006
VOLUME_LABELS = {
    "instance": f"{HOST}:{PORTS['volume-exporter']}",
    "job": "kubelet",
    "namespace": "qsign",
    "persistentvolumeclaim": "data-postgresql-0",
}
VOLUME_FROM, VOLUME_TO = 0.15, 0.18


def marker(data_dir: Path) -> Path:
    return data_dir / "opscheck-backfill.json"


def needed(data_dir: Path) -> bool:
    try:
        return json.loads(marker(data_dir).read_text()).get("version") != VERSION
    except (OSError, ValueError):
        return True


def _labels(labels: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def openmetrics(start: int, end: int, volume_capacity: int, volume_end: int) -> str:
    """The history as OpenMetrics text: one family at a time, each series in time order."""
    rng = random.Random(20261122)
    lines: list[str] = []
    families = (
        ("instance:node_cpu_utilisation:rate5m", 0, CPU_GROWTH_PER_DAY, 0.08),
        ("instance:node_memory_utilisation:ratio", 1, MEMORY_GROWTH_PER_DAY, 0.03),
    )
    for name, index, growth, swing in families:
        lines.append(f"# TYPE {name} gauge")
        for node in NODES:
            labels = _labels({"instance": node, "job": "node"})
            base = NODE_BASE[node][index]
            for t in range(start, end, STEP_SECONDS):
                days = (t - start) / 86400
                daily = swing * math.sin(2 * math.pi * ((t % 86400) / 86400 - 0.25))
                value = base + growth * days + daily + rng.uniform(-0.01, 0.01)
                lines.append(f"{name}{labels} {value:.4f} {t}")
    span = max(volume_end - start, 1)
    used = {
        t: int(volume_capacity * (VOLUME_FROM + (VOLUME_TO - VOLUME_FROM) * (t - start) / span))
        for t in range(start, volume_end, STEP_SECONDS)
    }
    series = {
        "kubelet_volume_stats_capacity_bytes": {t: volume_capacity for t in used},
        "kubelet_volume_stats_used_bytes": used,
        "kubelet_volume_stats_available_bytes": {t: volume_capacity - u for t, u in used.items()},
    }
    for name, values in series.items():
        lines.append(f"# TYPE {name} gauge")
        labels = _labels(VOLUME_LABELS)
        lines += [f"{name}{labels} {v} {t}" for t, v in values.items()]
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def backfill(data_dir: Path, volume_path: Path, first_live_volume_sample: float | None) -> bool:
    """Write the history blocks into `data_dir` unless done already (an older version's
    blocks are removed first: stop Prometheus before). True if it wrote them; Prometheus
    loads them at its next start (or block reload, within a minute)."""
    if not needed(data_dir):
        return False
    _remove_previous(data_dir)
    end = int(time.time()) - HEAD_MARGIN_SECONDS
    end -= end % STEP_SECONDS
    start = end - DAYS * 86400
    volume_end = end
    if first_live_volume_sample is not None:
        volume_end = min(end, int(first_live_volume_sample) // STEP_SECONDS * STEP_SECONDS - STEP_SECONDS)
    st = os.statvfs(volume_path)
    capacity = st.f_blocks * st.f_frsize
    with tempfile.TemporaryDirectory(prefix="opscheck-backfill-") as tmp:
        source = Path(tmp) / "history.om"
        source.write_text(openmetrics(start, end, capacity, volume_end))
        out = Path(tmp) / "blocks"
        # Blocks up to a week long instead of 2 h ones: a handful of directories, not 400.
        subprocess.run(
            [
                PROMTOOL,
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                "--quiet",
                "--max-block-duration=168h",
                str(source),
                str(out),
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=300,
        )
        data_dir.mkdir(parents=True, exist_ok=True)
        blocks = sorted(b.name for b in out.iterdir())
        for name in blocks:
            shutil.move(str(out / name), data_dir / name)
    marker(data_dir).write_text(
        json.dumps({"version": VERSION, "start": start, "end": end, "volume_end": volume_end, "blocks": blocks}) + "\n"
    )
    return True


def _remove_previous(data_dir: Path) -> None:
    """Remove the blocks an older version of the history wrote (listed in its marker)."""
    try:
        old = json.loads(marker(data_dir).read_text())
    except (OSError, ValueError):
        return
    for name in old.get("blocks", []):
        shutil.rmtree(data_dir / name, ignore_errors=True)
    marker(data_dir).unlink(missing_ok=True)


# ---------------------------------------------------------------------- fault injection


def write_textfile(directory: Path, name: str, text: str) -> Path:
    """Publish metrics through node-exporter's textfile collector (atomic rename)."""
    path = directory / f"{name}.prom"
    tmp = directory / f".{name}.prom.tmp"
    tmp.write_text(text)
    tmp.replace(path)
    return path


class Gauge:
    """A published gauge value that climbs until `level_off()`."""

    def __init__(self, start: float, per_second: float) -> None:
        self.start, self.per_second = start, per_second
        self.began = time.monotonic()
        self.frozen: float | None = None

    def value(self) -> float:
        if self.frozen is not None:
            return self.frozen
        return self.start + self.per_second * (time.monotonic() - self.began)

    def level_off(self) -> None:
        """Stop the growth: the value stays where it is (the repair of the fault)."""
        self.frozen = self.value()


@contextmanager
def growing_gauge(
    directory: Path, name: str, metric: str, labels: dict[str, str], start: float, per_second: float
) -> Iterator[Gauge]:
    """A gauge that climbs by `per_second` every second while the block runs (until
    level_off()), exported by node-exporter (job "node"); removed on exit, so Prometheus
    marks it stale."""
    stop = threading.Event()
    gauge = Gauge(start, per_second)

    def publish() -> None:
        while not stop.is_set():
            write_textfile(directory, name, f"# TYPE {metric} gauge\n{metric}{_labels(labels)} {gauge.value():.6f}\n")
            stop.wait(1.0)

    writer = threading.Thread(target=publish, name=f"grow-{name}", daemon=True)
    writer.start()
    try:
        yield gauge
    finally:
        stop.set()
        writer.join(timeout=5)
        (directory / f"{name}.prom").unlink(missing_ok=True)
