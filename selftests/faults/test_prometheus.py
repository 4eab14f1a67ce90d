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

from selftests.faults.common import app_misbehaving
from selftests.harness import Outcome, broken
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


# What fails under a fault: name -> (check, a regex the message must contain before the
# check's failure is taken (None: the first failure), the failed message in full (a regex)).
Failure = tuple[str, str | None, str]


def each_fails_then_recovers(checks, fault, failures: dict[str, Failure], profile: Path) -> dict[str, Outcome]:
    """Under `fault`, each check fails in turn with its message; after the repair each passes
    again. Returns the failed outcomes by name."""
    failed: dict[str, Outcome] = {}
    with fault:
        for name, (check_id, wait_for, expected) in failures.items():
            seen = None if wait_for is None else (lambda m, w=wait_for: re.search(w, m) is not None)
            failed[name] = r = checks.until(check_id, "failed", timeout=WAIT, profile=profile, message=seen)
            assert re.fullmatch(expected, r.message), r.message
    for check_id, _, _ in failures.values():
        checks.until(check_id, "passed", timeout=WAIT, profile=profile)
    return failed


def starts(text: str) -> str:
    """A regex: a message beginning with `text`."""
    return re.escape(text) + ".*"


def all_of(*regexes: str) -> str:
    """A regex: a message in which each of `regexes` is found, in any order."""
    return "".join(f"(?=.*{r})" for r in regexes) + ".*"


def api_server(**controls: Any):
    return app_misbehaving("api-server", **controls)


# ------------------------------------------------------------------- latency and errors

P95 = r"api-server P95 \((\d+) ms, objective < {} ms\)"


def test_slow_api_fails_the_weekly_average_and_the_daily_slow_responses(checks, fast):
    failures = {
        "weekly average": (
            "weekly.latency-7d",
            None,
            r"average over 20s above the target: API response time \d+ ms \(threshold 200 ms\)",
        ),
        "slow responses": (
            "daily.slow-responses",
            r"api-server \(\d+ of \d+ requests, (9\d|100)\.\d%\)",
            starts("1 services answer more than 1% of requests slower than 1000 ms over 20s: api-server ("),
        ),
    }
    each_fails_then_recovers(checks, api_server(latency_ms=1500), failures, fast)


def test_slow_api_misses_the_sla_the_critical_slo_and_the_postdeploy_figures(checks, fast):
    # 700 ms: P95 over 500 ms, yet (almost) no request over the 1 s that the daily
    # slow-response check of the shared environment counts over 24 h.
    failures = {
        "sla": ("weekly.sla", P95.format(500), starts("1 SLA objectives missed over 20s: api-server P95 (")),
        "critical slo": (
            "weekly.slo-critical",
            P95.format(200),
            all_of("critical-tier SLO objectives missed over 20s", r"api-server P99 \(\d+ ms, objective < 500 ms\)"),
        ),
        "postdeploy figures": (
            "postdeploy.perf-normal",
            P95.format(500),
            starts("1 SLA objectives missed over the last 20s: api-server P95 ("),
        ),
    }
    failed = each_fails_then_recovers(checks, api_server(latency_ms=700), failures, fast)
    assert int(re.search(P95.format(500), failed["sla"].message).group(1)) > 500


def test_slow_signatures_miss_the_sla_and_the_important_slo(checks, fast):
    failures = {
        "sla": ("weekly.sla", "signature P95", all_of(r"signature P95 \(\d+ ms, objective < 1000 ms\)")),
        "important slo": (
            "weekly.slo-important",
            "signature-service P95",
            all_of(r"signature-service P95 \(\d+ ms, objective < 1000 ms\)"),
        ),
        "monthly sla": ("monthly.sla", "signature P95", all_of("SLA objectives missed over 20s")),
    }
    each_fails_then_recovers(checks, app_misbehaving("signature-service", latency_ms=2500), failures, fast)


def test_server_errors_miss_the_sla_error_rate_and_the_critical_slo(checks, fast):
    # 5 % errors: over the 0.1 % objective, yet few ERROR lines for the daily log check to see.
    error_rate = all_of(r"api-server error rate \(\d+(\.\d+)?%, objective < 0\.1%\)")
    failures = {
        "sla": ("weekly.sla", "api-server error rate", error_rate),
        "critical slo": ("weekly.slo-critical", "api-server error rate", error_rate),
    }
    each_fails_then_recovers(checks, api_server(error_rate=0.05), failures, fast)


def test_a_stopped_service_misses_the_availability_objective(checks, fast):
    availability = "signature-service availability"
    failures = {
        "monthly sla": (
            "monthly.sla",
            availability,
            all_of(r"signature-service availability \(\d+(\.\d+)?%, objective >= 99\.9%\)"),
        ),
        # Fail once more while it is still down: the important tier's 99.5 %.
        "important slo": ("weekly.slo-important", availability, all_of(availability)),
    }
    stopped = broken(lambda: procs.stop(apps.proc_name("signature-service")), apps.up)
    each_fails_then_recovers(checks, stopped, failures, fast)


# ------------------------------------------------------------------------ scrape targets


def test_a_down_exporter_fails_targets_metrics_dashboards_and_supporting_slo(checks, fast):
    failures = {
        # The first failed scrape may see the exporter closing (connection reset): wait for "refused".
        "targets": (
            "daily.prometheus-targets",
            "connection refused",
            r"1 of \d+ scrape targets down: kubelet/127\.0\.0\.1:19101 \(down: .*connection refused.*",
        ),
        "metrics": (
            "postdeploy.metrics-collected",
            None,
            starts("1 expected jobs without fresh samples: job kubelet (1 of 1 targets down: 127.0.0.1:19101 "),
        ),
        "dashboards": (
            "daily.dashboard-metrics",
            None,
            re.escape("1 dashboard queries or Grafana parts without data: PVC usage (0 series, expected at least 1)"),
        ),
        "supporting slo": (
            "weekly.slo-supporting",
            None,
            r"1 supporting-tier SLO objectives missed over 20s: kubelet availability \(\d+(\.\d+)?%, objective >= 99%\)",
        ),
    }
    each_fails_then_recovers(checks, broken(lambda: procs.stop(apps.VOLUME_EXPORTER), apps.up), failures, fast)


# ------------------------------------------------------------------------------ alerting


def _without_rule(name: str) -> str:
    data = yaml.safe_load(prom.RULES_SOURCE.read_text())
    for group in data["groups"]:
        group["rules"] = [r for r in group["rules"] if r.get("alert") != name]
    return yaml.safe_dump(data, sort_keys=False)


def rules_added(name: str, *rules: dict[str, Any]):
    """An extra rule group `name` loaded by Prometheus, then removed."""
    return broken(lambda: prom.add_rules(name, [{"name": name, "rules": list(rules)}]), lambda: prom.remove_rules(name))


def alert(name: str, expr: str, severity: str, summary: str) -> dict[str, Any]:
    return {"alert": name, "expr": expr, "labels": {"severity": severity}, "annotations": {"summary": summary}}


def test_a_removed_rule_fails_the_rules_review_and_the_predeploy_gate(checks, fast):
    def remove_rule() -> None:
        prom.write_rules(_without_rule("HSMDisconnected"))
        assert "HSMDisconnected" not in prom.loaded_rules()

    not_loaded = "1 alert rules need attention: HSMDisconnected (not loaded)"
    failures = {
        # Right after the reload the changed group's rules are "never evaluated" for one interval.
        "rules review": ("monthly.alert-rules", rf"\A{re.escape(not_loaded)}\Z", re.escape(not_loaded)),
        # (Right after a reload Prometheus also lists no Alertmanager for a moment: wait it out.)
        "predeploy gate": (
            "predeploy.monitoring-configured",
            r"\A1 ",
            re.escape("1 monitoring or alerting settings missing: alert rule HSMDisconnected (not loaded)"),
        ),
    }
    each_fails_then_recovers(checks, broken(remove_rule, prom.restore_rules), failures, fast)


def test_unlabelled_and_failing_rules_fail_the_review_and_alerts_working(checks, fast):
    review_rules = rules_added(
        "selftest-review",
        # No severity label, no summary annotation.
        {"alert": "SelfTestUnlabelled", "expr": "vector(0) > 1"},
        # Fails at every evaluation: many series on the "one" side of a group_left match.
        alert("SelfTestBroken", "vector(1) * on() group_left() up > 0", "warning", "always broken"),
    )
    failures = {
        "rules review": (
            "monthly.alert-rules",
            re.escape("SelfTestBroken (evaluation error"),
            all_of(
                re.escape("SelfTestUnlabelled (no severity label, no summary annotation)"),
                r"SelfTestBroken \(evaluation error: .*(duplicate series|many-to-many)",
            ),
        ),
        # Right after the rules reload Prometheus briefly has no Alertmanager (a true
        # failure too): wait for the settled one, the broken rule alone.
        "alerts working": (
            "postdeploy.alerts-working",
            r"\A1 alerting problems: ",
            starts("1 alerting problems: rule SelfTestBroken (evaluation error: "),
        ),
    }
    each_fails_then_recovers(checks, review_rules, failures, fast)


def test_a_firing_critical_alert_fails_the_daily_alert_checks(checks, fast):
    firing = rules_added(
        "selftest-firing",
        alert("SelfTestCritical", "vector(1)", "critical", "opscheck self-test: a critical alert fires"),
    )
    failures = {
        "firing": (
            "daily.alerts-firing",
            None,
            r"1 alerts firing: SelfTestCritical \(critical, since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)",
        ),
        "last window": (
            "daily.alerts-24h",
            None,
            r"1 alerts of the last 20s still firing: SelfTestCritical \(critical, since .* UTC\)",
        ),
    }
    each_fails_then_recovers(checks, firing, failures, fast)
    r = checks.until("daily.alerts-24h", "passed", timeout=WAIT, profile=fast)
    # Resolved, but still listed for the review while it is inside the window.
    listed = [row for row in r.evidence["rows"] if row[0] == "SelfTestCritical"]
    assert not listed or listed[0][-1] == "no"


def test_a_stopped_alertmanager_fails_alerts_working_and_the_predeploy_gate(checks, fast):
    unreachable = "Alertmanager http://127.0.0.1:19093 (unreachable: connection refused)"
    failures = {
        "alerts working": ("postdeploy.alerts-working", None, re.escape(f"1 alerting problems: {unreachable}")),
        "predeploy gate": (
            "predeploy.monitoring-configured",
            None,
            re.escape(f"1 monitoring or alerting settings missing: {unreachable}"),
        ),
    }
    # Passes once Prometheus has re-sent the Watchdog to the restarted Alertmanager.
    each_fails_then_recovers(checks, broken(alertmanager.stop, alertmanager.start), failures, fast)


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
    failures = {
        "disk trend": (
            "weekly.disk-trend",
            None,
            r"1 volumes fill up within 30 days at the 20s growth: qsign/data-postgresql-0 "
            r"\(\d+\.\d% used, \+\d+(\.\d+)?%/day: 100\.0% in \d+\.\d days\)",
        ),
        "storage expansion": (
            "monthly.storage-expansion",
            None,
            r"1 volumes pass 80% within 90 days: qsign/data-postgresql-0 \(.*: 80\.0% in \d+\.\d days\)",
        ),
        "capacity forecast": (
            "monthly.capacity-forecast",
            None,
            r"1 resources forecast over their threshold in 180 days \(20s trend\): storage "
            r"qsign/data-postgresql-0 \(\d+\.\d% now, \d+% in 180 days > 80%\)",
        ),
    }
    each_fails_then_recovers(checks, _filling_volume(used + 2, 2.5, min(used + 40, 70)), failures, fast)


def test_growing_node_memory_fails_the_resource_trend_and_capacity_forecast(checks, tmp_path):
    # Nodes alone: the volume is the previous test's subject.
    def nodes_only(p: dict[str, Any]) -> None:
        p["volume_usage_query"] = None

    fast = _profile(checks, tmp_path / "nodes.yaml", nodes_only)
    node = {"node": "selftest-node"}
    memory_forecast = (
        r"1 resources forecast over their threshold in {days} days \(20s trend\): memory selftest-node "
        r"\(\d+\.\d% now, \d+% in {days} days > 80%\)"
    )
    failures = {
        "resource trend": ("weekly.resource-trend", None, memory_forecast.format(days=30)),
        "capacity forecast": ("monthly.capacity-forecast", None, memory_forecast.format(days=180)),
    }
    cpu, memory = "instance:node_cpu_utilisation:rate5m", "instance:node_memory_utilisation:ratio"
    # A steady CPU series keeps data in the window after the memory growth is repaired.
    with history.growing_gauge(prom.textfile_dir(), "opscheck-selftest-cpu", cpu, node, 0.30, 0.0):
        with history.growing_gauge(prom.textfile_dir(), "opscheck-selftest-memory", memory, node, 0.50, 0.01) as gauge:
            # the repair: the growth stops (the series stay)
            each_fails_then_recovers(checks, broken(lambda: None, gauge.level_off), failures, fast)
