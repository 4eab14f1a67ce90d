"""Monthly document reviews (seed 001 and seed 003 monthly checklists): people attest them."""

from opscheck.check import check


@check("monthly.docs-update", severity="low", covers=["001.monthly.docs-update"])
def test_docs_update(sign_off):
    """The operations documents were reviewed and updated this month

    Review the operations guide, runbooks and contact lists against what changed this month (deployments, incidents, post-mortems) and update them; then record the review in an attestation file (item, who, role, when, evidence link, valid_days or expires).
    """
    sign_off()


@check("monthly.adr-docs-update", severity="low", covers=["003.monthly.docs-update"])
def test_adr_docs_update(sign_off):
    """ADRs and the operations guide were reviewed and updated this month

    Update the architecture decision records and the operations guide for this month's changes (Kubernetes/Istio upgrades, cleaned-up resources, DR test results); then record the review in an attestation file (item, who, role, when, evidence link, valid_days or expires).
    """
    sign_off()
