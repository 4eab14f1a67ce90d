"""What a release brings to its deployment gate: test results and a load-test summary.

- Test results: JUnit XML files (any CI writes them: pytest, Maven Surefire, Jest, Go's
  go-junit-report), read with the standard library; a file that is not JUnit is an error,
  never a pass. Each <testsuite> is read for what it states about itself: its `timestamp`
  attribute (when it ran) and a `<property name="release" value="..."/>` (which release).
- Load test: the summary k6 writes with `--summary-export` or a handleSummary (JSON with
  `metrics`), whose http_req_duration p(95)/p(99) and http_req_failed rate are compared with
  the profile. k6 itself states neither the release nor the time, so the load test's
  handleSummary adds them at the top level: `release` (the id) and `finished_at` (RFC 3339);
  `state.testRunDurationMs` (k6's own) gives when it started.
"""

from __future__ import annotations

import glob
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from opscheck.errors import OpscheckError
from opscheck.timeutil import parse_time


@dataclass(frozen=True)
class SuiteStamp:
    """What one <testsuite> says about itself: which release, and when it ran."""

    file: str  # the file's name
    suite: str
    release: str | None  # <property name="release">; None when the suite states none
    timestamp: str | None  # the attribute as written
    ran_at: datetime | None  # parsed (no offset: UTC); None when missing or malformed


@dataclass
class TestTotals:
    files: list[str] = field(default_factory=list)
    suites: list[SuiteStamp] = field(default_factory=list)
    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    failed_cases: list[dict[str, str]] = field(default_factory=list)


def junit_files(pattern: str) -> list[Path]:
    return sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())


def read_junit(paths: list[Path]) -> TestTotals:
    """Totals over every <testcase> of the files (suites' own counters are not trusted)."""
    totals = TestTotals()
    for path in paths:
        try:
            root = ET.parse(path).getroot()
        except (ET.ParseError, OSError) as exc:
            raise OpscheckError(f"{path}: not a readable JUnit XML file ({exc})") from None
        if root.tag not in ("testsuites", "testsuite"):
            raise OpscheckError(f"{path}: not a JUnit XML file (root element <{root.tag}>)")
        totals.files.append(str(path))
        for suite in [root] if root.tag == "testsuite" else root.iter("testsuite"):
            release = next(
                (
                    prop.get("value")
                    for prop in suite.findall("properties/property")
                    if prop.get("name") == "release" and prop.get("value")
                ),
                None,
            )
            stamp = suite.get("timestamp")
            totals.suites.append(SuiteStamp(path.name, suite.get("name", ""), release, stamp, parse_time(stamp)))
        for case in root.iter("testcase"):
            totals.tests += 1
            name = f"{case.get('classname', '')}.{case.get('name', '')}".strip(".")
            if case.find("failure") is not None:
                totals.failures += 1
                totals.failed_cases.append({"object": name, "detail": "failure", "file": path.name})
            elif case.find("error") is not None:
                totals.errors += 1
                totals.failed_cases.append({"object": name, "detail": "error", "file": path.name})
            elif case.find("skipped") is not None:
                totals.skipped += 1
    return totals


@dataclass(frozen=True)
class LoadTestSummary:
    path: str
    p95_ms: float | None
    p99_ms: float | None
    error_rate: float | None
    requests: int | None
    release: str | None = None  # the summary's top-level `release`
    finished_at: datetime | None = None  # its top-level `finished_at`
    finished_at_text: str | None = None  # as written
    duration_ms: float | None = None  # k6's state.testRunDurationMs


def read_k6_summary(path: Path) -> LoadTestSummary | None:
    """The summary; None when there is no such file or it is empty (no load test published)."""
    try:
        text = path.read_text()
        if not text.strip():
            return None
        data: dict[str, Any] = json.loads(text)
        metrics = data["metrics"]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OpscheckError(f"{path}: not a k6 summary export ({exc.__class__.__name__}: {exc})") from None
    duration = metrics.get("http_req_duration") or {}
    failed = metrics.get("http_req_failed") or {}
    reqs = metrics.get("http_reqs") or {}

    def number(d: dict[str, Any], *keys: str) -> float | None:
        for k in keys:
            if isinstance(d.get(k), (int, float)):
                return float(d[k])
            if isinstance((d.get("values") or {}).get(k), (int, float)):  # k6's newer layout
                return float(d["values"][k])
        return None

    count = number(reqs, "count")
    release = data.get("release")
    finished = data.get("finished_at")
    run_ms = (data.get("state") or {}).get("testRunDurationMs") if isinstance(data.get("state"), dict) else None
    return LoadTestSummary(
        str(path),
        number(duration, "p(95)"),
        number(duration, "p(99)"),
        number(failed, "rate", "value"),
        int(count) if count is not None else None,
        str(release) if release not in (None, "") else None,
        parse_time(finished) if isinstance(finished, str) else None,
        str(finished) if finished not in (None, "") else None,
        float(run_ms) if isinstance(run_ms, (int, float)) else None,
    )


class ReleaseArtifacts:
    """The release's files where the CI pipeline publishes them; relative paths are read
    from the profile's folder."""

    def __init__(self, resolve: Callable[[str], Path]) -> None:
        self._resolve = resolve

    def junit_files(self, pattern: str) -> list[Path]:
        return junit_files(str(self._resolve(pattern)))

    def read_junit(self, paths: list[Path]) -> TestTotals:
        return read_junit(paths)

    def k6_summary_path(self, path: str) -> Path:
        return self._resolve(path)

    def k6_summary(self, path: str) -> LoadTestSummary | None:
        return read_k6_summary(self._resolve(path))
