"""Image vulnerability scan results judged: findings at a gating severity not on the
accepted list, and scans too old, for each image that runs or is about to."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from opscheck.images import SEVERITIES, normalize_image
from opscheck.profile import AcceptedFinding
from opscheck.rules.hardening import pod_spec

if TYPE_CHECKING:
    from opscheck.sources.image_scans import Finding, ScanResult

Obj = dict[str, Any]


def no_scan_source(cluster_name: str) -> str:
    """Why image scans cannot be judged when neither a trivy report nor trivy-operator is there."""
    return (
        "no security.vulnerability_scans.trivy_reports and no "
        f"trivy-operator VulnerabilityReports on cluster {cluster_name}"
    )


def running_images(pods: Iterable[Obj]) -> dict[str, str]:
    """{normalized: as written} of every container image of the pods still running."""
    images: dict[str, str] = {}
    for p in pods:
        if (p.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        for c in (p["spec"].get("initContainers") or []) + p["spec"]["containers"]:
            images.setdefault(normalize_image(c["image"]), c["image"])
    return images


def release_images(entries: Iterable[str]) -> list[str]:
    """The images a release lists, each entry holding one or more separated by spaces or commas."""
    return [i for entry in entries for i in re.split(r"[\s,]+", entry) if i]


def template_images(objs: Iterable[tuple[str, Obj]]) -> list[str]:
    """Every container image of the pod templates of (KINDS key, workload) pairs."""
    out: list[str] = []
    for kind, obj in objs:
        spec = pod_spec(kind, obj)
        out += [c["image"] for c in (spec.get("initContainers") or []) + (spec.get("containers") or [])]
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
    blocking: int = 0  # findings at a gating severity, not accepted
    by_severity: dict[str, int] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)  # the blocking ones (first few)
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


CLOCK_SKEW = timedelta(minutes=5)  # a scanner's clock a few minutes ahead is not a forged date


def scan_staleness(result: ScanResult, now: datetime, max_age_days: float) -> str | None:
    """Why the newest scan of an image is not evidence now (by the time the report states),
    or None."""
    if result.scanned_at is None:
        return f"{result.source} states no time the scan ran (CreatedAt)"
    if result.scanned_at > now + CLOCK_SKEW:
        return f"{result.source} is dated in the future ({result.scanned_at:%Y-%m-%d %H:%M}Z)"
    age = (now - result.scanned_at).total_seconds() / 86400
    if age > max_age_days:
        return (
            f"newest scan is {age:.0f} days old, run {result.scanned_at:%Y-%m-%d %H:%M}Z by {result.source} "
            f"(at most {max_age_days:g} days)"
        )
    return None


def judge_images(
    images: dict[str, str], results: dict[str, ScanResult], config: Any, now: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """Rows for every image ({normalized: as written}), offenders, and accepted findings."""
    rows, offenders, accepted = [], [], []
    for image, written in sorted(images.items(), key=lambda kv: kv[1]):
        r = results.get(image)
        if r is None:
            rows.append({"object": written, "scanned": "", "source": ""})
            offenders.append({"object": written, "detail": "no scan result"})
            continue
        v = judge(r, config.severities, config.accepted, now.date())
        rows.append(
            {
                "object": written,
                "scanned": f"{r.scanned_at:%Y-%m-%d %H:%M}Z" if r.scanned_at else "undated",
                "source": r.source,
                **{s: r.counts.get(s, 0) for s in config.severities},
                "accepted": len(v.accepted),
                "blocking": v.blocking,
            }
        )
        accepted += [f"{written}: {a}" for a in v.accepted]
        stale = scan_staleness(r, now, config.max_age_days)
        if stale:
            offenders.append({"object": written, "detail": stale})
        elif v.blocking:
            offenders.append({"object": written, "detail": v.detail()})
    return rows, offenders, accepted


def _unapplied_fixes(
    result: ScanResult, severities: Iterable[str], accepted: list[AcceptedFinding], now: datetime, window: timedelta
) -> list[str]:
    """Findings at a gating severity that upstream has fixed (FixedVersion) longer ago than
    the window, or of unknown date, and that are not accepted: "CVE-x in pkg 1.0 (fixed in 1.1)"."""
    gating = set(severities)
    out = []
    for f in result.findings or []:
        if not f.fixed or f.severity not in gating or acceptance(f, result.image, accepted, now.date()):
            continue
        if f.published is not None and now - f.published <= window:
            continue  # fixed within the window: still time to apply it
        since = f", public since {f.published:%Y-%m-%d}" if f.published else ""
        out.append(f"{f.id} in {f.package} {f.installed} (fixed in {f.fixed}{since})")
    return out


def image_patch_findings(
    images: dict[str, str],
    results: dict[str, ScanResult],
    max_age_days: float,
    severities: Iterable[str],
    accepted: list[AcceptedFinding],
    now: datetime,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The running images' patch level (001 보안 패치 적용) by their newest scan report: rows
    for every image ({normalized: as written}) and offenders: no report, built longer ago
    than the window, an end-of-life OS, or a fix available upstream for longer than the
    window and not applied. An image whose report states no build time (trivy-operator's)
    is judged on the rest; its row says the age is unknown."""
    window = timedelta(days=max_age_days)
    rows, offenders = [], []
    for image, written in sorted(images.items(), key=lambda kv: kv[1]):
        r = results.get(image)
        if r is None:
            rows.append({"object": written, "built": "", "os": "", "unapplied_fixes": "", "source": ""})
            offenders.append({"object": written, "detail": "no scan report"})
            continue
        problems = []
        built = "unknown"
        if r.image_created is not None:
            age = now - r.image_created
            built = f"{r.image_created:%Y-%m-%d} ({age.days} days)"
            if age > window:
                problems.append(f"built {age.days} days ago, {r.image_created:%Y-%m-%d} (at most {max_age_days:g})")
        if r.eosl:
            problems.append(f"OS {r.os or '?'} is end of life")
        fixes = _unapplied_fixes(r, severities, accepted, now, window)
        if fixes:
            problems.append(
                f"{len(fixes)} fixes not applied: " + ", ".join(fixes[:3]) + (" ..." if len(fixes) > 3 else "")
            )
        rows.append(
            {
                "object": written,
                "built": built,
                "os": r.os + (" (end of life)" if r.eosl else ""),
                "unapplied_fixes": len(fixes),
                "source": r.source,
            }
        )
        if problems:
            offenders.append({"object": written, "detail": "; ".join(problems)})
    return rows, offenders
