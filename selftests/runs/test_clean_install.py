"""The daily checklist from a clean install: `pip install .` into a fresh virtualenv (PyPI),
the suite's directory copied out of this checkout, `pytest -m daily --env=environments/demo.yaml`
with that virtualenv's python against the healthy test environment: every check passes as
it does from the checkout (selftests/runs/test_daily_run.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selftests.cleaninstall import copy_suite, install_clean, run_in

pytestmark = pytest.mark.usefixtures("testenv_up")


@pytest.fixture(scope="session")
def clean_install(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the clean virtualenv's python, the copied suite), made once per session."""
    directory = tmp_path_factory.mktemp("clean-install")
    python, _ = install_clean(directory)
    return python, copy_suite(directory / "suite")


def test_the_daily_checklist_passes_from_a_clean_install(clean_install: tuple[Path, Path]) -> None:
    python, suite = clean_install
    proc = run_in(suite, python, "-m", "pytest", "-m", "daily", "--env=environments/demo.yaml", "--report-dir=reports")
    folders = [p for p in (suite / "reports").iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert len(folders) == 1, (proc.stdout[-3000:], proc.stderr[-3000:])
    data = json.loads((folders[0] / "results.json").read_text())
    not_passed = {c["id"]: c["outcome"] for c in data["checks"] if c["outcome"] != "passed"}
    # A fresh reports directory has no earlier run to judge the schedule against.
    assert not_passed == {"daily.checklists-on-schedule": "not applicable"}, not_passed
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert data["summary"]["outcomes"]["passed"] >= 28
    assert data["run"]["suite_version"] == "0.1.0"
