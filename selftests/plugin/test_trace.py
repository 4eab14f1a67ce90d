"""Traceability: runbook items to checks to latest outcomes (pytester)."""

from __future__ import annotations

import json
import subprocess
import sys

from selftests.pluginsuite import only_run_folder, run

pytest_plugins = ["pytester"]


def trace(suite, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m opscheck trace` over the generated suite and its reports."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "opscheck",
            "trace",
            *args,
            "--root",
            str(suite.path),
            "--reports",
            str(suite.path / "reports"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )


def test_trace_maps_runbook_items_to_checks_and_their_latest_outcome(suite):
    run(suite, "-m", "daily")
    out = trace(suite, "--format", "json")
    rows = {r["key"]: r for r in json.loads(out.stdout)}
    assert rows["000.daily.pvc-bound"]["checks"][0]["id"] == "daily.fails"
    assert rows["000.daily.pvc-bound"]["checks"][0]["outcome"] == "failed"
    assert rows["000.daily.pvc-bound"]["text"] == "PV/PVC 상태 확인"
    assert rows["000.weekly.latency-7d"]["checks"] == [
        {"id": "weekly.only", "outcome": None, "run": None, "profile": None}
    ]
    assert rows["002.daily.redis-ping"]["gap"] is True
    text = trace(suite).stdout
    assert "002.daily.redis-ping" in text and "GAP: no check" in text
    assert text.strip().endswith("150 runbook items, 5 covered, 145 gaps")
    page = (only_run_folder(suite) / "report.html").read_text()
    assert "Traceability matrix" in page and "145 gaps" in page
