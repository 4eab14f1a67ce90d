"""The pure parts of the Prometheus/Alertmanager library: templates, durations, routing,
trends, objectives and the profile's SLO tiers (no test environment needed)."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from opscheck.profile import PrometheusConfig, SloTier
from opscheck.rules.alerts import receivers_for, silent_receivers
from opscheck.rules.capacity import pct
from opscheck.rules.slo import Measurement
from opscheck.sources.capacity import Trend
from opscheck.sources.prometheus import le_pattern, render, series_name
from opscheck.timeutil import parse_duration, parse_time


def test_render_replaces_only_the_named_placeholders():
    q = 'rate(x{job="$service",re=~"a$"}[$window]) and $windows'
    assert render(q, window="7d", service="api") == 'rate(x{job="api",re=~"a$"}[7d]) and $windows'


def test_le_pattern_matches_the_ways_an_exporter_prints_a_bucket_boundary():
    promql_string = le_pattern(1.0)
    regex = promql_string.replace("\\\\", "\\")  # what PromQL makes of the string literal
    for printed in ("1", "1.0", "1.000000e+00"):
        assert re.fullmatch(regex, printed)
    assert not re.fullmatch(regex, "10")
    assert not re.fullmatch(regex, "1x0")


def test_durations_and_times():
    assert parse_duration("1h30m", "promql").total_seconds() == 5400
    assert parse_duration("250ms", "promql").total_seconds() == 0.25
    assert parse_duration("7d", "promql").total_seconds() == 7 * 86400
    with pytest.raises(ValueError):
        parse_duration("7 days", "promql")
    assert parse_time("0001-01-01T00:00:00Z") is None
    assert parse_time("2026-11-22T06:35:17.123456789Z").microsecond == 123456


def test_series_names():
    assert series_name({"namespace": "qsign", "persistentvolumeclaim": "data-0", "job": "kubelet"}) == "qsign/data-0"
    assert series_name({"instance": "kwok-node-0", "job": "node"}) == "kwok-node-0"
    assert series_name({"node": "n1", "instance": "10.0.0.1:9100"}) == "n1"
    assert series_name({"instance": "h:9100", "mountpoint": "/data"}) == "h:9100:/data"


AM_CONFIG = {
    "route": {
        "receiver": "team",
        "routes": [
            {"matchers": ['alertname="Watchdog"'], "receiver": "null"},
            {"match": {"severity": "critical"}, "receiver": "pager", "continue": True},
            {"match_re": {"severity": "critical|warning"}, "receiver": "slack"},
            {
                "matchers": ['team=~"data|iot"', 'severity!="none"'],
                "receiver": "data",
                "routes": [{"matchers": ['{team="iot"}'], "receiver": "iot"}],
            },
        ],
    },
    "receivers": [
        {"name": "team", "email_configs": [{"to": "ops@example.com"}]},
        {"name": "null"},
        {"name": "pager", "pagerduty_configs": [{}]},
        {"name": "slack", "slack_configs": [{}]},
        {"name": "data", "webhook_configs": [{}]},
        {"name": "iot", "webhook_configs": []},
    ],
}


def test_alertmanager_routing_tree():
    assert receivers_for(AM_CONFIG, {"alertname": "Watchdog", "severity": "none"}) == ["null"]
    assert receivers_for(AM_CONFIG, {"alertname": "X", "severity": "critical"}) == ["pager", "slack"]
    assert receivers_for(AM_CONFIG, {"alertname": "X", "severity": "warning"}) == ["slack"]
    assert receivers_for(AM_CONFIG, {"alertname": "X", "severity": "info", "team": "iot"}) == ["iot"]
    assert receivers_for(AM_CONFIG, {"alertname": "X", "severity": "info"}) == ["team"]
    assert silent_receivers(AM_CONFIG) == {"null", "iot"}


def test_trend_days_until_a_level():
    growing = Trend("v", last=0.5, fitted=0.5, per_day=0.1, predicted=0.0)
    assert growing.days_until(0.8) == pytest.approx(3.0)
    assert Trend("v", 0.5, 0.5, -0.1, 0.0).days_until(0.8) is None
    assert Trend("v", 0.85, 0.79, 0.0, 0.0).days_until(0.8) == 0.0
    assert pct(0.734) == "73.4%" and pct(155.2) == "15520%"


def test_measurements_meet_or_miss_their_objective():
    availability = Measurement("api", "availability", 99.95, 99.9, "%", True, "q")
    assert availability.met and availability.offender()["detail"] == "99.95%, objective >= 99.9%"
    assert not Measurement("api", "availability", None, 99.9, "%", True, "q").met  # not scraped
    # no requests, or 0/0 of an idle window: no data never meets an objective
    assert not Measurement("api", "P95", None, 500, " ms", False, "q").met
    assert not Measurement("api", "P95", float("nan"), 500, " ms", False, "q").met
    assert not Measurement("api", "availability", float("inf"), 99.9, "%", True, "q").met
    assert Measurement("api", "P95", float("nan"), 500, " ms", False, "q").value_text == "no data (nan)"
    slow = Measurement("api", "P95", 1905.3, 500, " ms", False, "q")
    assert not slow.met and slow.offender() == {"object": "api P95", "detail": "1905 ms, objective < 500 ms"}


def test_slo_tiers_take_the_runbook_objectives():
    critical = SloTier(name="critical", services=["api"])
    assert (critical.availability_percent, critical.p95_ms, critical.p99_ms, critical.error_rate_percent) == (
        99.9,
        200,
        500,
        0.1,
    )
    assert SloTier.model_validate({"name": "important", "p99_ms": None}).p99_ms is None
    assert SloTier(name="supporting").p95_ms is None
    cfg = PrometheusConfig(url="http://p:9090")
    assert [t.name for t in cfg.slo_tiers] == ["critical", "important", "supporting"]
    with pytest.raises(ValidationError, match="'api' is in both critical and important"):
        PrometheusConfig(
            url="http://p:9090",
            slo_tiers=[{"name": "critical", "services": ["api"]}, {"name": "important", "services": ["api"]}],
        )
    with pytest.raises(ValidationError):
        PrometheusConfig(url="http://p:9090", windows={"weekly": "7 days"})
