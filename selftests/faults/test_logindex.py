"""Fault injection on the log store (testenv/search.py: a real OpenSearch node): an index
older than the retention, by its name and by its creation date. The test deletes what it
planted; the check never deletes anything."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest

from opscheck.profile import LogIndices
from opscheck.rules.log_indices import index_ages, name_date
from selftests.harness import broken
from testenv import search


@pytest.mark.usefixtures("testenv_up")
def test_log_index_retention_fails_on_an_old_daily_index(checks):
    name = f"logstash-{search._day(40):%Y.%m.%d}"
    with checks.fails_then_recovers(
        "weekly.log-index-retention",
        broken(lambda: search.plant_dated_index(40), lambda: search.delete_index(name)),
        message=lambda m: name in m,
    ) as r:
        # 40 days back by its name: its newest logs are 39 days old (the end of that UTC day).
        assert re.search(rf"log indices older than 30 days: .*{re.escape(name)} \(39 days old by its name, ", r.message)
        assert "hankook-smartsensor-" not in r.message  # the current indices are not named


@pytest.mark.usefixtures("testenv_up")
def test_log_index_retention_fails_on_an_index_restored_with_its_old_creation_date(checks):
    # A restore keeps the creation date of the snapshot's index, written 45 days in the past.
    with checks.fails_then_recovers(
        "weekly.log-index-retention",
        broken(search.restore_archive, lambda: search.delete_index(search.ARCHIVE_INDEX)),
        message=lambda m: search.ARCHIVE_INDEX in m,
    ) as r:
        m = re.search(rf"{re.escape(search.ARCHIVE_INDEX)} \((\d+) days old by its creation date, ", r.message)
        assert m and int(m[1]) >= search.PAST_DAYS, r.message


# ---------------------------------------------------------------- the age rules, no server


def test_name_date_formats():
    assert name_date("logstash-2024.01.31", "%Y.%m.%d") == date(2024, 1, 31)
    assert name_date(".ds-logs-app-2024.02.29-000003", "%Y.%m.%d") == date(2024, 2, 29)
    assert name_date("fluentd-20240131", "%Y%m%d") == date(2024, 1, 31)
    assert name_date("logs-000042", "%Y.%m.%d") is None
    assert name_date("logstash-2024.13.01", "%Y.%m.%d") is None
    assert name_date("logstash-2024.01.31", None) is None
    with pytest.raises(ValueError):
        name_date("x", "%Y-%m")


def test_age_from_name_else_creation_date():
    cfg = LogIndices(url="http://es:9200", patterns=["logstash-*"])
    now = datetime(2024, 3, 1, 6, 0, tzinfo=UTC)
    created_now = str(int(now.timestamp() * 1000))
    rows = [
        # re-created today, but its logs are from January: the name wins
        {"index": "logstash-2024.01.29", "creation.date": created_now, "docs.count": "5", "store.size": "2048"},
        # the index the runbook deletes today: 30 days ago (end of that day) is within 30 days
        {"index": "logstash-2024.01.30", "creation.date": created_now},
        {"index": "logstash-000007", "creation.date": str(int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000))},
        {"index": "other-2020.01.01", "creation.date": created_now},
        {"index": "logstash-closed", "status": "close", "creation.date": None},
    ]
    ages = {a.name: a for a in index_ages(rows, cfg, now)}
    assert set(ages) == {"logstash-2024.01.29", "logstash-2024.01.30", "logstash-000007", "logstash-closed"}
    assert ages["logstash-2024.01.29"].basis == "name" and round(ages["logstash-2024.01.29"].age_days, 2) == 31.25
    assert ages["logstash-2024.01.30"].age_days < 30.5
    assert ages["logstash-000007"].basis == "creation date" and round(ages["logstash-000007"].age_days, 2) == 60.25
    assert ages["logstash-closed"].age_days is None


def test_profile_refuses_credentials_in_the_url():
    with pytest.raises(ValueError):
        LogIndices(url="http://elastic:secret@es:9200")
