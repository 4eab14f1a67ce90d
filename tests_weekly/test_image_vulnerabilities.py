"""Weekly (and monthly): the running images' scan results have no HIGH/CRITICAL finding
(QSIGN 000 monthly 이미지 취약점 스캔, SmartSensor 002 trivy --severity HIGH,CRITICAL,
Titanium 003 weekly Trivy 보안 스캔 결과 검토)."""

from opscheck.check import check, component_absent
from opscheck.rules.image_scans import judge_images, no_scan_source, running_images
from opscheck.timeutil import utc_now


@check(
    "weekly.image-vulnerabilities",
    severity="high",
    covers=["003.weekly.trivy-results", "000.monthly.image-vuln-scan", "002.monthly.image-vuln"],
    also=["monthly"],
)
def test_image_vulnerabilities(cluster, profile, image_scans, evidence):
    """Every running image has a recent scan with no HIGH/CRITICAL finding outside the accepted list

    trivy image --severity HIGH,CRITICAL <image>
    kubectl get vulnerabilityreports -A -o wide        (trivy-operator)
    Rebuild the image on a patched base / with the fixed package version (the report's FixedVersion),
    push it and roll the workload out. A finding that does not apply goes to
    security.vulnerability_scans.accepted with its CVE id, justification and expiry.
    """
    config = profile.security.vulnerability_scans
    results, sources, notes = image_scans
    if not sources:
        component_absent(profile.required, "trivy", no_scan_source(cluster.name))
    namespaces = profile.namespaces if config.namespaces is None else config.namespaces
    rows, offenders, accepted = judge_images(
        running_images(cluster.in_namespaces("pods", namespaces)), results, config, utc_now()
    )
    evidence.table(rows)
    for line in sources + notes + [f"accepted: {a}" for a in accepted]:
        evidence.note(line)
    evidence.expect_none(
        offenders, f"running images with {'/'.join(config.severities)} findings or no recent scan", table=False
    )
