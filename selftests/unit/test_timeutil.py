"""Unit tests of opscheck/timeutil.py: the one time parser and the one duration parser, in
each form a call site accepts (the profile's schedule, PromQL and the Prometheus API, Go
durations from Velero and External Secrets, RFC 3339 times from Kubernetes, Prometheus,
Vault, cert-manager and trivy)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from opscheck.timeutil import parse_duration, parse_time

UTC = UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-22T06:35:17Z", datetime(2026, 11, 22, 6, 35, 17, tzinfo=UTC)),  # Kubernetes
        ("2026-11-22T06:35:17.123456789Z", datetime(2026, 11, 22, 6, 35, 17, 123456, tzinfo=UTC)),  # Prometheus, Vault
        ("2026-11-22T06:35:17.5+00:00", datetime(2026, 11, 22, 6, 35, 17, 500000, tzinfo=UTC)),
        ("2026-11-22T15:35:17+09:00", datetime(2026, 11, 22, 6, 35, 17, tzinfo=UTC)),
        ("2026-11-22T06:35:17", datetime(2026, 11, 22, 6, 35, 17, tzinfo=UTC)),  # no offset: UTC
        ("2026-11-22 06:35:17.1234567+00:00", datetime(2026, 11, 22, 6, 35, 17, 123456, tzinfo=UTC)),  # trivy CreatedAt
    ],
)
def test_times_as_the_apis_write_them(text, expected):
    parsed = parse_time(text)
    assert parsed == expected and parsed.tzinfo is not None


@pytest.mark.parametrize("text", [None, "", "yesterday", "2026-13-01T00:00:00Z", "0001-01-01T00:00:00Z"])
def test_missing_malformed_and_go_zero_times_are_none(text):
    assert parse_time(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90m", timedelta(minutes=90)),
        ("26h", timedelta(hours=26)),
        ("8d", timedelta(days=8)),
        ("2w", timedelta(weeks=2)),
        ("1.5h", timedelta(minutes=90)),
        (" 35d ", timedelta(days=35)),
        ("30 d", timedelta(days=30)),
        (".5d", timedelta(hours=12)),
    ],
)
def test_profile_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["26", "h", "-1d", "1y", "zero", "0h", "1h30m", "30s", ""])
def test_profile_durations_are_one_positive_number_and_unit(text):
    with pytest.raises(ValueError, match=r"is not a duration like 90m, 26h, 8d or 2w$"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1h30m", 5400),
        ("250ms", 0.25),
        ("7d", 7 * 86400),
        ("15s", 15),
        ("1y", 31536000),
        ("2w", 1209600),
        ("0s", 0),
    ],
)
def test_promql_durations(text, seconds):
    assert parse_duration(text, "promql").total_seconds() == seconds


@pytest.mark.parametrize("text", ["7 days", "1.5h", "0", "h", "", "1h 30m", "5x"])
def test_promql_durations_are_integers_with_units(text):
    with pytest.raises(ValueError, match=r"is not a duration like 1h30m, 7d or 250ms \(PromQL\)$"):
        parse_duration(text, "promql")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("720h0m0s", timedelta(hours=720)),
        ("168h", timedelta(hours=168)),
        ("1h30m", timedelta(minutes=90)),
        ("0", timedelta(0)),
        ("90m", timedelta(minutes=90)),
        ("1.5h", timedelta(minutes=90)),
        ("10s", timedelta(seconds=10)),
    ],
)
def test_go_durations(text, expected):
    assert parse_duration(text, "go") == expected


@pytest.mark.parametrize("text", ["7d", "h", "", "1h 30m", "1w"])
def test_go_durations_reject_what_go_would(text):
    with pytest.raises(ValueError, match=r"\(Go\)$"):
        parse_duration(text, "go")
