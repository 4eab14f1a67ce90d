"""No green without evidence: the rules that turn "nothing to judge" into a failure, and the
profile rule that look-back windows cover their checklist's interval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import yaml

from opscheck.check import CheckFailure, Evidence
from opscheck.errors import ProfileError
from opscheck.profile import load_profile
from opscheck.rules.health import empty_answer, probe_problem
from opscheck.rules.log_patterns import apps_without_logs, error_lines_per_app
from opscheck.rules.monitoring import averages_over
from opscheck.rules.objects import present_namespaces
from opscheck.sources.http import Probe
from opscheck.sources.pod_logs import LogLine
from selftests.pluginsuite import KUBECONFIG


def test_examined_fails_on_nothing_and_names_where_it_looked():
    ev = Evidence()
    with pytest.raises(CheckFailure, match=r"^nothing to judge: 0 pods in qsign$"):
        ev.examined([], "0 pods in qsign")
    assert Evidence().examined([1], "1 pod") == [1]


def test_require_fails_on_none_and_empty_but_not_on_zero():
    with pytest.raises(CheckFailure, match="CronJob qsign/backup not found"):
        Evidence().require(None, "CronJob qsign/backup not found")
    with pytest.raises(CheckFailure, match="no rows"):
        Evidence().require([], "no rows")
    assert Evidence().require(0, "zero is a value") == 0


def test_apps_without_pods_or_lines_have_nothing_to_judge():
    line = LogLine("qsign/api-1", "api", datetime.now(UTC), "ok")
    rows = apps_without_logs(
        {"api": [{"pod": 1}], "worker": [], "quiet": [{"pod": 2}]},
        {"api": [line], "worker": [], "quiet": []},
        "app",
        ["qsign"],
    )
    assert rows == [
        {"object": "worker", "detail": "no pod labelled app=worker in qsign"},
        {"object": "quiet", "detail": "1 pods wrote no log line in the window"},
    ]


def test_error_lines_are_judged_per_hour_over_the_whole_day():
    start = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)
    spread = [LogLine("qsign/a", "a", start + timedelta(hours=h), "ERROR x") for h in range(20)]
    burst = [LogLine("qsign/a", "a", start + timedelta(minutes=m), "ERROR y") for m in range(12)]
    hourly = timedelta(hours=1)
    assert error_lines_per_app({"a": (1, spread)}, "ERROR", 10, hourly)[1] == []  # 20 a day, 1 an hour
    offenders = error_lines_per_app({"a": (1, burst)}, "ERROR", 10, hourly)[1]
    assert offenders == [{"object": "a", "detail": "12 ERROR lines in the hour from 2026-12-05 03:00 UTC"}]
    assert error_lines_per_app({"a": (1, spread)}, "ERROR", 10)[1] == [{"object": "a", "detail": "20 ERROR lines"}]


def test_present_namespaces():
    present = [{"metadata": {"name": "qsign"}}, {"metadata": {"name": "other"}}]
    assert present_namespaces(present, ["qsign-gateway", "qsign"]) == ["qsign"]


@pytest.mark.parametrize(
    ("body", "text", "problem"),
    [
        ({"status": "UP"}, '{"status": "UP"}', None),
        (None, "Prometheus Server is Healthy.\n", None),
        ({}, "{}", "HTTP 200 without a status: {}"),
        (None, "", "answered with nothing (empty body)"),
        ([], "[]", "answered with nothing ([])"),
        ({"status": "DOWN"}, "", "status DOWN"),
    ],
)
def test_a_health_answer_must_say_it_is_healthy(body, text, problem):
    assert probe_problem(Probe("http://x/health", 200, body, 3.0, "", text)) == problem


def test_empty_answer():
    assert empty_answer({}, "{}") == "answered with nothing ({})"
    assert empty_answer({"id": 1}, '{"id": 1}') is None


def _profile(tmp_path, change):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    data = {"name": "p", "clusters": [{"name": "x", "kubeconfig": str(kubeconfig), "context": "ctx"}]}
    change(data)
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_window_shorter_than_its_checklist_interval_is_refused(tmp_path):
    short = _profile(tmp_path, lambda d: d.update(logs={"error_window_minutes": 60}))
    with pytest.raises(
        ProfileError,
        match=r"p.yaml: logs.error_window_minutes: 1.0 h is shorter than the daily checklist's interval \(24.0 h",
    ):
        load_profile(short)
    hourly = _profile(
        tmp_path, lambda d: d.update(logs={"error_window_minutes": 60}, schedule={"every": {"daily": "1h"}})
    )
    assert load_profile(hourly).logs.error_window_minutes == 60  # the daily checklist runs every hour here


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_nan_or_infinity_is_no_data_never_within_a_threshold(value):
    with pytest.raises(CheckFailure, match=r"^average API response time: no data \(the measurement is (nan|inf)"):
        Evidence().expect_at_most(value, 200, what="average API response time", unit=" ms")
    with pytest.raises(CheckFailure, match="no data"):
        Evidence().expect_at_least(value, 99.9, what="availability", unit="%")
    assert averages_over([("API", "q", value, 200.0)])[1] == [f"API: no data ({value}: no samples in the window)"]


def test_a_service_without_requests_is_idle_never_within_the_slow_share():
    from opscheck.rules.monitoring import slow_shares

    rows, offenders, idle, worst = slow_shares([("a", 0.0, 0.0), ("b", 100.0, 5.0), ("c", float("nan"), 1.0)], 1)
    assert idle == [{"object": "a", "detail": "no requests"}, {"object": "c", "detail": "no requests"}]
    assert offenders == [{"object": "b", "detail": "5 of 100 requests, 5.0%"}] and worst == 5.0
