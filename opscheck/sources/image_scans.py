"""Image vulnerability scan results: `trivy image --format json` reports and trivy-operator
VulnerabilityReports, read into one ScanResult per image (opscheck/rules/image_scans.py judges them).

Trivy's JSON (schema 2): ArtifactName, CreatedAt, Metadata.OS (Family, Name, EOSL: true
when the distribution is end of life), Metadata.ImageConfig.created (when the image was
built), Results[].Vulnerabilities[] with VulnerabilityID, PkgName, InstalledVersion,
FixedVersion, Severity, Title, PublishedDate, LastModifiedDate.
trivy-operator (aquasecurity.github.io/v1alpha1 VulnerabilityReport): report.registry.server,
report.artifact.repository/tag, report.updateTimestamp, report.os (family, name, eosl),
report.summary.<severity>Count and report.vulnerabilities[] (vulnerabilityID, resource,
installedVersion, fixedVersion, severity); it states no image creation time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opscheck.errors import DependencyError
from opscheck.images import DOCKER_HUB, SEVERITIES, normalize_image
from opscheck.timeutil import parse_time


@dataclass(frozen=True)
class Finding:
    id: str
    package: str
    installed: str
    fixed: str
    severity: str
    # when the vulnerability was made public (trivy's PublishedDate, else LastModifiedDate);
    # None when the report does not say
    published: datetime | None = None

    @classmethod
    def read(cls, vuln: dict[str, Any], fields: tuple[str, str, str, str, str]) -> Finding:
        """From one vulnerability of a report that names its id, package, installed and fixed
        versions and severity as `fields` say."""
        vid, package, installed, fixed, severity = fields
        return cls(
            vuln.get(vid, "?"),
            vuln.get(package, "?"),
            vuln.get(installed, ""),
            vuln.get(fixed, ""),
            (vuln.get(severity) or "UNKNOWN").upper(),
            _time(vuln.get("PublishedDate")) or _time(vuln.get("LastModifiedDate")),
        )


def _time(value: Any) -> datetime | None:
    return parse_time(value) if isinstance(value, str) else None


# How `trivy image --format json` and the Trivy Operator's VulnerabilityReports name them.
TRIVY_FIELDS = ("VulnerabilityID", "PkgName", "InstalledVersion", "FixedVersion", "Severity")
OPERATOR_FIELDS = ("vulnerabilityID", "resource", "installedVersion", "fixedVersion", "severity")


@dataclass
class ScanResult:
    image: str  # normalized
    artifact: str  # as the scanner named it
    source: str  # the report file or object
    # when the report says the scan ran (trivy's CreatedAt, trivy-operator's updateTimestamp);
    # None when it says nothing: a file's modification time is not evidence (a copy resets it)
    scanned_at: datetime | None
    counts: dict[str, int]
    # None when only the summary counts are known (no per-finding list to accept from)
    findings: list[Finding] | None = None
    os: str = ""  # "alpine 3.20.3"; empty when the report names none
    eosl: bool = False  # the scanner says the OS is past its end of service life
    image_created: datetime | None = None  # when the image was built (trivy only)


def trivy_report(path: Path) -> ScanResult:
    """One `trivy image --format json` file. Raises ValueError if it is not one."""
    doc = json.loads(path.read_text())
    if not isinstance(doc, dict) or "ArtifactName" not in doc:
        raise ValueError("not a trivy JSON report (no ArtifactName)")
    findings = []
    for result in doc.get("Results") or []:
        for v in result.get("Vulnerabilities") or []:
            findings.append(Finding.read(v, TRIVY_FIELDS))
    counts = {s: sum(1 for f in findings if f.severity == s) for s in SEVERITIES}
    metadata = doc.get("Metadata") or {}
    os_info = metadata.get("OS") or {}
    return ScanResult(
        normalize_image(doc["ArtifactName"]),
        doc["ArtifactName"],
        f"trivy report {path.name}",
        _time(doc.get("CreatedAt")),
        counts,
        findings,
        os=_os_name(os_info.get("Family"), os_info.get("Name")),
        eosl=os_info.get("EOSL") is True,
        image_created=_time((metadata.get("ImageConfig") or {}).get("created")),
    )


def _os_name(family: Any, name: Any) -> str:
    return " ".join(str(part) for part in (family, name) if part)


def trivy_reports(directory: Path) -> tuple[list[ScanResult], list[str]]:
    """Every report under `directory` (*.json, recursively), and notes on files skipped."""
    results, notes = [], []
    for path in sorted(directory.rglob("*.json")):
        try:
            results.append(trivy_report(path))
        except (OSError, ValueError) as exc:
            notes.append(f"skipped {path.name}: {str(exc)[:120]}")
    return results, notes


def operator_report(obj: dict[str, Any]) -> ScanResult | None:
    report = obj.get("report") or {}
    artifact = report.get("artifact") or {}
    if not artifact.get("repository"):
        return None
    server = (report.get("registry") or {}).get("server") or DOCKER_HUB
    ref = f"{server}/{artifact['repository']}"
    ref += (
        f":{artifact['tag']}" if artifact.get("tag") else (f"@{artifact['digest']}" if artifact.get("digest") else "")
    )
    summary = report.get("summary") or {}
    counts = {s: int(summary.get(f"{s.lower()}Count") or 0) for s in SEVERITIES}
    vulns = report.get("vulnerabilities")
    findings = None
    if vulns is not None:
        findings = [Finding.read(v, OPERATOR_FIELDS) for v in vulns]
    meta = obj["metadata"]
    scanned = parse_time(report.get("updateTimestamp")) or parse_time(meta.get("creationTimestamp"))
    os_info = report.get("os") or {}
    return ScanResult(
        normalize_image(ref),
        ref,
        f"vulnerabilityreport/{meta.get('namespace')}/{meta['name']}",
        scanned,
        counts,
        findings,
        os=_os_name(os_info.get("family"), os_info.get("name")),
        eosl=os_info.get("eosl") is True,
    )


def _when(r: ScanResult) -> datetime:
    return r.scanned_at or datetime.min.replace(tzinfo=UTC)  # undated: older than any dated scan


def newest_by_image(results: Iterable[ScanResult]) -> dict[str, ScanResult]:
    out: dict[str, ScanResult] = {}
    for r in results:
        if r.image not in out or _when(r) > _when(out[r.image]):
            out[r.image] = r
    return out


def collect(cluster: Any, config: Any, profile: Any) -> tuple[dict[str, ScanResult], list[str], list[str]]:
    """The newest scan result per image from every configured source: (results, sources, notes).
    Raises DependencyError when a configured report directory is missing."""
    results: list[ScanResult] = []
    sources, notes = [], []
    if config.trivy_reports:
        directory = profile.relative_path(config.trivy_reports)
        if not directory.is_dir():
            raise DependencyError(f"trivy report directory {directory} does not exist")
        found, skipped = trivy_reports(directory)
        results += found
        notes += skipped
        sources.append(f"{len(found)} trivy reports in {directory}")
    if config.operator_reports and cluster.served("vulnerabilityreports"):
        found = [r for r in map(operator_report, cluster.list("vulnerabilityreports")) if r is not None]
        results += found
        sources.append(f"{len(found)} trivy-operator VulnerabilityReports")
    return newest_by_image(results), sources, notes


__all__ = [
    "DOCKER_HUB",
    "SEVERITIES",
    "normalize_image",
    "Finding",
    "ScanResult",
    "trivy_report",
    "trivy_reports",
    "operator_report",
    "newest_by_image",
    "collect",
]
