"""Fixtures of the self-tests; the harness itself is in selftests/harness.py."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from selftests.harness import CheckRunner
from selftests.phases import ENV_CHECKED_BY_PHASES
from selftests.streams import pytest_collection_modifyitems, pytest_configure  # noqa: F401 (hooks)

# The project's suite root: its runbooks/ hold the items the generated suites' checks cover.
REPO = Path(__file__).resolve().parents[1]
# The lived faults on kind (selftests/kind/, `make test-kind`) need a kind cluster and minutes:
# never collected by `make test` or a plain `pytest selftests`.
collect_ignore = [] if os.environ.get("OPSCHECK_KIND") == "1" else ["kind"]


@pytest.fixture(autouse=True)
def suite_runbooks(request: pytest.FixtureRequest) -> None:
    """A generated (pytester) suite is a suite like the project's: it has the project's
    runbooks/ at its root, the items its checks' covers= keys name (opscheck/runbook.py)."""
    if "pytester" in request.fixturenames:
        pytester: pytest.Pytester = request.getfixturevalue("pytester")
        shutil.copytree(REPO / "runbooks", pytester.path / "runbooks", dirs_exist_ok=True)


@pytest.fixture(scope="session")
def testenv_up() -> None:
    """The self-tests need the environment `make test` starts; fail loudly without it.
    Under selftests/phases.py the runner checked it before starting a phase's parallel
    processes: here a stream's own check could see another stream's fault (a removed
    attestation file) and take it for an environment that was never started."""
    if os.environ.get(ENV_CHECKED_BY_PHASES) == "1":
        return
    from testenv import __main__ as testenv_cli

    for name, module in testenv_cli.COMPONENTS:
        status = module.status()
        if not status.get("running", False):
            pytest.fail(
                f"test environment component {name} is not running: run `python -m testenv up` (make test does it)",
                pytrace=False,
            )


@pytest.fixture(scope="session")
def checks(testenv_up: None, tmp_path_factory: pytest.TempPathFactory) -> CheckRunner:
    return CheckRunner(tmp_path_factory.mktemp("checkruns"))


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """A minimal generated suite: a profile, a kubeconfig, daily and weekly checks.

    Test modules using it declare `pytest_plugins = ["pytester"]`.
    """
    from selftests.pluginsuite import make_suite

    return make_suite(pytester)
