"""No green without evidence: every cadence of every system profile, pointed at servers that
answer and hold nothing (testenv/empty_world.py), passes no check.

The only passes allowed are checks whose evidence exists even in an empty world, each
listed below with its reason. A check that passes here judged nothing: it is a defect.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from selftests.harness import REPO, validate_results

pytestmark = pytest.mark.usefixtures("testenv_up")

PROFILES = ("demo", "qsign", "smartsensor", "titanium", "multicluster")
# Evidence an empty world still holds: the check read it, and it is as required.
EVIDENCE_EVEN_THERE = {
    "daily.postgres-select1": "its subject is the server answering SELECT 1, and the empty world's server answers",
    "daily.vault-unsealed": "its subject is the seal status OpenBao reports, and the empty world's OpenBao is unsealed",
    "daily.redis-ping": "its subject is the PONG, and the empty world's Redis answers",
    "monthly.db-user-security": "roles and password_encryption belong to the server the empty database lives on",
    "weekly.db-connections": "max_connections and the backends (this check's own included) are the server's",
    "predeploy.maintenance-window": "it judges the clock against the profile's windows and reads no dependency",
}


@pytest.fixture(scope="module")
def empty_world() -> Iterator[None]:
    """Started for these tests (25 s), stopped after them unless it was already running."""
    from testenv import empty_world

    was_running = empty_world.ready()
    empty_world.up()
    yield
    if not was_running:
        empty_world.down()


@pytest.mark.parametrize("name", PROFILES)
def test_no_check_passes_in_an_empty_world(empty_world, checks, tmp_path, name):
    from testenv import empty_world as world

    profile = world.profile_for(REPO / "environments" / f"{name}.yaml", tmp_path)
    proc, reports = checks.run_pytest(profile=profile)
    folders = sorted(p for p in reports.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert len(folders) == 1, (proc.stdout[-3000:], proc.stderr[-3000:])
    data = json.loads((folders[0] / "results.json").read_text())
    validate_results(data)
    outcomes: dict[str, int] = {}
    for c in data["checks"]:
        outcomes[c["outcome"]] = outcomes.get(c["outcome"], 0) + 1
    passed = {
        f"{c['id']}@{c.get('cluster')}": "; ".join((c.get("evidence") or {}).get("notes") or []) or c["message"] or ""
        for c in data["checks"]
        if c["outcome"] == "passed"
    }
    print(f"{name}: {outcomes}")
    unexplained = {k: v for k, v in passed.items() if k.split("@")[0] not in EVIDENCE_EVEN_THERE}
    assert unexplained == {}, "\n".join(f"{k}: {v}" for k, v in sorted(unexplained.items()))
    assert proc.returncode != 0
