"""`python -m opscheck coverage`: covered and uncovered runbook items, and its exit code."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from opscheck.cli import catalog
from opscheck.runbook import runbook_items
from selftests.pluginsuite import write_passing_check

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]


def coverage(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opscheck", "coverage", "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_suite_covering_every_runbook_item_exits_0(pytester):
    keys = sorted(runbook_items())
    daily = pytester.mkdir("tests_daily")
    (daily / "test_all.py").write_text(
        textwrap.dedent(f"""
        from opscheck.check import check

        @check(id="daily.everything", title="all", severity="low", covers={keys!r}, remediation="none")
        def test_everything(evidence):
            pass
        """)
    )
    proc = coverage(pytester.path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1] == f"{len(keys)} runbook items: {len(keys)} covered, 0 uncovered"
    assert "UNCOVERED" not in proc.stdout
    assert any(ln.split() == ["covered", "000.daily.pods-running", "daily.everything"] for ln in lines)


def test_gaps_are_listed_by_runbook_and_cadence_and_exit_1(suite):
    proc = coverage(suite.path)
    assert proc.returncode == 1
    total = len(runbook_items())
    out = proc.stdout.splitlines()
    assert out[-1] == f"{total} runbook items: 5 covered, {total - 5} uncovered"
    # Grouped: the runbook's heading, then each cadence with its count, then the items.
    assert out[0] == f"000 QSIGN daily operations: 5/{sum(k.startswith('000.') for k in runbook_items())} covered"
    assert out[1].startswith("  daily: 4/")
    assert "    covered    000.daily.pods-running" in proc.stdout
    assert any(ln.startswith("    UNCOVERED  000.daily.ingress-lb ") for ln in out)
    assert any(ln.startswith("    UNCOVERED  001.predeploy.approvals ") and ln.endswith("[attest]") for ln in out)
    gaps = coverage(suite.path, "--gaps")
    assert (
        gaps.returncode == 1 and "    covered " not in gaps.stdout and "UNCOVERED  000.daily.ingress-lb" in gaps.stdout
    )


def test_json_lists_every_item_with_its_checks(suite):
    proc = coverage(suite.path, "--format", "json")
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    items = {i["key"]: i for book in data["runbooks"] for cad in book["cadences"] for i in cad["items"]}
    assert set(items) == set(runbook_items())
    assert items["000.daily.pvc-bound"] == {**items["000.daily.pvc-bound"], "covered": True, "checks": ["daily.fails"]}
    assert items["000.weekly.latency-7d"]["checks"] == ["weekly.only"]
    assert items["001.predeploy.approvals"]["covered"] is False and items["001.predeploy.approvals"]["kind"] == "attest"
    assert data["summary"] == {"items": len(items), "covered": 5, "uncovered": len(items) - 5}
    assert [b["seed"] for b in data["runbooks"]] == ["000", "001", "002", "003", "004"]


def test_a_broken_declaration_exits_3(pytester):
    daily = pytester.mkdir("tests_daily")
    write_passing_check(daily / "test_bad.py", "daily.bad", "bad", "000.daily.no-such-item", remediation="none")
    proc = coverage(pytester.path)
    assert proc.returncode == 3
    assert "000.daily.no-such-item" in proc.stderr and proc.stdout == ""


def test_the_real_suite_reports_what_its_catalog_covers():
    """Today some items are not covered yet: exit 1 listing them; 0 once every item is."""
    proc = coverage(REPO, "--format", "json")
    data = json.loads(proc.stdout)
    covered = {k for e in catalog(REPO) for k in e["covers"]} & set(runbook_items())
    assert data["summary"]["covered"] == len(covered)
    uncovered = sorted(set(runbook_items()) - covered)
    assert proc.returncode == (1 if uncovered else 0)
    text = coverage(REPO, "--gaps").stdout
    assert all(f"UNCOVERED  {key} " in text for key in uncovered)
    # The attest items are covered by the attestation checks.
    attest = {k for k, i in runbook_items().items() if i.kind == "attest"}
    assert attest <= covered
