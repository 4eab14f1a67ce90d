"""kube-bench results (`kube-bench run --json`), read from a file (opscheck/rules/kube_bench.py
judges them against the accepted findings).

kube-bench writes {"Controls": [...], "Totals": {...}}; older releases wrote a list of
controls, or one control object per target. A control has `id`, `text`, `node_type` and
`tests[].results[]`, each result with `test_number`, `test_desc`, `status`
(PASS/FAIL/WARN/INFO), `scored` and `remediation`.
"""

from __future__ import annotations

import glob
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opscheck.errors import DependencyError


@dataclass(frozen=True)
class BenchResult:
    number: str
    description: str
    status: str
    node_type: str
    scored: bool


def newest_file(pattern: str) -> Path | None:
    matches = [Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file()]
    return max(matches, key=lambda p: p.stat().st_mtime, default=None)


def _controls(doc: Any) -> list[dict[str, Any]]:
    if isinstance(doc, dict) and "Controls" in doc:
        return list(doc["Controls"] or [])
    if isinstance(doc, dict) and "tests" in doc:
        return [doc]
    if isinstance(doc, list):
        return [c for c in doc if isinstance(c, dict) and "tests" in c]
    raise ValueError("not kube-bench JSON output (no Controls)")


def parse(text: str) -> list[BenchResult]:
    """Every test result of a kube-bench JSON document (or of several, one per line)."""
    try:
        docs = [json.loads(text)]
    except json.JSONDecodeError:
        docs = [json.loads(line) for line in text.splitlines() if line.strip()]
    out = []
    for doc in docs:
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


def read(path: Path) -> tuple[list[BenchResult], datetime]:
    """The results of one file and when it was written (its modification time)."""
    return parse(path.read_text()), datetime.fromtimestamp(path.stat().st_mtime, UTC)


@dataclass(frozen=True)
class BenchReport:
    path: Path
    results: list[BenchResult]
    written: datetime


def newest_report(pattern: str) -> BenchReport:
    """The newest results file matching the glob `pattern`; DependencyError when none does."""
    path = newest_file(pattern)
    if path is None:
        raise DependencyError(f"no kube-bench results match {pattern}")
    return BenchReport(path, *read(path))
