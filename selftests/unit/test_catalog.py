"""The catalog of the real suite: what it covers, and that every check is proven to fail."""

from __future__ import annotations

import re
from pathlib import Path

from opscheck.cli import catalog
from opscheck.runbook import runbook_items

REPO = Path(__file__).resolve().parents[2]

DAILY_FOUNDATION_KEYS = {k for k in runbook_items() if k.startswith("000.daily.")} | {
    "002.daily.nodes-ready",
    "002.daily.pods-all-namespaces",
    "002.daily.postgres-select1",
    "003.troubleshoot.pod-states",
    "004.daily.kube-system",
    "004.emergency.oomkilled",
}


def test_the_daily_checklist_covers_every_foundation_key():
    entries = catalog(REPO)
    covered = {k for e in entries if "daily" in e["cadences"] for k in e["covers"]}
    assert len(DAILY_FOUNDATION_KEYS) == 28
    assert DAILY_FOUNDATION_KEYS - covered == set()


def test_every_check_has_a_fault_self_test():
    """A check that was never seen failing is a defect: each id must be run by a fault test
    that waits for (or asserts) its failure (`checks.fails_then_recovers` waits for it)."""
    sources = "\n".join(p.read_text() for p in (REPO / "selftests" / "faults").glob("test_*.py"))
    proven = set(re.findall(r'checks\.until\(\s*"([a-z0-9.-]+)",\s*"failed"', sources))
    proven |= set(re.findall(r'checks\.fails_then_recovers\(\s*"([a-z0-9.-]+)"', sources))
    proven |= set(re.findall(r'checks\.one\(\s*"([a-z0-9.-]+)"\s*\)\n\s+assert r\.outcome == "failed"', sources))
    # A table of fault cases: `"case": ("check.id", fault, expected),` in a dict run by a parametrized test.
    proven |= set(re.findall(r'^\s+"[^"\n]+": \(\s*"([a-z0-9]+\.[a-z0-9.-]+)",', sources, re.M))
    ids = {e["id"] for e in catalog(REPO)}
    assert ids - proven == set()
