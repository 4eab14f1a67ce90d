"""kube-bench results (`kube-bench run --json`), read from a file (opscheck/rules/kube_bench.py
judges them against the accepted findings).

kube-bench writes {"Controls": [...], "Totals": {...}}; older releases wrote a list of
controls, or one control object per target. A control has `id`, `text`, `node_type` and
`tests[].results[]`, each result with `test_number`, `test_desc`, `status`
(PASS/FAIL/WARN/INFO), `scored` and `remediation`.

kube-bench does not write when it ran, and a file's modification time is not evidence (a
copy or a restore resets it), so the results carry their own time: a top-level `timestamp`
(RFC 3339) added when they are published, e.g.
  kube-bench run --json | jq --arg t "$(date -u +%FT%TZ)" '. + {timestamp: $t}'
(`createTime`, as VMware's cloud-native-security-inspector writes it, is read too).
Results that state no time are read, and judged stale by the rule.
"""

from __future__ import annotations

import glob
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opscheck.errors import DependencyError
from opscheck.timeutil import parse_time


@dataclass(frozen=True)
class BenchResult:
    number: str
    description: str
    status: str
    node_type: str
    scored: bool


def matching_files(pattern: str) -> list[Path]:
    return sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())


def _controls(doc: Any) -> list[dict[str, Any]]:
    if isinstance(doc, dict) and "Controls" in doc:
        return list(doc["Controls"] or [])
    if isinstance(doc, dict) and "tests" in doc:
        return [doc]
    if isinstance(doc, list):
        return [c for c in doc if isinstance(c, dict) and "tests" in c]
    raise ValueError("not kube-bench JSON output (no Controls)")


def _documents(text: str) -> list[Any]:
    try:
        return [json.loads(text)]
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def parse(text: str) -> list[BenchResult]:
    """Every test result of a kube-bench JSON document (or of several, one per line)."""
    out = []
    for doc in _documents(text):
        for control in _controls(doc):
            for test in control.get("tests") or []:
                for r in test.get("results") or []:
                    out.append(
                        BenchResult(
                            str(r.get("test_number", "?")),
                            str(r.get("test_desc", "")),
                            str(r.get("status", "")).upper(),
                            str(control.get("node_type", "")),
                            bool(r.get("scored", True)),
                        )
                    )
    return out


TIME_KEYS = ("timestamp", "createTime")


def stated_time(text: str) -> tuple[datetime | None, str | None]:
    """When the results say they were taken (the oldest of their documents' top-level
    `timestamp`/`createTime`), and the value as written; (None, None) when none says."""
    stamps: list[tuple[datetime | None, str]] = []
    for doc in _documents(text):
        written = next((doc[k] for k in TIME_KEYS if isinstance(doc, dict) and doc.get(k)), None)
        if written is None:
            return None, None  # a document without a time: the whole file is undated
        stamps.append((parse_time(str(written)), str(written)))
    if not stamps:
        return None, None
    if any(t is None for t, _ in stamps):
        return None, next(w for t, w in stamps if t is None)
    return min(stamps, key=lambda s: s[0])  # type: ignore[arg-type,return-value]


@dataclass(frozen=True)
class BenchReport:
    path: Path
    results: list[BenchResult]
    taken_at: datetime | None  # as the results state it; None when they state none
    taken_at_text: str | None  # as written


def read(path: Path) -> BenchReport:
    """One results file; DependencyError naming it when it is not kube-bench JSON output."""
    try:
        text = path.read_text()
        return BenchReport(path, parse(text), *stated_time(text))
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        raise DependencyError(f"{path}: not kube-bench JSON output ({str(exc)[:120]})") from None


def newest_report(pattern: str) -> BenchReport | None:
    """The results matching the glob `pattern` that state the newest time (dated before
    undated); None when no file matches."""
    reports = [read(p) for p in matching_files(pattern)]
    if not reports:
        return None
    return max(reports, key=lambda r: (r.taken_at is not None, r.taken_at or datetime.min.replace(tzinfo=UTC)))
