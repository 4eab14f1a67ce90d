"""Post-deployment sign-off (seed 001, post-deployment checklist): the completion notice."""

from opscheck.check import check


@check(
    id="postdeploy.deploy-notice",
    title="The deployment completion notice was sent",
    severity="medium",
    covers=["001.postdeploy.deploy-notice"],
    remediation="Announce the completed deployment on the notice channels (email, Slack, status page) "
    "once the post-deployment checks pass, then record it in an attestation file (item, who, "
    "role, when, evidence link, change, valid_days or expires).",
)
def test_deploy_notice(sign_off):
    sign_off()
