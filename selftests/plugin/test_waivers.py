"""Waivers: accepted failures with justification, approver, ticket and expiry (pytester)."""

from __future__ import annotations

import json
import textwrap
from datetime import date, timedelta
from pathlib import Path

import pytest

from selftests.harness import validate_results
from selftests.pluginsuite import only_run_folder, run_checked

pytest_plugins = ["pytester"]
# Within the profile's waivers_max_days (90 by default).
SOON = (date.today() + timedelta(days=60)).isoformat()


def waivers_suite(suite, body: str) -> Path:
    (suite.path / "waivers.yaml").write_text(
        textwrap.dedent(body).replace("2999-01-31", SOON).replace("2999-01-01", SOON)
    )
    profile = suite.path / "waived.yaml"
    profile.write_text((suite.path / "profile.yaml").read_text().rstrip() + "\nwaivers: waivers.yaml\n")
    return profile


def test_a_waiver_turns_a_failure_into_waived_and_the_run_passes(suite):
    profile = waivers_suite(
        suite,
        """\
        waivers:
          - check: daily.fails
            objects: [qsign/data-x, qsign/data-y]
            justification: storage migration in progress, PVCs recreated after the cutover
            approver: jane.doe (tech_lead)
            ticket: OPS-1234
            expires: 2999-01-31
        """,
    )
    result = run_checked(suite, f"--env={profile}", "--report-dir=reports", "-m", "daily", "-k", "fails or passes")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [f"opscheck: waived: daily.fails (OPS-1234, approved by jane.doe (tech_lead), until {SOON})"]
    )
    data = json.loads((only_run_folder(suite) / "results.json").read_text())
    validate_results(data)
    fails = next(c for c in data["checks"] if c["id"] == "daily.fails")
    assert fails["outcome"] == "waived"  # never "passed"
    assert fails["message"].startswith("2 PVCs not Bound")
    assert fails["waiver"]["ticket"] == "OPS-1234" and fails["waiver"]["state"] == "in force"
    assert data["summary"]["outcomes"]["waived"] == 1 and data["summary"]["outcomes"]["passed"] == 1
    page = (only_run_folder(suite) / "report.html").read_text()
    assert "storage migration in progress" in page


def test_a_waiver_for_some_objects_does_not_hide_a_new_one(suite):
    profile = waivers_suite(
        suite,
        """\
        waivers:
          - {check: daily.fails, objects: [qsign/data-x], justification: known, approver: a, ticket: T-1, expires: 2999-01-01}
        """,
    )
    result = run_checked(suite, f"--env={profile}", "--no-report", "-m", "daily", "-k", "fails")
    assert result.ret == 1  # qsign/data-y is not covered


def test_an_expired_waiver_no_longer_applies_and_is_flagged(suite):
    profile = waivers_suite(
        suite,
        """\
        waivers:
          - {check: daily.fails, justification: old, approver: a, ticket: T-2, expires: 2020-01-01}
        """,
    )
    result = run_checked(suite, f"--env={profile}", "--report-dir=reports", "-m", "daily", "-k", "fails")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["opscheck: waiver for daily.fails (T-2) EXPIRED, no longer applies: 2020-01-01"])
    data = json.loads((only_run_folder(suite) / "results.json").read_text())
    assert next(c for c in data["checks"] if c["id"] == "daily.fails")["outcome"] == "failed"
    assert data["waivers"][0]["state"] == "expired"


def test_a_waiver_expiring_within_14_days_is_flagged(suite):
    from datetime import date, timedelta

    soon = (date.today() + timedelta(days=5)).isoformat()
    profile = waivers_suite(
        suite,
        f"""\
        waivers:
          - {{check: daily.fails, justification: short, approver: a, ticket: T-3, expires: {soon}}}
        """,
    )
    result = run_checked(suite, f"--env={profile}", "--no-report", "-m", "daily", "-k", "fails")
    assert result.ret == 0
    result.stdout.fnmatch_lines([f"opscheck: waiver for daily.fails (T-3) expires soon: {soon}"])


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "waivers:\n  - {check: daily.fails, approver: a, ticket: T, expires: 2999-01-01}\n",
            "waivers[0].justification: required key is missing",
        ),
        (
            "waivers:\n  - {check: daily.fails, justification: j, approver: a, ticket: T}\n",
            "waivers[0].expires: required key is missing",
        ),
        (
            "waivers:\n  - {check: daily.fails, justification: '  ', approver: a, ticket: T, expires: 2999-01-01}\n",
            "waivers[0].justification: String should have at least 1 character",
        ),
        (
            "waivers:\n  - {check: daily.nope, justification: j, approver: a, ticket: T, expires: 2999-01-01}\n",
            "waiver for unknown check id 'daily.nope'",
        ),
        ("waivers: [{check: daily.fails\n", "malformed YAML"),
    ],
)
def test_a_bad_waivers_file_stops_the_run(suite, body, expected):
    profile = waivers_suite(suite, body)
    result = run_checked(suite, f"--env={profile}", "--report-dir=reports", "-m", "daily")
    assert result.ret == 4
    errors = [ln for ln in result.stderr.lines if ln.strip()]
    assert len(errors) == 1 and expected in errors[0] and "waivers.yaml" in errors[0], errors
    assert not (suite.path / "reports").exists() or not [
        p for p in (suite.path / "reports").iterdir() if p.is_dir() and not p.name.startswith(".")
    ]
