"""The parallel streams of the fault self-tests name tests and files that exist, once."""

from __future__ import annotations

import re
from pathlib import Path

from selftests.streams import (
    APPS_FILES,
    APPS_TESTS,
    HOSTS_FILES,
    HOSTS_TESTS,
    SEPARATE_WORLD_FILES,
    WHOLE_ENVIRONMENT_TESTS,
)

FAULTS = Path(__file__).resolve().parents[1] / "faults"
RUNS = FAULTS.parent / "runs"


def test_every_name_in_the_streams_is_a_fault_test() -> None:
    files = {p.name for p in FAULTS.glob("test_*.py")}
    tests = {name for p in FAULTS.glob("test_*.py") for name in re.findall(r"^def (test_\w+)", p.read_text(), re.M)}
    assert (APPS_FILES | HOSTS_FILES) <= files, sorted((APPS_FILES | HOSTS_FILES) - files)
    assert SEPARATE_WORLD_FILES <= {p.name for p in RUNS.glob("test_*.py")}
    named = APPS_TESTS | HOSTS_TESTS | WHOLE_ENVIRONMENT_TESTS
    assert named <= tests, sorted(named - tests)


def test_no_file_or_test_is_in_two_streams() -> None:
    assert APPS_FILES & HOSTS_FILES == set()
    assert APPS_TESTS & HOSTS_TESTS == set()
    assert (APPS_TESTS | HOSTS_TESTS) & WHOLE_ENVIRONMENT_TESTS == set()
