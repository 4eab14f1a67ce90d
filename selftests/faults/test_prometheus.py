"""Fault injection behind the Prometheus and Alertmanager checks.

Each test breaks something real in the test environment (a service answers slowly or with
errors, a scrape target stops, a rule disappears or cannot be evaluated, a critical alert
fires, Alertmanager stops, a volume or a node's memory grows fast), sees the checks fail
with a message naming the fault and the value against the objective, repairs it, and sees
them pass again.

The checks run with the demo profile's windows shortened to 20 s (`fast` below), so a
fault and its repair show within one or two windows instead of a week; other agents' daily
checks read the same Prometheus and services, so every fault is repaired at once.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from selftests.harness import broken
from testenv import alertmanager, apps, history, postgres, procs
from testenv import prometheus as prom

pytestmark = pytest.mark.usefixtures("testenv_up")

WINDOW = "20s"
FAST_FORECAST = {"window": WINDOW, "step": "1s"}
WAIT = 75  # seconds: a fault or repair shows within one window plus a few scrapes


def _profile(checks, path: Path, change: Callable[[dict[str, Any]], None] | None = None) -> Path:
    data = yaml.safe_load(checks.profile.read_text())
    p = data["prometheus"]
    p["windows"] = {"daily": WINDOW, "weekly": WINDOW, "monthly": WINDOW, "postdeploy": WINDOW}
    # Windows cover their checklist's interval: here the checklists run every 20 seconds.
    data.setdefault("schedule", {})["every"] = {"daily": WINDOW, "weekly": WINDOW, "monthly": WINDOW}
    p["latency_window"] = WINDOW
    cap = p.setdefault("capacity", {})
    cap["forecast"] = {**FAST_FORECAST, "horizon_days": 180}
    cap["weekly_trend"] = {**FAST_FORECAST, "horizon_days": 30}
    cap["disk_trend"] = {**FAST_FORECAST, "horizon_days": 30}
    cap["storage_expansion"] = {**FAST_FORECAST, "horizon_days": 90}
    if change:
        change(p)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


@pytest.fixture
def fast(checks, tmp_path) -> Path:
    """The demo profile with 20-second windows and forecasts fitted over 20 seconds."""
    return _profile(checks, tmp_path / "fast.yaml")


def _set(app: str, **fields: Any) -> Callable[[], Any]:
    return lambda: apps.set_control(app, **fields)


def _clear(app: str, *names: str) -> Callable[[], Any]:
    return lambda: apps.set_control(app, **{n: None for n in names})


# ------------------------------------------------------------------- latency and errors


def test_slow_api_fails_the_weekly_average_and_the_daily_slow_responses(checks, fast):
    with broken(_set("api-server", latency_ms=1500), _clear("api-server", "latency_ms")):
        r = checks.until("weekly.latency-7d", "failed", timeout=WAIT, profile=fast)
        assert re.match(
            r"average over 20s above the target: API response time \d+ ms \(threshold 200 ms\)$", r.message
        ), r.message
        r = checks.until(
            "daily.slow-responses",
            "failed",
            timeout=WAIT,
            profile=fast,
            message=lambda m: re.search(r"api-server \(\d+ of \d+ requests, (9\d|100)\.\d%\)", m) is not None,
        )
        assert r.message.startswith(
            "1 services answer more than 1% of requests slower than 1000 ms over 20s: api-server ("
        )
    checks.until("weekly.latency-7d", "passed", timeout=WAIT, profile=fast)
    checks.until("daily.slow-responses", "passed", timeout=WAIT, profile=fast)


def test_slow_api_misses_the_sla_the_critical_slo_and_the_postdeploy_figures(checks, fast):
    # 700 ms: P95 over 500 ms, yet (almost) no request over the 1 s that the daily
    # slow-response check of the shared environment counts over 24 h.
    with broken(_set("api-server", latency_ms=700), _clear("api-server", "latency_ms")):
        p95 = r"api-server P95 \((\d+) ms, objective < {} ms\)"
        r = checks.until(
            "weekly.sla",
            "failed",
            timeout=WAIT,
            profile=fast,
            message=lambda m: re.search(p95.format(500), m) is not None,
        )
        assert r.message.startswith("1 SLA objectives missed over 20s: api-server P95 ("), r.message
        assert int(re.search(p95.format(500), r.message).group(1)) > 500
        r = checks.until(
            "weekly.slo-critical",
            "failed",
            timeout=WAIT,
            profile=fast,
            message=lambda m: re.search(p95.format(200), m) is not None,
        )
        assert "critical-tier SLO objectives missed over 20s" in r.message
        assert re.search(r"api-server P99 \(\d+ ms, objective < 500 ms\)", r.message), r.message
        r = checks.until(
            "postdeploy.perf-normal",
            "failed",
            timeout=WAIT,
            profile=fast,
            message=lambda m: re.search(p95.format(500), m) is not None,
        )
        assert r.message.startswith("1 SLA objectives missed over the last 20s: api-server P95 (")
    for check_id in ("weekly.sla", "weekly.slo-critical", "postdeploy.perf-normal"):
        checks.until(check_id, "passed", timeout=WAIT, profile=fast)


def test_slow_signatures_miss_the_sla_and_the_important_slo(checks, fast):
    with broken(_set("signature-service", latency_ms=2500), _clear("signature-service", "latency_ms")):
        r = checks.until("weekly.sla", "failed", timeout=WAIT, profile=fast, message=lambda m: "signature P95" in m)
        assert re.search(r"signature P95 \(\d+ ms, objective < 1000 ms\)", r.message), r.message
        r = checks.until(
            "weekly.slo-important", "failed", timeout=WAIT, profile=fast, message=lambda m: "signature-service P95" in m
        )
        assert re.search(r"signature-service P95 \(\d+ ms, objective < 1000 ms\)", r.message), r.message
        r = checks.until("monthly.sla", "failed", timeout=WAIT, profile=fast, message=lambda m: "signature P95" in m)
        assert "SLA objectives missed over 20s" in r.message
    for check_id in ("weekly.sla", "weekly.slo-important", "monthly.sla"):
        checks.until(check_id, "passed", timeout=WAIT, profile=fast)


def test_server_errors_miss_the_sla_error_rate_and_the_critical_slo(checks, fast):
    # 5 % errors: over the 0.1 % objective, yet few ERROR lines for the daily log check to see.
    with broken(_set("api-server", error_rate=0.05), _clear("api-server", "error_rate")):
        r = checks.until(
            "weekly.sla", "failed", timeout=WAIT, profile=fast, message=lambda m: "api-server error rate" in m
        )
        assert re.search(r"api-server error rate \(\d+(\.\d+)?%, objective < 0\.1%\)", r.message), r.message
        r = checks.until(
            "weekly.slo-critical", "failed", timeout=WAIT, profile=fast, message=lambda m: "api-server error rate" in m
        )
        assert re.search(r"api-server error rate \(\d+(\.\d+)?%, objective < 0\.1%\)", r.message), r.message
    checks.until("weekly.sla", "passed", timeout=WAIT, profile=fast)
    checks.until("weekly.slo-critical", "passed", timeout=WAIT, profile=fast)


def test_a_stopped_service_misses_the_availability_objective(checks, fast):
    with broken(lambda: procs.stop(apps.proc_name("signature-service")), apps.up):
        r = checks.until(
            "monthly.sla", "failed", timeout=WAIT, profile=fast, message=lambda m: "signature-service availability" in m
        )
        assert re.search(r"signature-service availability \(\d+(\.\d+)?%, objective >= 99\.9%\)", r.message), r.message
        # Fail once more while it is still down: the important tier's 99.5 %.
        r = checks.until(
            "weekly.slo-important",
            "failed",
            timeout=WAIT,
            profile=fast,
            message=lambda m: "signature-service availability" in m,
        )
    checks.until("monthly.sla", "passed", timeout=WAIT, profile=fast)
    checks.until("weekly.slo-important", "passed", timeout=WAIT, profile=fast)


# ------------------------------------------------------------------------ scrape targets


def test_a_down_exporter_fails_targets_metrics_dashboards_and_supporting_slo(checks, fast):
    with broken(lambda: procs.stop(apps.VOLUME_EXPORTER), apps.up):
        # The first failed scrape may see the exporter closing (connection reset): wait for "refused".
        r = checks.until(
            "daily.prometheus-targets",
            "failed",
            timeout=WAIT,
            profile=fast,
            message=lambda m: "connection refused" in m,
        )
        assert re.match(
            r"1 of \d+ scrape targets down: kubelet/127\.0\.0\.1:19101 \(down: .*connection refused", r.message
        ), r.message
        r = checks.until("postdeploy.metrics-collected", "failed", timeout=WAIT, profile=fast)
        assert r.message.startswith(
            "1 expected jobs without fresh samples: job kubelet (1 of 1 targets down: 127.0.0.1:19101 "
        )
        r = checks.until("daily.dashboard-metrics", "failed", timeout=WAIT, profile=fast)
        assert (
            r.message == "1 dashboard queries or Grafana parts without data: PVC usage (0 series, expected at least 1)"
        )
        r = checks.until("weekly.slo-supporting", "failed", timeout=WAIT, profile=fast)
        assert re.match(
            r"1 supporting-tier SLO objectives missed over 20s: kubelet availability \(\d+(\.\d+)?%, objective >= 99%\)$",
            r.message,
        ), r.message
    for check_id in (
        "daily.prometheus-targets",
        "postdeploy.metrics-collected",
        "daily.dashboard-metrics",
        "weekly.slo-supporting",
    ):
        checks.until(check_id, "passed", timeout=WAIT, profile=fast)


# ------------------------------------------------------------------------------ alerting


def _without_rule(name: str) -> str:
    data = yaml.safe_load(prom.RULES_SOURCE.read_text())
    for group in data["groups"]:
        group["rules"] = [r for r in group["rules"] if r.get("alert") != name]
    return yaml.safe_dump(data, sort_keys=False)


def test_a_removed_rule_fails_the_rules_review_and_the_predeploy_gate(checks, fast):
    with broken(lambda: prom.write_rules(_without_rule("HSMDisconnected")), prom.restore_rules):
        assert "HSMDisconnected" not in prom.loaded_rules()
        # Right after the reload the changed group's rules are "never evaluated" for one interval.
        expected = "1 alert rules need attention: HSMDisconnected (not loaded)"
        r = checks.until("monthly.alert-rules", "failed", timeout=WAIT, profile=fast, message=lambda m: m == expected)
        # (Right after a reload Prometheus also lists no Alertmanager for a moment: wait it out.)
        r = checks.until(
            "predeploy.monitoring-configured",
            "failed",
            timeout=WAIT,
            profile=fast,
            message=lambda m: m.startswith("1 "),
        )
        assert r.message == "1 monitoring or alerting settings missing: alert rule HSMDisconnected (not loaded)"
    checks.until("monthly.alert-rules", "passed", timeout=WAIT, profile=fast)
    checks.until("predeploy.monitoring-configured", "passed", timeout=WAIT, profile=fast)


REVIEW_RULES = [
    {
        "name": "selftest-review",
        "rules": [
            # No severity label, no summary annotation.
            {"alert": "SelfTestUnlabelled", "expr": "vector(0) > 1"},
            # Fails at every evaluation: many series on the "one" side of a group_left match.
            {
                "alert": "SelfTestBroken",
                "expr": "vector(1) * on() group_left() up > 0",
                "labels": {"severity": "warning"},
                "annotations": {"summary": "always broken"},
            },
        ],
    }
]


def test_unlabelled_and_failing_rules_fail_the_review_and_alerts_working(checks, fast):
    with broken(lambda: prom.add_rules("selftest-review", REVIEW_RULES), lambda: prom.remove_rules("selftest-review")):
        r = checks.until(
            "monthly.alert-rules",
            "failed",
            timeout=WAIT,
            profile=fast,
            message=lambda m: "SelfTestBroken (evaluation error" in m,
        )
        assert "SelfTestUnlabelled (no severity label, no summary annotation)" in r.message, r.message
        assert re.search(r"SelfTestBroken \(evaluation error: .*(duplicate series|many-to-many)", r.message), r.message
        # Right after the rules reload Prometheus briefly has no Alertmanager (a true
        # failure too): wait for the settled one, the broken rule alone.
        r = checks.until(
            "postdeploy.alerts-working",
            "failed",
            timeout=WAIT,
            profile=fast,
            message=lambda m: m.startswith("1 alerting problems: "),
        )
        assert r.message.startswith("1 alerting problems: rule SelfTestBroken (evaluation error: "), r.message
    checks.until("monthly.alert-rules", "passed", timeout=WAIT, profile=fast)
    checks.until("postdeploy.alerts-working", "passed", timeout=WAIT, profile=fast)


FIRING_RULES = [
    {
        "name": "selftest-firing",
        "rules": [
            {
                "alert": "SelfTestCritical",
                "expr": "vector(1)",
                "labels": {"severity": "critical"},
                "annotations": {"summary": "opscheck self-test: a critical alert fires"},
            }
        ],
    }
]


def test_a_firing_critical_alert_fails_the_daily_alert_checks(checks, fast):
    with broken(lambda: prom.add_rules("selftest-firing", FIRING_RULES), lambda: prom.remove_rules("selftest-firing")):
        r = checks.until("daily.alerts-firing", "failed", timeout=WAIT, profile=fast)
        assert re.match(
            r"1 alerts firing: SelfTestCritical \(critical, since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)$", r.message
        ), r.message
        r = checks.until("daily.alerts-24h", "failed", timeout=WAIT, profile=fast)
        assert re.match(
            r"1 alerts of the last 20s still firing: SelfTestCritical \(critical, since .* UTC\)$", r.message
        ), r.message
    checks.until("daily.alerts-firing", "passed", timeout=WAIT, profile=fast)
    r = checks.until("daily.alerts-24h", "passed", timeout=WAIT, profile=fast)
    # Resolved, but still listed for the review while it is inside the window.
    listed = [row for row in r.evidence["rows"] if row[0] == "SelfTestCritical"]
    assert not listed or listed[0][-1] == "no"


def test_a_stopped_alertmanager_fails_alerts_working_and_the_predeploy_gate(checks, fast):
    with broken(alertmanager.stop, alertmanager.start):
        r = checks.until("postdeploy.alerts-working", "failed", timeout=WAIT, profile=fast)
        assert r.message == (
            "1 alerting problems: Alertmanager http://127.0.0.1:19093 (unreachable: connection refused)"
        ), r.message
        r = checks.until("predeploy.monitoring-configured", "failed", timeout=WAIT, profile=fast)
        assert r.message == (
            "1 monitoring or alerting settings missing: Alertmanager http://127.0.0.1:19093 "
            "(unreachable: connection refused)"
        ), r.message
    # Passes once Prometheus has re-sent the Watchdog to the restarted Alertmanager.
    checks.until("postdeploy.alerts-working", "passed", timeout=WAIT, profile=fast)
    checks.until("predeploy.monitoring-configured", "passed", timeout=WAIT, profile=fast)


# ----------------------------------------------------------------- capacity and trends


@contextmanager
def _filling_volume(start_percent: float, per_second: float, stop_at: float) -> Iterator[None]:
    """Grow the PostgreSQL volume's ballast steadily (staying under the 80 % of the daily
    disk check, which other checks read at the same time)."""
    done = threading.Event()

    def grow() -> None:
        percent = start_percent
        while not done.is_set() and percent < stop_at:
            postgres.fill_volume(percent)
            percent += per_second
            done.wait(1.0)

    writer = threading.Thread(target=grow, daemon=True)
    writer.start()
    try:
        yield
    finally:
        done.set()
        writer.join(timeout=10)
        postgres.clear_fill()


def test_a_fast_growing_volume_fails_the_disk_trend_and_storage_forecasts(checks, tmp_path):
    # Storage alone: the node CPU/memory series have no points in a 20-second window.
    def storage_only(p: dict[str, Any]) -> None:
        p["capacity"]["cpu_query"] = None
        p["capacity"]["memory_query"] = None

    fast = _profile(checks, tmp_path / "storage.yaml", storage_only)
    used = float(postgres.status()["used_percent"])
    with _filling_volume(used + 2, 2.5, min(used + 40, 70)):
        r = checks.until("weekly.disk-trend", "failed", timeout=WAIT, profile=fast)
        assert re.match(
            r"1 volumes fill up within 30 days at the 20s growth: qsign/data-postgresql-0 "
            r"\(\d+\.\d% used, \+\d+(\.\d+)?%/day: 100\.0% in \d+\.\d days\)$",
            r.message,
        ), r.message
        r = checks.until("monthly.storage-expansion", "failed", timeout=WAIT, profile=fast)
        assert re.match(
            r"1 volumes pass 80% within 90 days: qsign/data-postgresql-0 \(.*: 80\.0% in \d+\.\d days\)$", r.message
        ), r.message
        r = checks.until("monthly.capacity-forecast", "failed", timeout=WAIT, profile=fast)
        assert re.match(
            r"1 resources forecast over their threshold in 180 days \(20s trend\): storage "
            r"qsign/data-postgresql-0 \(\d+\.\d% now, \d+% in 180 days > 80%\)$",
            r.message,
        ), r.message
    for check_id in ("weekly.disk-trend", "monthly.storage-expansion", "monthly.capacity-forecast"):
        checks.until(check_id, "passed", timeout=WAIT, profile=fast)


def test_growing_node_memory_fails_the_resource_trend_and_capacity_forecast(checks, tmp_path):
    # Nodes alone: the volume is the previous test's subject.
    def nodes_only(p: dict[str, Any]) -> None:
        p["volume_usage_query"] = None

    fast = _profile(checks, tmp_path / "nodes.yaml", nodes_only)
    # A steady CPU series keeps data in the window after the memory growth is repaired.
    with history.growing_gauge(
        prom.textfile_dir(),
        "opscheck-selftest-cpu",
        "instance:node_cpu_utilisation:rate5m",
        {"node": "selftest-node"},
        0.30,
        0.0,
    ):
        with history.growing_gauge(
            prom.textfile_dir(),
            "opscheck-selftest-memory",
            "instance:node_memory_utilisation:ratio",
            {"node": "selftest-node"},
            0.50,
            0.01,
        ) as memory:
            r = checks.until("weekly.resource-trend", "failed", timeout=WAIT, profile=fast)
            assert re.match(
                r"1 resources forecast over their threshold in 30 days \(20s trend\): memory selftest-node "
                r"\(\d+\.\d% now, \d+% in 30 days > 80%\)$",
                r.message,
            ), r.message
            r = checks.until("monthly.capacity-forecast", "failed", timeout=WAIT, profile=fast)
            assert re.match(
                r"1 resources forecast over their threshold in 180 days \(20s trend\): memory selftest-node "
                r"\(\d+\.\d% now, \d+% in 180 days > 80%\)$",
                r.message,
            ), r.message
            memory.level_off()  # the repair: the growth stops
            checks.until("weekly.resource-trend", "passed", timeout=WAIT, profile=fast)
            checks.until("monthly.capacity-forecast", "passed", timeout=WAIT, profile=fast)
