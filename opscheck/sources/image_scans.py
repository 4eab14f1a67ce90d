"""Image vulnerability scan results: `trivy image --format json` reports and trivy-operator
VulnerabilityReports, matched to the images that run, judged against accepted findings.

Trivy's JSON (schema 2): ArtifactName, CreatedAt, Results[].Vulnerabilities[] with
VulnerabilityID, PkgName, InstalledVersion, FixedVersion, Severity, Title.
trivy-operator (aquasecurity.github.io/v1alpha1 VulnerabilityReport): report.registry.server,
report.artifact.repository/tag, report.updateTimestamp, report.summary.<severity>Count and
report.vulnerabilities[] (vulnerabilityID, resource, installedVersion, fixedVersion, severity).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from opscheck.profile import AcceptedFinding
from opscheck.timeutil import parse_time

SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")
DOCKER_HUB = "docker.io"


def normalize_image(ref: str) -> str:
    """One spelling per image: `postgres:16.4`, `docker.io/library/postgres:16.4` and
    `index.docker.io/library/postgres:16.4` are all `docker.io/library/postgres:16.4`.
    A digest is dropped when there is a tag (the tag is what scanners and pods name)."""
    ref = ref.strip()
    name, _, digest = ref.partition("@")
    head, _, rest = name.partition("/")
    if rest and ("." in head or ":" in head or head == "localhost"):
        registry, path = head, rest
    else:
        registry, path = DOCKER_HUB, name
    if registry in ("index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"):
        registry = DOCKER_HUB
    repo, _, tag = path.rpartition(":") if ":" in path.rsplit("/", 1)[-1] else (path, "", "")
    if registry == DOCKER_HUB and "/" not in repo:
        repo = f"library/{repo}"
    if tag:
        return f"{registry}/{repo}:{tag}"
    return f"{registry}/{repo}@{digest}" if digest else f"{registry}/{repo}:latest"


@dataclass(frozen=True)
class Finding:
    id: str
    package: str
    installed: str
    fixed: str
    severity: str


@dataclass
class ScanResult:
    image: str            # normalized
    artifact: str         # as the scanner named it
    source: str           # the report file or object
    scanned_at: datetime
    counts: dict[str, int]
    # None when only the summary counts are known (no per-finding list to accept from)
    findings: list[Finding] | None = None


def trivy_report(path: Path) -> ScanResult:
    """One `trivy image --format json` file. Raises ValueError if it is not one."""
    doc = json.loads(path.read_text())
    if not isinstance(doc, dict) or "ArtifactName" not in doc:
        raise ValueError("not a trivy JSON report (no ArtifactName)")
    findings = []
    for result in doc.get("Results") or []:
        for v in result.get("Vulnerabilities") or []:
            findings.append(Finding(v.get("VulnerabilityID", "?"), v.get("PkgName", "?"),
                                    v.get("InstalledVersion", ""), v.get("FixedVersion", ""),
                                    (v.get("Severity") or "UNKNOWN").upper()))
    counts = {s: sum(1 for f in findings if f.severity == s) for s in SEVERITIES}
    scanned = parse_time(doc.get("CreatedAt")) or datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
    return ScanResult(normalize_image(doc["ArtifactName"]), doc["ArtifactName"], f"trivy report {path.name}",
                      scanned, counts, findings)


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
    ref += f":{artifact['tag']}" if artifact.get("tag") else (f"@{artifact['digest']}" if artifact.get("digest") else "")
    summary = report.get("summary") or {}
    counts = {s: int(summary.get(f"{s.lower()}Count") or 0) for s in SEVERITIES}
    vulns = report.get("vulnerabilities")
    findings = None
    if vulns is not None:
        findings = [Finding(v.get("vulnerabilityID", "?"), v.get("resource", "?"), v.get("installedVersion", ""),
                            v.get("fixedVersion", ""), (v.get("severity") or "UNKNOWN").upper()) for v in vulns]
    meta = obj["metadata"]
    scanned = (parse_time(report.get("updateTimestamp")) or parse_time(meta.get("creationTimestamp"))
               or datetime.now(timezone.utc))
    return ScanResult(normalize_image(ref), ref, f"vulnerabilityreport/{meta.get('namespace')}/{meta['name']}",
                      scanned, counts, findings)


def newest_by_image(results: Iterable[ScanResult]) -> dict[str, ScanResult]:
    out: dict[str, ScanResult] = {}
    for r in results:
        if r.image not in out or r.scanned_at > out[r.image].scanned_at:
            out[r.image] = r
    return out


def acceptance(finding: Finding, image: str, accepted: list[AcceptedFinding], today: date) -> AcceptedFinding | None:
    for a in accepted:
        if a.id != finding.id or (a.expires is not None and a.expires < today):
            continue
        if a.images and image not in {normalize_image(i) for i in a.images}:
            continue
        return a
    return None


@dataclass
class Verdict:
    blocking: int = 0                     # findings at a gating severity, not accepted
    by_severity: dict[str, int] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)       # the blocking ones (first few)
    accepted: list[str] = field(default_factory=list)  # "CVE-x (justification)"

    def detail(self) -> str:
        counts = ", ".join(f"{n} {s}" for s, n in self.by_severity.items() if n)
        ids = ": " + ", ".join(self.ids[:3]) + (" ..." if len(self.ids) > 3 else "") if self.ids else ""
        return f"{counts}{ids}"


def judge(result: ScanResult, severities: Iterable[str], accepted: list[AcceptedFinding], today: date) -> Verdict:
    gating = [s for s in SEVERITIES if s in set(severities)]
    v = Verdict(by_severity={s: 0 for s in gating})
    if result.findings is None:  # counts only: nothing can be accepted
        for s in gating:
            v.by_severity[s] = result.counts.get(s, 0)
        v.blocking = sum(v.by_severity.values())
        return v
    for f in result.findings:
        if f.severity not in v.by_severity:
            continue
        a = acceptance(f, result.image, accepted, today)
        if a is not None:
            v.accepted.append(f"{f.id} in {f.package} ({a.justification})")
            continue
        v.by_severity[f.severity] += 1
        v.blocking += 1
        v.ids.append(f"{f.id} in {f.package} {f.installed}" + (f" (fixed in {f.fixed})" if f.fixed else ""))
    return v


# ------------------------------------------------------------------ checks' helpers

def collect(cluster: Any, config: Any, profile: Any) -> tuple[dict[str, ScanResult], list[str], list[str]]:
    """The newest scan result per image from every configured source: (results, sources, notes).
    Raises DependencyError when a configured report directory is missing."""
    from opscheck.errors import DependencyError

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


def judge_images(images: dict[str, str], results: dict[str, ScanResult], config: Any,
                 now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """Rows for every image ({normalized: as written}), offenders, and accepted findings."""
    rows, offenders, accepted = [], [], []
    for image, written in sorted(images.items(), key=lambda kv: kv[1]):
        r = results.get(image)
        if r is None:
            rows.append({"object": written, "scanned": "", "source": ""})
            offenders.append({"object": written, "detail": "no scan result"})
            continue
        age = (now - r.scanned_at).total_seconds() / 86400
        v = judge(r, config.severities, config.accepted, now.date())
        rows.append({"object": written, "scanned": f"{r.scanned_at:%Y-%m-%d %H:%M}Z", "source": r.source,
                     **{s: r.counts.get(s, 0) for s in config.severities},
                     "accepted": len(v.accepted), "blocking": v.blocking})
        accepted += [f"{written}: {a}" for a in v.accepted]
        if age > config.max_age_days:
            offenders.append({"object": written, "detail": f"newest scan is {age:.0f} days old (at most {config.max_age_days:g})"})
        elif v.blocking:
            offenders.append({"object": written, "detail": v.detail()})
    return rows, offenders, accepted
