"""Fault injection on the checklist process: runs missing from the ledger.

A missed run cannot be produced for real without waiting days, so the fault is injected
at the narrowest layer: the ledger itself. Earlier runs are recorded into a real reports
directory by the real sealing code (opscheck.record.ledger.commit_run) with the start times they
would have had; the check then runs for real against it, as an operator's cron does.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from opscheck.record.ledger import commit_run
from opscheck.timeutil import utc_now
from selftests.harness import DEMO_PROFILE

pytestmark = pytest.mark.usefixtures("testenv_up")


def record_run(reports: Path, profile: str, cadences: list[str], started: datetime) -> None:
    """A sealed run of `profile` and `cadences` that started at `started`."""
    name = f"{started:%Y%m%dT%H%M%SZ}-{'-'.join(cadences)}-{profile}"
    partial = reports / f".partial-{name}"
    partial.mkdir(parents=True)
    run = {"profile": {"name": profile}, "cadences": cadences, "started": started.isoformat().replace("+00:00", "Z")}
    (partial / "results.json").write_text(json.dumps({"schema_version": 1, "run": run, "checks": []}))
    commit_run(reports, partial, name)


@pytest.fixture
def ledger_profile(tmp_path: Path) -> tuple[Path, Path]:
    """The demo profile, reading its schedule from a ledger of our own."""
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    profile = tmp_path / "demo-ledger.yaml"
    profile.write_text(DEMO_PROFILE.read_text() + f"\nschedule:\n  ledger: {ledger}\n")
    return profile, ledger


def test_on_schedule_fails_when_the_weekly_checklist_was_missed(checks, ledger_profile):
    profile, ledger = ledger_profile
    now = utc_now()
    for days in range(20, 0, -1):
        record_run(ledger, "demo", ["daily"], now - timedelta(days=days))
    record_run(ledger, "demo", ["weekly"], now - timedelta(days=12))
    record_run(ledger, "demo", ["monthly"], now - timedelta(days=19))
    record_run(ledger, "other-profile", ["weekly"], now - timedelta(hours=2))  # not ours
    r = checks.until("daily.checklists-on-schedule", "failed", profile=profile, args=("-m", "daily"))
    assert r.message.startswith("1 checklist(s) missed their schedule: weekly checklist (last run "), r.message
    assert "12.0 days before this run, limit 8.0 days" in r.message
    rows = {row[0]: row for row in r.evidence["rows"]}
    assert set(rows) == {"daily checklist", "weekly checklist", "monthly checklist", "quarterly checklist"}
    # Quarterly never ran: measured from the ledger's first run, 20 days ago, within 100 days.
    assert rows["quarterly checklist"][2] == "never"
    # Repaired: the weekly checklist runs.
    record_run(ledger, "demo", ["weekly"], now - timedelta(minutes=5))
    checks.until("daily.checklists-on-schedule", "passed", profile=profile, args=("-m", "daily"))


def test_on_schedule_fails_when_yesterdays_daily_run_is_missing(checks, ledger_profile):
    profile, ledger = ledger_profile
    now = utc_now()
    record_run(ledger, "demo", ["weekly"], now - timedelta(days=3))
    record_run(ledger, "demo", ["daily"], now - timedelta(days=3))
    r = checks.until("daily.checklists-on-schedule", "failed", profile=profile, args=("-m", "daily"))
    assert r.message.startswith("1 checklist(s) missed their schedule: daily checklist (previous run "), r.message
    assert "3.0 days before this run, limit 26.0 h" in r.message
    record_run(ledger, "demo", ["daily"], now - timedelta(hours=20))
    checks.until("daily.checklists-on-schedule", "passed", profile=profile, args=("-m", "daily"))
