"""The HTML report as a person sees it: headless Chromium (pytester)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from selftests.pluginsuite import only_run_folder, run, verify

pytest_plugins = ["pytester"]


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium(*args: str, profile_dir: Path) -> subprocess.CompletedProcess[str]:
    """Debian's Chromium, headless, with no network chatter (testenv/install-system-packages.sh installs it)."""
    binary = shutil.which("chromium")
    assert binary, "chromium is not installed: run testenv/install-system-packages.sh"
    return subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", *args], capture_output=True, text=True, timeout=120
    )


def test_the_html_report_renders_in_a_browser_as_results_json_says(suite, tmp_path):
    run(suite, "-m", "daily")
    folder = only_run_folder(suite)
    outcomes = json.loads((folder / "results.json").read_text())["summary"]["outcomes"]
    uri = (folder / "report.html").as_uri()
    dom = chromium("--dump-dom", uri, profile_dir=tmp_path / "chromium").stdout
    counts = {cls: int(n) for cls, n in re.findall(r'<span class="(passed|failed|skipped|error)">(\d+) ', dom)}
    assert counts["passed"] == outcomes["passed"]
    assert counts["skipped"] == outcomes["not applicable"]
    assert counts["failed"] + counts["error"] == outcomes["failed"] + outcomes["error"]
    # The failed check's row is expanded and shows its evidence table and runbook text.
    # One chunk per result row (the evidence table has a <tbody> of its own, so split, not match).
    rows = dom.split('<tbody class="results-table-row')[1:]
    failed_row = next(r for r in rows if r.startswith(' failed"') and "daily.fails" in r)
    assert "col-result collapsed" not in failed_row
    assert 'class="opscheck-rows"' in failed_row and "qsign/data-x" in failed_row and "PV/PVC" in failed_row
    # A screenshot for a person to review, kept beside the run (a subfolder: the seal covers the run's files).
    shot = folder / "review" / "report.png"
    shot.parent.mkdir()
    chromium("--window-size=1400,2400", f"--screenshot={shot}", uri, profile_dir=tmp_path / "chromium2")
    assert shot.stat().st_size > 20_000
    assert verify(folder.parent).returncode == 0
