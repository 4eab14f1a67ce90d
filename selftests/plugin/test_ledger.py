"""The ledger: sealed runs, verify and tampering, change since the previous run (pytester)."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from selftests.harness import validate_results
from selftests.pluginsuite import run, verify

pytest_plugins = ["pytester"]


@pytest.fixture
def three_runs(suite) -> list[Path]:
    """Three sealed runs in one reports directory, oldest first."""
    for _ in range(3):
        run(suite, "-m", "weekly")
    reports = suite.path / "reports"
    runs = sorted(
        (p for p in reports.iterdir() if p.is_dir()), key=lambda p: json.loads((p / "manifest.json").read_text())["seq"]
    )
    assert [json.loads((p / "manifest.json").read_text())["seq"] for p in runs] == [1, 2, 3]
    ok = verify(reports)
    assert ok.returncode == 0, ok.stdout
    assert "3 run(s)" in ok.stdout and "chain intact" in ok.stdout
    return runs


def test_verify_names_a_changed_file(three_runs):
    results = three_runs[1] / "results.json"
    results.write_text(results.read_text().replace('"passed"', '"failed"', 1))
    out = verify(three_runs[0].parent)
    assert out.returncode == 1
    assert f"BROKEN {three_runs[1].name}: results.json changed" in out.stdout


def test_verify_names_a_removed_run(three_runs):
    import shutil

    shutil.rmtree(three_runs[1])
    out = verify(three_runs[0].parent)
    assert out.returncode == 1
    assert f"BROKEN {three_runs[2].name}: run(s) with seq 2 removed before this one (seq 3)" in out.stdout


def test_verify_notices_the_newest_run_removed(three_runs):

    shutil.rmtree(three_runs[2])
    out = verify(three_runs[0].parent)
    assert out.returncode == 1
    assert f"BROKEN {three_runs[2].name}: newest run (seq 3) removed" in out.stdout


def test_verify_notices_an_inserted_or_reordered_run(three_runs):
    # Forge a run between 1 and 2: a copy of run 1 with the next sequence number.

    forged = three_runs[0].parent / (three_runs[0].name + "-forged")
    shutil.copytree(three_runs[0], forged)
    m = json.loads((forged / "manifest.json").read_text())
    m.update(run=forged.name, seq=2, previous={"run": three_runs[0].name, "manifest_sha256": "0" * 64})
    (forged / "manifest.json").write_text(json.dumps(m))
    out = verify(three_runs[0].parent)
    assert out.returncode == 1
    assert "seq 2 repeats or goes back: run inserted or reordered" in out.stdout
    assert "link to the previous run does not match" in out.stdout


def test_verify_names_a_file_added_to_a_sealed_run(three_runs):
    (three_runs[0] / "notes.txt").write_text("added later")
    out = verify(three_runs[0].parent)
    assert f"BROKEN {three_runs[0].name}: notes.txt added after the run was sealed" in out.stdout


def test_an_interrupted_run_leaves_no_folder_that_verifies(three_runs, suite):
    """A partial folder of an interrupted run is hidden and never sealed."""
    (three_runs[0].parent / ".partial-20991231T000000Z-weekly-unit-x").mkdir()
    assert verify(three_runs[0].parent).returncode == 0
    (three_runs[0].parent / "20991231T000000Z-weekly-unit").mkdir()
    out = verify(three_runs[0].parent)
    assert "20991231T000000Z-weekly-unit: no manifest.json: not a sealed run" in out.stdout


def test_each_result_says_what_changed_since_the_previous_run(suite):
    (suite.path / "tests_daily" / "test_flag.py").write_text(
        textwrap.dedent(f"""
        from pathlib import Path
        from opscheck.check import check

        @check(id="daily.flag", title="flag", severity="high", covers=["000.daily.pvc-bound"], remediation="x")
        def test_flag(evidence):
            if Path({str(suite.path / "broken.flag")!r}).exists():
                evidence.fail("the flag is set")
        """)
    )
    flag = suite.path / "broken.flag"

    def change() -> dict:
        run(suite, "-m", "daily", "-k", "flag")
        folders = sorted(
            (p for p in (suite.path / "reports").iterdir() if (p / "manifest.json").exists()),
            key=lambda p: json.loads((p / "manifest.json").read_text())["seq"],
        )
        data = json.loads((folders[-1] / "results.json").read_text())
        validate_results(data)
        return data["run"]["started"], data["checks"][0]["change"]

    flag.touch()
    first_started, first = change()
    assert first["status"] == "first run" and first["failing_since"] == first_started
    _, second = change()
    assert second["status"] == "still failing" and second["failing_since"] == first_started
    assert second["previous_outcome"] == "failed"
    _, third = change()
    assert third["failing_since"] == first_started  # carried over the whole streak
    flag.unlink()
    _, fixed = change()
    assert fixed["status"] == "fixed" and fixed["failing_since"] is None
    flag.touch()
    started, again = change()
    assert again["status"] == "newly failing" and again["failing_since"] == started
