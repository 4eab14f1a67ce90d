"""The parallel streams of the fault self-tests name tests and files that exist."""

from __future__ import annotations

import re
from pathlib import Path

from selftests.streams import SERVICES_FILES, SERVICES_TESTS, WHOLE_ENVIRONMENT_TESTS

FAULTS = Path(__file__).resolve().parents[1] / "faults"


def test_every_name_in_the_streams_is_a_fault_test() -> None:
    files = {p.name for p in FAULTS.glob("test_*.py")}
    tests = {name for p in FAULTS.glob("test_*.py") for name in re.findall(r"^def (test_\w+)", p.read_text(), re.M)}
    assert SERVICES_FILES <= files, sorted(SERVICES_FILES - files)
    assert (SERVICES_TESTS | WHOLE_ENVIRONMENT_TESTS) <= tests, sorted(
        (SERVICES_TESTS | WHOLE_ENVIRONMENT_TESTS) - tests
    )
