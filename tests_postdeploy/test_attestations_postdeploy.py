"""Post-deployment sign-off (seed 001, post-deployment checklist): the completion notice."""

from opscheck.check import check


@check("postdeploy.deploy-notice", severity="medium", covers=["001.postdeploy.deploy-notice"])
def test_deploy_notice(sign_off):
    """The deployment completion notice was sent

    Announce the completed deployment on the notice channels (email, Slack, status page) once the post-deployment checks pass, then record it in an attestation file (item, who, role, when, evidence link, change, valid_days or expires).
    """
    sign_off()
