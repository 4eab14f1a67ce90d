"""A small generated suite for testing the plugin with pytester (no cluster needed).

`selftests/conftest.py` provides it as the `suite` fixture; the helpers here run it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
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
    """A minimal suite: a profile, a kubeconfig, daily and weekly checks."""
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
    (weekly / "test_weekly.py").write_text(
        textwrap.dedent("""
        from opscheck.check import check

        @check(id="weekly.only", title="weekly", severity="low", covers=["000.weekly.latency-7d"], remediation="x")
        def test_weekly(evidence):
            pass
        """)
    )
    return pytester


def run(suite: pytest.Pytester, *args: str) -> pytest.RunResult:
    return suite.runpytest_subprocess(f"--env={suite.path / 'profile.yaml'}", "--report-dir=reports", *args)


def only_run_folder(suite: pytest.Pytester) -> Path:
    folders = [p for p in (suite.path / "reports").iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert len(folders) == 1, folders
    return folders[0]


def verify(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "opscheck", "verify", str(path)], capture_output=True, text=True)
