"""Results as Prometheus metrics, read back from the real node-exporter and Pushgateway
of the test environment (the pytester suite gives one check per outcome)."""

from __future__ import annotations

import json

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from opscheck.record.agreement import metric_problems
from selftests.pluginsuite import only_run_folder, run_checked
from testenv import prometheus, pushgateway

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.usefixtures("testenv_up")
# Resolved now: pytester points HOME at its temporary directory while a test runs.
TEXTFILE_DIR = prometheus.textfile_dir()


def samples(text: str, name: str) -> list:
    return [s for family in text_string_to_metric_families(text) for s in family.samples if s.name == name]


def exporting_profile(suite, pushgateway_url: str) -> str:
    profile = suite.path / "export.yaml"
    profile.write_text(
        (suite.path / "profile.yaml").read_text().rstrip()
        + (
            "\nexport:\n"
            f"  textfile_dir: {TEXTFILE_DIR}\n"
            f"  pushgateway: {{url: '{pushgateway_url}', timeout_seconds: 3}}\n"
        )
    )
    return str(profile)


@pytest.fixture
def exported(suite):
    """Runs the daily checklist of the unit suite with export on; removes its metrics after."""
    result = run_checked(
        suite, f"--env={exporting_profile(suite, pushgateway.url())}", "--report-dir=reports", "-m", "daily"
    )
    yield result, json.loads((only_run_folder(suite) / "results.json").read_text())
    (TEXTFILE_DIR / "opscheck-unit-daily.prom").unlink(missing_ok=True)
    requests.delete(pushgateway.url() + "/metrics/job/opscheck/profile/unit/cadences/daily", timeout=5)


def test_each_check_outcome_is_a_status_gauge_in_the_textfile_and_the_pushgateway(exported):
    result, data = exported
    assert result.ret == 1  # the suite has a failing check; export does not change the verdict
    result.stdout.fnmatch_lines(
        ["opscheck: metrics written to */opscheck-unit-daily.prom", f"opscheck: metrics pushed to {pushgateway.url()}"]
    )
    expected = {c["id"]: c["outcome"] for c in data["checks"]}
    assert set(expected.values()) == {"passed", "failed", "not applicable", "error"}
    node_exporter = requests.get(prometheus.node_exporter_url() + "/metrics", timeout=5).text
    for source in (node_exporter, pushgateway.metrics_text()):
        assert metric_problems(source, data) == []  # the agreement checker reads them the same way
        status = [s for s in samples(source, "opscheck_check_status") if s.labels["profile"] == "unit"]
        firing = {s.labels["check"]: s.labels["outcome"] for s in status if s.value == 1}
        assert firing == expected
        assert {s.labels["cluster"] for s in status} == {"none"}
        assert {s.labels["severity"] for s in status if s.labels["check"] == "daily.fails"} == {"critical"}
        (last,) = [s for s in samples(source, "opscheck_run_last_timestamp_seconds") if s.labels["profile"] == "unit"]
        assert abs(last.value - data_finished(data)) < 2
        durations = {
            s.labels["check"]
            for s in samples(source, "opscheck_check_duration_seconds")
            if s.labels["profile"] == "unit"
        }
        assert durations == set(expected)
        by_outcome = {
            s.labels["outcome"]: s.value
            for s in samples(source, "opscheck_run_checks")
            if s.labels["profile"] == "unit"
        }
        assert by_outcome["failed"] == 1 and by_outcome["passed"] == 1


def data_finished(data: dict) -> float:
    from opscheck.timeutil import parse_time

    return parse_time(data["run"]["finished"]).timestamp()


def test_an_unreachable_pushgateway_is_one_line_and_does_not_change_the_verdict(suite):
    result = run_checked(
        suite,
        f"--env={exporting_profile(suite, 'http://127.0.0.1:9')}",
        "--report-dir=reports",
        "-m",
        "daily",
        "-k",
        "passes",
    )
    try:
        assert result.ret == 0
        result.stdout.fnmatch_lines(["opscheck: metrics NOT pushed to http://127.0.0.1:9: *Connection refused*"])
        result.stdout.no_fnmatch_line("*Traceback*")
        assert (only_run_folder(suite) / "results.json").exists()
    finally:
        (TEXTFILE_DIR / "opscheck-unit-daily.prom").unlink(missing_ok=True)
