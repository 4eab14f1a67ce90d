"""Fault injection on the attestations: each manual item loses its sign-off for real.

The test environment keeps current attestations under its state directory (testenv/
attestations.py); each test removes or rewrites one file there (missing approval, another
change, a notice sent too late, an old or expired review, a role not allowed), sees the
check fail naming it, rewrites the attestation fresh, and sees the check attested again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from selftests.harness import broken
from testenv import attestations

pytestmark = pytest.mark.usefixtures("testenv_up")


@pytest.fixture(autouse=True, scope="module")
def fresh() -> Iterator[None]:
    # The environment may have been started days ago: start from current attestations.
    attestations.up()
    yield
    attestations.up()


def test_approvals_fail_without_the_security_officer(checks):
    key = "001.predeploy.approvals"
    with broken(
        lambda: attestations.remove(key, "security_officer"), lambda: attestations.write(key, "security_officer")
    ):
        r = checks.until("predeploy.approvals", "failed")
        assert r.message.startswith(
            "001.predeploy.approvals: no valid attestation by role 'security_officer' (have: tech_lead by kim.jh at "
        )
    r = checks.until("predeploy.approvals", "attested")
    assert "tech_lead by kim.jh" in r.message and "security_officer by park.mj" in r.message


def test_change_documented_fails_for_another_change(checks):
    key = "001.predeploy.change-documented"
    with checks.fails_then_recovers(
        "predeploy.change-documented",
        broken(
            lambda: attestations.write(key, "ops_engineer", change="CHG-0999"),
            lambda: attestations.write(key, "ops_engineer"),
        ),
        recovers_to="attested",
    ) as r:
        assert "ops_engineer by lee.sy at " in r.message and ": for change CHG-0999, not CHG-1001" in r.message


def test_maintenance_notice_fails_when_sent_too_late(checks):
    key = "001.predeploy.maintenance-notice"
    with checks.fails_then_recovers(
        "predeploy.maintenance-notice",
        broken(
            lambda: attestations.write(key, "ops_engineer", ago=dt.timedelta(days=2)),
            lambda: attestations.write(key, "ops_engineer"),
        ),
        recovers_to="attested",
    ) as r:
        assert r.message.startswith("001.predeploy.maintenance-notice: no valid attestation by role 'ops_engineer'")
        assert "only 2.0 days ahead, 7 required" in r.message


def test_deploy_notice_fails_when_never_sent(checks):
    key = "001.postdeploy.deploy-notice"
    with checks.fails_then_recovers(
        "postdeploy.deploy-notice",
        broken(lambda: attestations.remove(key, "ops_engineer"), lambda: attestations.write(key, "ops_engineer")),
        recovers_to="attested",
    ) as r:
        assert r.message == (
            f"001.postdeploy.deploy-notice: no valid attestation by role 'ops_engineer' "
            f"(none in {attestations.directory()})"
        )


def test_docs_update_fails_when_last_reviewed_too_long_ago(checks):
    key = "001.monthly.docs-update"
    with checks.fails_then_recovers(
        "monthly.docs-update",
        broken(
            lambda: attestations.write(key, "tech_lead", ago=dt.timedelta(days=40)),
            lambda: attestations.write(key, "tech_lead"),
        ),
        recovers_to="attested",
    ) as r:
        assert "tech_lead by kim.jh at " in r.message and ": outside the 31-day monthly window" in r.message


def test_adr_docs_update_fails_when_the_attestation_expired(checks):
    key = "003.monthly.docs-update"
    with checks.fails_then_recovers(
        "monthly.adr-docs-update",
        broken(
            lambda: attestations.write(key, "ops_engineer", valid_days=1),
            lambda: attestations.write(key, "ops_engineer"),
        ),
        recovers_to="attested",
    ) as r:
        assert "ops_engineer by choi.dh at " in r.message and ": expired " in r.message


def test_architecture_review_fails_when_attested_by_a_role_not_allowed(checks):
    key = "000.quarterly.architecture-review"
    with checks.fails_then_recovers(
        "quarterly.architecture-review",
        broken(
            lambda: attestations.write(key, "tech_lead", role="developer"), lambda: attestations.write(key, "tech_lead")
        ),
        recovers_to="attested",
    ) as r:
        assert r.message == (
            "000.quarterly.architecture-review: no valid attestation by role 'tech_lead' "
            f"(have: developer by kim.jh at {r.evidence['rows'][0][2]}: "
            "role 'developer' may not attest this item)"
        )
