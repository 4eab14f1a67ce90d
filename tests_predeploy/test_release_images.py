"""Predeploy gate: the images about to be deployed were scanned, with no HIGH/CRITICAL
finding outside the accepted list (QSIGN 001 배포 전: 보안 취약점 스캔 완료)."""

from opscheck.check import check, component_absent
from opscheck.profile import expand_vars
from opscheck.rules.image_scans import (
    judge_images,
    no_scan_source,
    normalize_image,
    release_images,
    template_images,
)
from opscheck.timeutil import utc_now

TEMPLATE_KINDS = ("deployments", "statefulsets", "daemonsets", "cronjobs")


@check("predeploy.image-vulnerabilities", severity="critical", covers=["001.predeploy.vuln-scan"])
def test_release_images(cluster, profile, image_scans, evidence):
    """Every image of the release has a recent scan with no HIGH/CRITICAL finding outside the accepted list

    Do not deploy. Scan each image of the release: trivy image --severity HIGH,CRITICAL --format json <image>
    and publish the report where security.vulnerability_scans.trivy_reports points (or let
    trivy-operator scan it). Rebuild images with fixed packages; a finding that does not apply goes
    to security.vulnerability_scans.accepted with its CVE id, justification and expiry.
    """
    config = profile.security.vulnerability_scans
    results, sources, notes = image_scans
    if not sources:
        component_absent(profile.required, "trivy", no_scan_source(cluster.name))
    written = release_images([expand_vars(entry) for entry in config.release_images])
    origin = "security.vulnerability_scans.release_images"
    if not written:
        # no list from the pipeline: the monitored workloads' images, as they would be redeployed
        origin = f"the workloads in {', '.join(profile.namespaces)}"
        written = template_images(
            (kind, obj) for kind in TEMPLATE_KINDS for obj in cluster.in_namespaces(kind, profile.namespaces)
        )
    evidence.require(written, f"no image to check: {origin} is empty")
    images = {normalize_image(i): i for i in written}
    rows, offenders, accepted = judge_images(images, results, config, utc_now())
    evidence.table(rows)
    for line in [f"images from {origin}"] + sources + notes + [f"accepted: {a}" for a in accepted]:
        evidence.note(line)
    evidence.expect_none(
        offenders, f"release images with {'/'.join(config.severities)} findings or no recent scan", table=False
    )
