"""A small generated suite for testing the plugin with pytester (no cluster needed).

`selftests/conftest.py` provides it as the `suite` fixture; the helpers here run it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:9", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: not-a-real-token}}]
contexts: [{name: ctx, context: {cluster: c, user: u}}]
current-context: ctx
"""

CHECKS = """
from opscheck.check import check
from opscheck.errors import DependencyError

@check(id="daily.passes", title="passes", severity="low", covers=["000.daily.pods-running"],
       remediation="nothing", also=["postdeploy"])
def test_passes(evidence):
    evidence.expect_none([], "pods not Running")

@check(id="daily.fails", title="fails", severity="critical", covers=["000.daily.pvc-bound"],
       remediation="kubectl describe pvc")
def test_fails(evidence):
    evidence.expect_none([{"object": "qsign/data-x", "detail": "Pending"},
                          {"object": "qsign/data-y", "detail": "Lost"}], "PVCs not Bound")

@check(id="daily.not-applicable", title="n/a", severity="medium", covers=["000.daily.hsm-connected"],
       remediation="none")
def test_not_applicable(evidence):
    import pytest
    pytest.skip("not applicable: no hsm_service in this profile")

@check(id="daily.errors", title="errors", severity="high", covers=["000.daily.vault-unsealed"],
       remediation="none")
def test_errors(evidence):
    raise DependencyError("Vault at http://127.0.0.1:1 unreachable: connection refused")
"""


def make_suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """A minimal suite: a profile, a kubeconfig, daily and weekly checks (and the project's
    runbooks/, as every pytester suite: selftests/conftest.py)."""
    pytester.makefile(".kubeconfig", kc=KUBECONFIG)
    pytester.makefile(
        ".yaml",
        profile=textwrap.dedent(f"""\
        name: unit
        clusters:
          - name: one
            kubeconfig: {pytester.path / "kc.kubeconfig"}
            context: ctx
        namespaces: [qsign]
        """),
    )
    pytester.makepyprojecttoml('[tool.pytest.ini_options]\naddopts = ["--strict-markers"]\n')
    daily = pytester.mkdir("tests_daily")
    (daily / "test_checks.py").write_text(CHECKS)
    weekly = pytester.mkdir("tests_weekly")
    write_passing_check(weekly / "test_weekly.py", "weekly.only", "weekly", "000.weekly.latency-7d")
    return pytester


def write_passing_check(path: Path, check_id: str, title: str, covers: str, remediation: str = "x") -> None:
    """A check module holding one check that passes, its test named `test_<title>`."""
    path.write_text(
        textwrap.dedent(f"""
        from opscheck.check import check

        @check(id="{check_id}", title="{title}", severity="low", covers=["{covers}"], remediation="{remediation}")
        def test_{title}(evidence):
            pass
        """)
    )


def run(suite: pytest.Pytester, *args: str) -> pytest.RunResult:
    return run_checked(suite, f"--env={suite.path / 'profile.yaml'}", "--report-dir=reports", *args)


def run_checked(suite: pytest.Pytester, *args: str) -> pytest.RunResult:
    """`pytest *args` in the suite; every run folder it writes must have records that agree
    with its results.json (terminal, exit code, junit.xml, report.html)."""
    from selftests.harness import assert_records_agree, new_run_folders

    report_dirs = [suite.path / a.split("=", 1)[1] for a in args if a.startswith("--report-dir=")]
    reports = report_dirs[-1] if report_dirs else suite.path / "reports"
    before = set(new_run_folders(reports, set()))
    result = runpytest_forked(suite, *args)
    for folder in new_run_folders(reports, before):
        assert_records_agree(folder, terminal=result.stdout.str(), exit_code=result.ret)
    return result


def runpytest_forked(suite: pytest.Pytester, *args: str) -> pytest.RunResult:
    """`suite.runpytest_subprocess(*args)` in effect: a fresh `python -m pytest` process in
    the suite's folder with the test's environment (pytester's HOME, ...), forked from the
    harness's fork server instead of started cold (selftests/forkserver.py: 2 s less a run)."""
    from selftests.harness import _FORK_SERVER

    basetemp = suite.path / f"runpytest-{len(list(suite.path.glob('runpytest-*')))}"
    started = time.monotonic()
    proc = _FORK_SERVER.run([f"--basetemp={basetemp}", *args], cwd=suite.path, env=dict(os.environ), timeout=600)
    return pytest.RunResult(
        proc.returncode, proc.stdout.splitlines(), proc.stderr.splitlines(), time.monotonic() - started
    )


def only_run_folder(suite: pytest.Pytester) -> Path:
    folders = [p for p in (suite.path / "reports").iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert len(folders) == 1, folders
    return folders[0]


def verify(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "opscheck", "verify", str(path)], capture_output=True, text=True)
