"""Prometheus and node-exporter from Debian's packages, scraping the test environment.

Scrape and rule evaluation run every 5 s so self-tests see effects quickly. Each QSIGN
service is its own job with `app`/`namespace` target labels, as a Kubernetes service
discovery would attach them; the volume exporter is job "kubelet", node-exporter is "node".
Alerts go to the test environment's Alertmanager (testenv/alertmanager.py), also scraped.
Rules: testenv/alert-rules.yml, plus any rules.d/*.yml a self-test drops in and reloads.
The weekly and monthly checks read 35 days of history backfilled once (testenv/history.py).

Debian packages: prometheus (/usr/bin/prometheus, promtool) and prometheus-node-exporter.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import requests
import yaml

from testenv import alertmanager, apps, history, procs
from testenv.paths import HOST, PORTS, local_url, state_dir, under

PROMETHEUS_BIN = "/usr/bin/prometheus"
NODE_EXPORTER_BIN = "/usr/bin/prometheus-node-exporter"
PROC_NAME = "prometheus"
NODE_EXPORTER = "node-exporter"
RULES_SOURCE = Path(__file__).with_name("alert-rules.yml")
INTERVAL = "5s"
# Room for the backfilled history (35 days) and the monthly checks' 30-day windows.
RETENTION = "60d"
# Firing alerts are re-sent this often: a restarted Alertmanager has them again in seconds.
RESEND_DELAY = "5s"
START_TIMEOUT = 60.0
# Cheap collectors only; filesystem is the one the disk checks need.
NODE_COLLECTORS = ("filesystem", "cpu", "meminfo", "loadavg", "uname", "textfile")


prom_dir = under(state_dir, "prometheus")
config_file = under(prom_dir, "prometheus.yml")
# Copy of testenv/alert-rules.yml that the running server loads.
rules_file = under(prom_dir, "alert-rules.yml")
# Extra rule files (rules.d/*.yml), loaded with the main one; self-tests add theirs here.
rules_dir = under(prom_dir, "rules.d")
data_dir = under(prom_dir, "data")
url = local_url("prometheus")
# node-exporter's textfile collector directory (opscheck exports its results here).
textfile_dir = under(state_dir, "node-exporter-textfile")
node_exporter_url = local_url("node-exporter")


# SmartSensor's api and dashboard (testenv/systems_app.py serves their /metrics): the SLO
# tiers and slow responses of environments/smartsensor.yaml read them by job.
SMARTSENSOR_JOBS = {"smartsensor-api": "api-server", "smartsensor-web": "web-dashboard"}


def jobs() -> list[str]:
    """Every scrape job of the generated configuration."""
    return [*apps.APPS, *SMARTSENSOR_JOBS, "kubelet", "node", "prometheus", "alertmanager"]


def _config() -> dict[str, Any]:
    scrape = [
        {
            "job_name": app,
            "static_configs": [
                {
                    "targets": [f"{HOST}:{PORTS[app]}"],
                    "labels": {"app": app, "namespace": "qsign"},
                }
            ],
        }
        for app in apps.APPS
    ]
    scrape += [
        {
            "job_name": job,
            "static_configs": [
                # the app label comes with the metrics (a target label would rename it exported_app)
                {"targets": [f"{HOST}:{PORTS[job]}"], "labels": {"namespace": "hankook-smartsensor"}}
            ],
        }
        for job in SMARTSENSOR_JOBS
    ]
    scrape += [
        {"job_name": "kubelet", "static_configs": [{"targets": [f"{HOST}:{PORTS['volume-exporter']}"]}]},
        {"job_name": "node", "static_configs": [{"targets": [f"{HOST}:{PORTS['node-exporter']}"]}]},
        {"job_name": "prometheus", "static_configs": [{"targets": [f"{HOST}:{PORTS['prometheus']}"]}]},
        {"job_name": "alertmanager", "static_configs": [{"targets": [f"{HOST}:{PORTS['alertmanager']}"]}]},
    ]
    return {
        "global": {"scrape_interval": INTERVAL, "evaluation_interval": INTERVAL, "scrape_timeout": "4s"},
        "rule_files": [str(rules_file()), str(rules_dir() / "*.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"{HOST}:{PORTS['alertmanager']}"]}]}]},
        "scrape_configs": scrape,
    }


def _write_if_changed(path: Path, text: str) -> bool:
    if path.exists() and path.read_text() == text:
        return False
    path.write_text(text)
    return True


def _require(binary: str, package: str) -> None:
    if not Path(binary).exists() and not shutil.which(Path(binary).name):
        raise RuntimeError(f"{binary} not found: DEBIAN_FRONTEND=noninteractive apt-get install -y {package}")


def _start_and_wait(name: str, argv: list[str], base: str, path: str) -> None:
    procs.start(name, argv, cwd=prom_dir())
    procs.wait_started(name, lambda: procs.http_ok(base + path, 3), START_TIMEOUT, f"{name} at {base}{path}")


def query(promql: str) -> list[dict[str, Any]]:
    """Instant query; returns the result vector."""
    resp = requests.get(url() + "/api/v1/query", params={"query": promql}, timeout=10)
    resp.raise_for_status()
    body = resp.json()
    if body.get("status") != "success":
        raise RuntimeError(f"query {promql!r} failed: {body}")
    return body["data"]["result"]


def _scraped() -> bool:
    """Every job has been scraped at least once; running sources answered (up == 1)."""
    values = {r["metric"].get("job"): r["value"][1] for r in query("up")}
    expected_up = {"node", "prometheus"}
    expected_up |= {app for app in apps.APPS if procs.is_running(apps.proc_name(app))}
    if procs.is_running(alertmanager.PROC_NAME):
        expected_up.add("alertmanager")
    if procs.is_running(apps.VOLUME_EXPORTER):
        expected_up.add("kubelet")
    return all(job in values for job in jobs()) and all(values[job] == "1" for job in expected_up)


def _rates_available() -> bool:
    running = {app for app in apps.APPS if procs.is_running(apps.proc_name(app))}
    found = {r["metric"].get("app") for r in query("rate(http_server_requests_seconds_count[1m]) > 0")}
    return running <= found


def up() -> dict[str, Any]:
    """Start node-exporter and Prometheus (reloading the config if it changed) and wait
    until every target has been scraped."""
    _require(PROMETHEUS_BIN, "prometheus")
    _require(NODE_EXPORTER_BIN, "prometheus-node-exporter")
    data_dir().mkdir(parents=True, exist_ok=True)
    rules_dir().mkdir(parents=True, exist_ok=True)
    textfile_dir().mkdir(parents=True, exist_ok=True)
    rules_changed = _write_if_changed(rules_file(), RULES_SOURCE.read_text())
    config_changed = _write_if_changed(config_file(), yaml.safe_dump(_config(), sort_keys=False))

    _stop_if_started_without(NODE_EXPORTER, "--collector.textfile.directory")  # started by an older testenv
    _start_and_wait(
        NODE_EXPORTER,
        [
            NODE_EXPORTER_BIN,
            f"--web.listen-address={HOST}:{PORTS['node-exporter']}",
            "--collector.disable-defaults",
            *(f"--collector.{c}" for c in NODE_COLLECTORS),
            f"--collector.textfile.directory={textfile_dir()}",
        ],
        node_exporter_url(),
        "/metrics",
    )

    # Started by an older testenv (15-day retention, 1-minute alert resend): restart once.
    _stop_if_started_without(PROC_NAME, f"--rules.alert.resend-delay={RESEND_DELAY}")
    was_running = procs.is_running(PROC_NAME)
    _start_prometheus()
    if was_running and (rules_changed or config_changed):
        reload()
    # History for the 7- and 30-day windows; a restart loads the new blocks at once.
    if history.needed(data_dir()):
        first_live = _first_sample("kubelet_volume_stats_used_bytes")
        procs.stop(PROC_NAME)
        history.backfill(data_dir(), apps.volume_path(), first_live)
        _start_prometheus()
    procs.wait_for(_scraped, START_TIMEOUT, "a successful scrape of every target")
    # rate() needs two samples in its window: wait for them, so a demo run right after
    # `up` has latency figures instead of "no samples".
    procs.wait_for(_rates_available, START_TIMEOUT, "two scrapes of every sample service")
    return {**status(), "config_file": str(config_file()), "rules_file": str(rules_file()), "data_dir": str(data_dir())}


def _start_prometheus() -> None:
    _start_and_wait(
        PROC_NAME,
        [
            PROMETHEUS_BIN,
            f"--config.file={config_file()}",
            f"--storage.tsdb.path={data_dir()}",
            f"--storage.tsdb.retention.time={RETENTION}",
            f"--rules.alert.resend-delay={RESEND_DELAY}",
            f"--web.listen-address={HOST}:{PORTS['prometheus']}",
            f"--web.external-url={url()}",
            "--web.enable-lifecycle",
        ],
        url(),
        "/-/ready",
    )


def _first_sample(metric: str) -> float | None:
    """Unix time of the oldest sample of `metric` in the TSDB (10-minute resolution)."""
    found = query(f"min(min_over_time(timestamp({metric})[{history.DAYS + 5}d:10m]))")
    return float(found[0]["value"][1]) if found else None


def reload() -> None:
    """Re-read the configuration and every rule file (POST /-/reload)."""
    requests.post(url() + "/-/reload", timeout=10).raise_for_status()


def loaded_rules() -> list[str]:
    """Names of the alerting rules Prometheus has loaded now."""
    resp = requests.get(url() + "/api/v1/rules", params={"type": "alert"}, timeout=10)
    resp.raise_for_status()
    return [r["name"] for g in resp.json()["data"]["groups"] for r in g["rules"]]


def write_rules(text: str) -> None:
    """Replace the loaded copy of alert-rules.yml and reload (a self-test's fault);
    restore_rules() puts testenv/alert-rules.yml back."""
    rules_file().write_text(text)
    reload()


def restore_rules() -> None:
    write_rules(RULES_SOURCE.read_text())


def add_rules(name: str, groups: list[dict[str, Any]]) -> Path:
    """Load an extra rule file rules.d/<name>.yml (reloads Prometheus)."""
    path = rules_dir() / f"{name}.yml"
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    reload()
    return path


def remove_rules(name: str) -> None:
    (rules_dir() / f"{name}.yml").unlink(missing_ok=True)
    reload()


def _stop_if_started_without(name: str, flag: str) -> None:
    pid = procs.read_pid(name)
    if pid is None:
        return
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return
    if flag not in cmdline:
        procs.stop(name)


def down() -> None:
    """Stop Prometheus and node-exporter; the TSDB (history included) stays for the next up()."""
    procs.stop(PROC_NAME)
    procs.stop(NODE_EXPORTER)


def status() -> dict[str, Any]:
    prometheus = procs.server_status(PROC_NAME, url())
    node_running = procs.is_running(NODE_EXPORTER)
    return {
        "running": prometheus["running"] and node_running,
        "prometheus": prometheus,
        "node_exporter": {
            "running": node_running,
            "pid": procs.read_pid(NODE_EXPORTER),
            "url": node_exporter_url(),
            "log_file": str(procs.log_file(NODE_EXPORTER)),
        },
        "jobs": jobs(),
    }
