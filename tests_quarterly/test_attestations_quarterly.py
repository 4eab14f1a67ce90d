"""Quarterly architecture review (seed 000, quarterly checks): people attest it."""

from opscheck.check import check


@check("quarterly.architecture-review", severity="medium", covers=["000.quarterly.architecture-review"])
def test_architecture_review(sign_off):
    """The quarterly architecture review was held

    Hold the architecture review: scaling strategy, single points of failure, cost optimisation opportunities; file the minutes, then record the review in an attestation file (item, who, role, when, evidence link to the minutes, valid_days or expires).
    """
    sign_off()
