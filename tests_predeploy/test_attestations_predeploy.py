"""Pre-deployment sign-offs (seed 001, pre-deployment checklist): people attest them.

Each check passes as "attested" only with a current attestation by an allowed role
(profile `attestations`, see opscheck/record/attestations.py).
"""

from opscheck.check import check

RECORD = (
    "Record it in an attestation file under the profile's attestations directory: "
    "item, who, role, when, evidence (link to the record), change, valid_days or expires."
)


@check(
    "predeploy.change-documented",
    severity="high",
    covers=["001.predeploy.change-documented"],
    remediation="Write the change record (what changes, why, rollback plan, maintenance window) before "
    "the deployment. " + RECORD,
)
def test_change_documented(sign_off):
    """The change is documented (change record linked)"""
    sign_off()


@check(
    "predeploy.approvals",
    severity="critical",
    covers=["001.predeploy.approvals"],
    remediation="Change management: a planned change needs approval from tech_lead and security_officer; "
    "an emergency change from on_call_engineer and tech_lead. Do not deploy until each "
    "required role has approved. " + RECORD,
)
def test_approvals(sign_off):
    """The change is approved by every required role"""
    sign_off()


@check(
    "predeploy.maintenance-notice",
    severity="high",
    covers=["001.predeploy.maintenance-notice"],
    remediation="Send the maintenance notice 7 days ahead for a planned change (email, Slack, status "
    "page; preferred window Sunday 02:00-06:00 KST), immediately for an emergency change. "
    "Reschedule the deployment if the notice period was not met. " + RECORD,
)
def test_maintenance_notice(sign_off):
    """The maintenance notice was sent in advance"""
    sign_off()
