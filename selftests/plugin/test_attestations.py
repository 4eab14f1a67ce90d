"""Attestations: when a manual item counts as signed off (unit), and the run around it (pytester)."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from opscheck.profile import Attestations, AttestedItem, Profile
from opscheck.record.attestations import Attestation, Rule, Signed, judge
from selftests.harness import validate_results
from selftests.pluginsuite import only_run_folder, run_checked

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
APPROVALS = "001.predeploy.approvals"
DOCS = "001.monthly.docs-update"
NOTICE = "001.predeploy.maintenance-notice"


def profile_with(items: dict[str, AttestedItem], change: str | None = None) -> Profile:
    return Profile(
        name="unit", clusters=[{"name": "one"}], attestations=Attestations(dir="att", change=change, items=items)
    )


def signed(item: str, role: str, ago: timedelta, who: str = "kim", **kw) -> Signed:
    if "expires" not in kw:
        kw.setdefault("valid_days", 30)
    a = Attestation(
        item=item, who=who, role=role, when=NOW - ago, evidence="https://tickets.example.com/browse/CHG-1", **kw
    )
    return Signed(a, Path(f"{item}.{role}.yaml"))


def verdict(
    key: str, item: AttestedItem, attestations: list[Signed], change: str | None = None, directory: Path = REPO
):
    profile = profile_with({key: item}, change)
    return judge(Rule.of(key, item, profile), attestations, NOW, directory)


DOCS_RULE = AttestedItem(roles=["ops_engineer", "tech_lead"])
APPROVALS_RULE = AttestedItem(roles=["tech_lead", "security_officer"], require_all_roles=True)


# -- when an attestation counts (unit) --------------------------------------------------------
def test_a_valid_attestation_signs_the_item_off():
    v = verdict(DOCS, DOCS_RULE, [signed(DOCS, "tech_lead", timedelta(days=3))])
    assert v.ok
    assert v.message == "tech_lead by kim at 2026-11-17 12:00 UTC (https://tickets.example.com/browse/CHG-1)"
    assert v.rows[0]["counts"] == "yes"


def test_an_expired_attestation_does_not_count():
    v = verdict(DOCS, DOCS_RULE, [signed(DOCS, "tech_lead", timedelta(days=3), valid_days=1)])
    assert not v.ok
    assert v.message == (
        "001.monthly.docs-update: no valid attestation by role 'ops_engineer' or 'tech_lead' "
        "(have: tech_lead by kim at 2026-11-17 12:00 UTC: expired 2026-11-18 12:00 UTC)"
    )
    # `expires` is a date: valid through that whole day (UTC).
    assert verdict(DOCS, DOCS_RULE, [signed(DOCS, "tech_lead", timedelta(days=3), expires=date(2026, 11, 20))]).ok
    assert not verdict(DOCS, DOCS_RULE, [signed(DOCS, "tech_lead", timedelta(days=3), expires=date(2026, 11, 19))]).ok


def test_a_role_the_profile_does_not_allow_does_not_count():
    v = verdict(DOCS, DOCS_RULE, [signed(DOCS, "developer", timedelta(days=1))])
    assert (
        not v.ok and "developer by kim at 2026-11-19 12:00 UTC: role 'developer' may not attest this item" in v.message
    )


def test_approvals_need_every_required_role():
    v = verdict(APPROVALS, APPROVALS_RULE, [signed(APPROVALS, "tech_lead", timedelta(hours=2))])
    assert not v.ok
    assert v.message == (
        "001.predeploy.approvals: no valid attestation by role 'security_officer' "
        "(have: tech_lead by kim at 2026-11-20 10:00 UTC)"
    )
    both = verdict(
        APPROVALS,
        APPROVALS_RULE,
        [
            signed(APPROVALS, "tech_lead", timedelta(hours=2)),
            signed(APPROVALS, "security_officer", timedelta(hours=1), who="park"),
        ],
    )
    assert both.ok and "tech_lead by kim" in both.message and "security_officer by park" in both.message
    none = verdict(APPROVALS, APPROVALS_RULE, [], directory=REPO)
    assert (
        none.message
        == f"001.predeploy.approvals: no valid attestation by roles 'tech_lead', 'security_officer' (none in {REPO})"
    )


def test_an_attestation_outside_the_cadence_window_does_not_count():
    v = verdict(DOCS, DOCS_RULE, [signed(DOCS, "tech_lead", timedelta(days=40), valid_days=90)])
    assert not v.ok and "outside the 31-day monthly window" in v.message
    # The profile may widen an item's window.
    assert verdict(
        DOCS,
        AttestedItem(roles=["tech_lead"], window_days=45),
        [signed(DOCS, "tech_lead", timedelta(days=40), valid_days=90)],
    ).ok
    # predeploy: the deploy window (24 hours by default).
    late = verdict(APPROVALS, AttestedItem(roles=["tech_lead"]), [signed(APPROVALS, "tech_lead", timedelta(hours=30))])
    assert not late.ok and "outside the 24-hour predeploy window" in late.message


def test_a_notice_must_be_sent_the_required_days_ahead():
    rule = AttestedItem(roles=["ops_engineer"], advance_days=7)
    v = verdict(NOTICE, rule, [signed(NOTICE, "ops_engineer", timedelta(days=2))])
    assert not v.ok and "only 2.0 days ahead, 7 required" in v.message
    assert verdict(NOTICE, rule, [signed(NOTICE, "ops_engineer", timedelta(days=7, hours=3))]).ok


def test_a_notice_sent_more_than_the_required_days_ahead_counts():
    """Runbook 001: the maintenance notice goes out "at least 7 days ahead": 10 days ahead
    is at least 7 (it used to fail as outside the 24-hour deploy window after 7 days)."""
    rule = AttestedItem(roles=["ops_engineer"], advance_days=7)
    for ago in (timedelta(days=7), timedelta(days=10), timedelta(days=21)):
        v = verdict(NOTICE, rule, [signed(NOTICE, "ops_engineer", ago, change="CHG-7")], change="CHG-7")
        assert v.ok, (ago, v.message)
    # Still bounded: by the attestation's expiry, by the change it names, and by window_days.
    expired = verdict(NOTICE, rule, [signed(NOTICE, "ops_engineer", timedelta(days=40), valid_days=30)])
    assert not expired.ok and "expired 2026-11-10 12:00 UTC" in expired.message
    other = verdict(NOTICE, rule, [signed(NOTICE, "ops_engineer", timedelta(days=10), change="CHG-6")], change="CHG-7")
    assert not other.ok and "for change CHG-6, not CHG-7" in other.message
    capped = AttestedItem(roles=["ops_engineer"], advance_days=7, window_days=14)
    old = verdict(NOTICE, capped, [signed(NOTICE, "ops_engineer", timedelta(days=15))])
    assert not old.ok and "outside the 14-day window" in old.message
    assert verdict(NOTICE, capped, [signed(NOTICE, "ops_engineer", timedelta(days=10))]).ok


def test_deploy_attestations_must_name_the_change_being_deployed():
    rule = AttestedItem(roles=["tech_lead"])
    ok = verdict(APPROVALS, rule, [signed(APPROVALS, "tech_lead", timedelta(hours=1), change="CHG-7")], change="CHG-7")
    assert ok.ok
    other = verdict(
        APPROVALS, rule, [signed(APPROVALS, "tech_lead", timedelta(hours=1), change="CHG-6")], change="CHG-7"
    )
    assert "for change CHG-6, not CHG-7" in other.message
    unnamed = verdict(APPROVALS, rule, [signed(APPROVALS, "tech_lead", timedelta(hours=1))], change="CHG-7")
    assert "names no change (this is CHG-7)" in unnamed.message
    # Monthly items are not tied to a change.
    assert verdict(DOCS, DOCS_RULE, [signed(DOCS, "tech_lead", timedelta(days=1))], change="CHG-7").ok


def test_a_future_attestation_does_not_count_and_the_message_lists_the_newest_three():
    v = verdict(DOCS, DOCS_RULE, [signed(DOCS, "tech_lead", -timedelta(hours=2))])
    assert "dated in the future" in v.message
    many = [signed(DOCS, "developer", timedelta(days=d)) for d in range(1, 6)]
    msg = verdict(DOCS, DOCS_RULE, many).message
    assert msg.count("developer by kim") == 3 and msg.endswith("and 2 older)")
    assert "2026-11-19" in msg and "2026-11-15" not in msg  # newest first


def test_the_profile_change_is_expanded_from_the_environment(monkeypatch):
    monkeypatch.setenv("CHANGE_ID", "CHG-42")
    assert Attestations(dir="d", change="${CHANGE_ID:-}").current_change == "CHG-42"
    monkeypatch.delenv("CHANGE_ID")
    assert Attestations(dir="d", change="${CHANGE_ID:-}").current_change is None


# -- a run with attestations (pytester) ------------------------------------------------------
CONFTEST = f"""
import sys
sys.path.insert(0, {str(REPO)!r})
pytest_plugins = ["fixtures.attestations"]
"""

CHECKS = """
from opscheck.check import check

@check(id="predeploy.approvals", title="approved", severity="critical", covers=["001.predeploy.approvals"],
       remediation="get the approvals")
def test_approvals(attestations, evidence):
    attestations.require("001.predeploy.approvals", evidence)

@check(id="predeploy.change-documented", title="documented", severity="high",
       covers=["001.predeploy.change-documented"], remediation="document it")
def test_documented(attestations, evidence):
    attestations.require("001.predeploy.change-documented", evidence)
"""

APPROVAL = """\
attestations:
  - item: 001.predeploy.approvals
    who: {who}
    role: {role}
    when: {when}
    evidence: https://tickets.example.com/browse/CHG-9
    change: CHG-9
    valid_days: 7
"""


def attest_suite(suite: pytest.Pytester, section: str | None = "default", **files: str) -> Path:
    """The plugin suite plus predeploy attestation checks; returns the profile to run."""
    (suite.path / "conftest.py").write_text(CONFTEST)
    (suite.mkdir("tests_predeploy") / "test_signoffs.py").write_text(CHECKS)
    att = suite.mkdir("att")
    for name, body in files.items():
        (att / f"{name}.yaml").write_text(textwrap.dedent(body))
    if section == "default":
        section = """\
            attestations:
              dir: att
              change: CHG-9
              items:
                001.predeploy.approvals: {roles: [tech_lead, security_officer], require_all_roles: true}
            """
    profile = suite.path / "attested.yaml"
    profile.write_text((suite.path / "profile.yaml").read_text().rstrip() + "\n" + textwrap.dedent(section or ""))
    return profile


def tech_lead_attests(item: str, folder: str = "att") -> str:
    """A profile's attestations section: `item` attested by a tech lead, the files in `folder`."""
    return f"attestations:\n  dir: {folder}\n  items: {{{item}: {{roles: [tech_lead]}}}}\n"


def now_iso(hours_ago: float = 1) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def predeploy(suite: pytest.Pytester, profile: Path, *args: str) -> pytest.RunResult:
    return run_checked(suite, f"--env={profile}", "--report-dir=reports", "-m", "predeploy", *args)


def checks_of(suite: pytest.Pytester) -> dict[str, dict]:
    data = json.loads((only_run_folder(suite) / "results.json").read_text())
    validate_results(data)
    return {c["id"]: c for c in data["checks"]} | {"_summary": data["summary"]}


def test_a_signed_off_item_is_attested_never_passed(suite):
    profile = attest_suite(
        suite,
        tl=APPROVAL.format(who="kim", role="tech_lead", when=now_iso(2)),
        so=APPROVAL.format(who="park", role="security_officer", when=now_iso(1)),
    )
    result = predeploy(suite, profile, "-k", "approvals")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        ["opscheck: attested: predeploy.approvals: tech_lead by kim at *; security_officer by park at *"]
    )
    checks = checks_of(suite)
    approvals = checks["predeploy.approvals"]
    assert approvals["outcome"] == "attested"
    assert approvals["message"].startswith("tech_lead by kim at ")
    assert approvals["evidence"]["attested"] == approvals["message"]
    assert [row[0] for row in approvals["evidence"]["rows"]] == ["security_officer", "tech_lead"]
    assert checks["_summary"]["outcomes"]["attested"] == 1 and checks["_summary"]["outcomes"]["passed"] == 0
    page = (only_run_folder(suite) / "report.html").read_text()
    assert "Attested" in page and "attested: tech_lead by kim" in page


def test_a_missing_approval_fails_the_gate_naming_the_role(suite):
    profile = attest_suite(suite, tl=APPROVAL.format(who="kim", role="tech_lead", when=now_iso(2)))
    result = predeploy(suite, profile, "-k", "approvals")
    assert result.ret == 1
    approvals = checks_of(suite)["predeploy.approvals"]
    assert approvals["outcome"] == "failed"
    assert approvals["message"].startswith(
        "001.predeploy.approvals: no valid attestation by role 'security_officer' (have: tech_lead by kim at "
    )


def test_an_item_the_profile_does_not_attest_is_not_applicable(suite):
    profile = attest_suite(suite, tl=APPROVAL.format(who="kim", role="tech_lead", when=now_iso(2)))
    assert predeploy(suite, profile, "-k", "documented").ret == 0
    documented = checks_of(suite)["predeploy.change-documented"]
    assert documented["outcome"] == "not applicable"
    assert "001.predeploy.change-documented is not attested in this environment" in documented["message"]


def test_without_an_attestations_directory_the_checks_are_not_applicable_unless_required(suite):
    profile = attest_suite(suite, section=None)
    assert predeploy(suite, profile).ret == 0
    checks = checks_of(suite)
    assert checks["predeploy.approvals"]["outcome"] == "not applicable"
    assert checks["predeploy.approvals"]["message"] == "not applicable: no attestations directory in this profile"
    required = suite.path / "required.yaml"
    required.write_text(profile.read_text() + "required: [attestations]\n")
    result = run_checked(suite, f"--env={required}", "--no-report", "-m", "predeploy", "-k", "approvals")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*attestations is required by the profile but absent: no attestations directory*"])


def test_a_missing_directory_fails_the_checks_naming_it(suite):
    profile = attest_suite(suite, section=tech_lead_attests("001.predeploy.approvals", folder="nowhere"))
    assert predeploy(suite, profile, "-k", "approvals").ret == 1
    msg = checks_of(suite)["predeploy.approvals"]["message"]
    assert (
        msg
        == f"001.predeploy.approvals: no valid attestation by role 'tech_lead' (attestations directory {suite.path / 'nowhere'} does not exist)"
    )


GOOD = {
    "item": "001.predeploy.approvals",
    "who": "kim",
    "role": "tech_lead",
    "when": "2026-11-20T09:12:00Z",
    "evidence": "https://tickets.example.com/browse/CHG-9",
    "valid_days": 7,
}


def body(**changes) -> str:
    record = {k: v for k, v in (GOOD | changes).items() if v is not None}
    return json.dumps({"attestations": [record]})  # JSON is YAML


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            body(item="001.predeploy.aprovals"),
            "attestations[0].item: '001.predeploy.aprovals' is not an attest item of the runbooks",
        ),
        (
            body(item="000.daily.pods-running"),
            "attestations[0].item: '000.daily.pods-running' is not an attest item of the runbooks",
        ),
        (body(who=None), "attestations[0].who: required key is missing"),
        (body(approved=True), "attestations[0].approved: unknown key"),
        (
            body(evidence="see the ticket"),
            "attestations[0].evidence: must be an http:// or https:// link to the record",
        ),
        (body(when="2026-11-20"), "attestations[0].when: give a time with a time zone, e.g. 2026-11-20T09:12:00+09:00"),
        (body(when="2026-11-20T09:12:00"), "attestations[0].when: give a time zone, e.g. 2026-11-20T09:12:00+09:00"),
        (body().replace('"2026-11-20T09:12:00Z"', "2026-11-20"), "attestations[0].when: give a time with a time zone"),
        (body(expires="2026-12-01"), "attestations[0]: give exactly one of 'valid_days' or 'expires'"),
        ("attestations: [{item: 001.predeploy.approvals\n", "line 2, column 1: malformed YAML"),
    ],
)
def test_a_bad_attestation_file_stops_the_run(suite, text, expected):
    profile = attest_suite(suite, tl=APPROVAL.format(who="kim", role="tech_lead", when=now_iso()), bad=text)
    result = predeploy(suite, profile)
    assert result.ret == 4
    errors = [ln for ln in result.stderr.lines if ln.strip()]
    assert len(errors) == 1 and f"{suite.path / 'att' / 'bad.yaml'}: {expected}" in errors[0], errors
    reports = suite.path / "reports"
    assert not reports.exists() or not [p for p in reports.iterdir() if not p.name.startswith(".")]


def test_a_profile_attesting_an_unknown_item_stops_the_run(suite):
    profile = attest_suite(suite, section=tech_lead_attests("001.predeploy.aproval"))
    result = predeploy(suite, profile)
    assert result.ret == 4
    errors = [ln for ln in result.stderr.lines if ln.strip()]
    assert (
        len(errors) == 1
        and "attestations.items: '001.predeploy.aproval' is not an attest item of the runbooks" in errors[0]
    )


def test_hidden_files_are_ignored(suite):
    # Writers put a file in place by renaming a dot-file: a half-written one is never read.
    profile = attest_suite(suite, tl=APPROVAL.format(who="kim", role="tech_lead", when=now_iso()))
    (suite.path / "att" / ".partial.yaml").write_text("attestations: [{item: half")
    assert predeploy(suite, profile, "--no-report", "-k", "documented").ret == 0
