"""Fault injection on the attestations: each manual item loses its sign-off for real.

The test environment keeps current attestations under its state directory (testenv/
attestations.py); each test removes or rewrites one file there (missing approval, another
change, a notice sent too late, an old or expired review, a role not allowed), sees the
check fail naming it, rewrites the attestation fresh, and sees the check attested again.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest

from selftests.faults.common import fails_with
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


def rewritten(key: str, role: str, /, **changes):
    """The attestation of `key` by `role` written with `changes`, then fresh."""
    return broken(lambda: attestations.write(key, role, **changes), lambda: attestations.write(key, role))


def any_text(*parts: str) -> str:
    """A regex: the parts in this order, anything around them."""
    return ".*" + ".*".join(re.escape(p) for p in parts) + ".*"


# case -> (check, the fault, the message in full (a regex)); repaired, the check is attested again
ATTESTATION_FAULTS = {
    "a change documented for another change": (
        "predeploy.change-documented",
        lambda: rewritten("001.predeploy.change-documented", "ops_engineer", change="CHG-0999"),
        any_text("ops_engineer by lee.sy at ", ": for change CHG-0999, not CHG-1001"),
    ),
    "a maintenance notice sent too late": (
        "predeploy.maintenance-notice",
        lambda: rewritten("001.predeploy.maintenance-notice", "ops_engineer", ago=dt.timedelta(days=2)),
        re.escape("001.predeploy.maintenance-notice: no valid attestation by role 'ops_engineer'")
        + any_text("only 2.0 days ahead, 7 required"),
    ),
    "a deploy notice never sent": (
        "postdeploy.deploy-notice",
        lambda: broken(
            lambda: attestations.remove("001.postdeploy.deploy-notice", "ops_engineer"),
            lambda: attestations.write("001.postdeploy.deploy-notice", "ops_engineer"),
        ),
        re.escape(
            "001.postdeploy.deploy-notice: no valid attestation by role 'ops_engineer' "
            f"(none in {attestations.directory()})"
        ),
    ),
    "docs last reviewed too long ago": (
        "monthly.docs-update",
        lambda: rewritten("001.monthly.docs-update", "tech_lead", ago=dt.timedelta(days=40)),
        any_text("tech_lead by kim.jh at ", ": outside the 31-day monthly window"),
    ),
    "the adr review expired": (
        "monthly.adr-docs-update",
        lambda: rewritten("003.monthly.docs-update", "ops_engineer", valid_days=1),
        any_text("ops_engineer by choi.dh at ", ": expired "),
    ),
}


@pytest.mark.parametrize("case", ATTESTATION_FAULTS)
def test_attestation_checks_fail(checks, case):
    fails_with(checks, ATTESTATION_FAULTS[case], recovers_to="attested")


def test_architecture_review_fails_when_attested_by_a_role_not_allowed(checks):
    key = "000.quarterly.architecture-review"
    with checks.fails_then_recovers(
        "quarterly.architecture-review", rewritten(key, "tech_lead", role="developer"), recovers_to="attested"
    ) as r:
        assert r.message == (
            "000.quarterly.architecture-review: no valid attestation by role 'tech_lead' "
            f"(have: developer by kim.jh at {r.evidence['rows'][0][2]}: "
            "role 'developer' may not attest this item)"
        )
