"""The demo release's artifacts, as a CI pipeline publishes them for the deployment gate.

JUnit XML files of the unit, integration and E2E stages, and a k6 load-test summary
(`k6 run --summary-export`), under <state>/release/. `up()` writes a passing release when
none is there; the self-tests write failing ones with the functions below and restore.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from testenv.paths import state_dir

STAGES = {
    "unit": ["test_sign_request_validation", "test_certificate_chain", "test_token_parser"],
    "integration": ["test_api_to_signature_service", "test_vault_secret_read", "test_postgres_migration"],
    "e2e": ["test_sign_document_end_to_end", "test_verify_signature_end_to_end"],
}


def release_dir() -> Path:
    return state_dir() / "release"


def junit_dir() -> Path:
    return release_dir() / "junit"


def k6_summary() -> Path:
    return release_dir() / "k6-summary.json"


def write_junit(stage: str, failing: tuple[str, ...] = ()) -> Path:
    """A JUnit file for `stage`, with the named test cases failing."""
    cases = []
    for name in STAGES[stage]:
        body = (f'<failure message="AssertionError">assert 500 == 200</failure>' if name in failing else "")
        cases.append(f'<testcase classname={quoteattr("qsign." + stage)} name={quoteattr(name)} time="0.12">{body}</testcase>')
    xml = (f'<?xml version="1.0" encoding="utf-8"?>\n<testsuites><testsuite name={quoteattr(stage)} '
           f'tests="{len(cases)}" failures="{len(failing)}" errors="0" skipped="0">{"".join(cases)}'
           "</testsuite></testsuites>\n")
    path = junit_dir() / f"{stage}.xml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(xml)
    return path


def write_k6_summary(p95_ms: float = 182.4, p99_ms: float = 341.0, error_rate: float = 0.0004) -> Path:
    """A k6 --summary-export document with the given figures."""
    data: dict[str, Any] = {"metrics": {
        "http_reqs": {"count": 120000, "rate": 400.0},
        "http_req_duration": {"avg": 96.1, "min": 3.2, "med": 80.5, "max": 1203.9,
                              "p(90)": 150.2, "p(95)": p95_ms, "p(99)": p99_ms},
        "http_req_failed": {"passes": int(120000 * error_rate), "fails": 120000 - int(120000 * error_rate),
                            "value": error_rate},
    }, "root_group": {"name": "", "path": "", "checks": {}}}
    k6_summary().parent.mkdir(parents=True, exist_ok=True)
    k6_summary().write_text(json.dumps(data, indent=2))
    return k6_summary()


def write_passing_release() -> None:
    for stage in STAGES:
        write_junit(stage)
    write_k6_summary()


def up() -> dict[str, Any]:
    if not (k6_summary().exists() and all((junit_dir() / f"{s}.xml").exists() for s in STAGES)):
        write_passing_release()
    return status()


def down() -> None:
    """Files only: nothing runs."""


def status() -> dict[str, Any]:
    return {"running": k6_summary().exists(), "junit": sorted(p.name for p in junit_dir().glob("*.xml")),
            "k6_summary": str(k6_summary())}
