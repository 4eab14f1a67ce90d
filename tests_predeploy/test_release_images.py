"""Predeploy gate: the images about to be deployed were scanned, with no HIGH/CRITICAL
finding outside the accepted list (QSIGN 001 배포 전: 보안 취약점 스캔 완료)."""
import re

from opscheck.check import check, component_absent
from opscheck.rules.hardening import pod_spec
from opscheck.profile import expand_vars
from opscheck.timeutil import utc_now
from opscheck.sources.image_scans import collect, judge_images, normalize_image


@check(
    id="predeploy.image-vulnerabilities",
    title="Every image of the release has a recent scan with no HIGH/CRITICAL finding outside the accepted list",
    severity="critical",
    covers=["001.predeploy.vuln-scan"],
    remediation="""\
Do not deploy. Scan each image of the release: trivy image --severity HIGH,CRITICAL --format json <image>
and publish the report where security.vulnerability_scans.trivy_reports points (or let
trivy-operator scan it). Rebuild images with fixed packages; a finding that does not apply goes
to security.vulnerability_scans.accepted with its CVE id, justification and expiry.""",
)
def test_release_images(cluster, profile, evidence):
    config = profile.security.vulnerability_scans
    results, sources, notes = collect(cluster, config, profile)
    if not sources:
        component_absent(profile.required, "trivy", "no security.vulnerability_scans.trivy_reports and no "
                         f"trivy-operator VulnerabilityReports on cluster {cluster.name}")
    written = [i for entry in config.release_images for i in re.split(r"[\s,]+", expand_vars(entry)) if i]
    origin = "security.vulnerability_scans.release_images"
    if not written:
        # no list from the pipeline: the monitored workloads' images, as they would be redeployed
        origin = f"the workloads in {', '.join(profile.namespaces)}"
        for kind in ("deployments", "statefulsets", "daemonsets", "cronjobs"):
            for obj in cluster.in_namespaces(kind, profile.namespaces):
                spec = pod_spec(kind, obj)
                written += [c["image"] for c in (spec.get("initContainers") or []) + (spec.get("containers") or [])]
    if not written:
        evidence.fail(f"no image to check: {origin} is empty")
    images = {normalize_image(i): i for i in written}
    rows, offenders, accepted = judge_images(images, results, config, utc_now())
    evidence.table(rows)
    for line in [f"images from {origin}"] + sources + notes + [f"accepted: {a}" for a in accepted]:
        evidence.note(line)
    evidence.expect_none(offenders, f"release images with {'/'.join(config.severities)} findings or no recent scan",
                         table=False)
