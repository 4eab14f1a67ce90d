"""The ledger in real runs (pytester): signed runs, private folders, signed waivers and
attestations required by the profile, and no cache left behind by a killed run."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from datetime import date, timedelta
from pathlib import Path

import pytest

from opscheck.record.signing import INPUT_NAMESPACE, LEDGER_NAMESPACE
from selftests.pluginsuite import only_run_folder, run, verify

pytest_plugins = ["pytester"]


def keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


def ssh_sign(key: Path, path: Path) -> None:
    subprocess.run(["ssh-keygen", "-Y", "sign", "-q", "-f", str(key), "-n", INPUT_NAMESPACE, str(path)], check=True)


@pytest.fixture
def signed_suite(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """The suite's profile signing its runs with an ssh key and an HMAC key from the environment;
    `jane.doe` may sign inputs."""
    runs_key = keygen(suite.path / "runs_ed25519")
    jane = keygen(suite.path / "jane_ed25519")
    (suite.path / "allowed_signers").write_text(
        f'opscheck namespaces="{LEDGER_NAMESPACE}" {runs_key.with_suffix(".pub").read_text()}'
        f'jane.doe namespaces="{INPUT_NAMESPACE}" {jane.with_suffix(".pub").read_text()}'
    )
    monkeypatch.setenv("OPSCHECK_TEST_LEDGER_KEY", "a shared ledger key")
    profile = suite.path / "profile.yaml"
    profile.write_text(
        profile.read_text().rstrip()
        + textwrap.dedent("""
        reporting:
          signing:
            ssh_key: runs_ed25519
            allowed_signers: allowed_signers
            hmac_key: {env: OPSCHECK_TEST_LEDGER_KEY}
        """)
    )
    return suite


def test_signed_runs_verify_with_the_profile_and_are_private(signed_suite):
    run(signed_suite, "-m", "weekly")
    folder = only_run_folder(signed_suite)
    run(signed_suite, "-m", "weekly")
    assert (folder / "manifest.json.sig").is_file() and (folder / "manifest.json.hmac").is_file()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == {0o600}
    out = subprocess.run(
        [sys.executable, "-m", "opscheck", "verify", "reports", "--env", "profile.yaml"],
        capture_output=True,
        text=True,
        cwd=signed_suite.path,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 run(s)" in out.stdout and "signatures verified (ssh (opscheck" in out.stdout and "+ hmac" in out.stdout


def test_group_readable_run_folders(suite):
    profile = suite.path / "profile.yaml"
    profile.write_text(profile.read_text().rstrip() + "\nreporting: {group_readable: true}\n")
    run(suite, "-m", "weekly")
    folder = only_run_folder(suite)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o750
    assert {stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == {0o640}
    assert verify(suite.path / "reports").returncode == 0


def require_signed_inputs(suite: pytest.Pytester) -> None:
    profile = suite.path / "profile.yaml"
    profile.write_text(profile.read_text().rstrip() + "\n    require_signed_inputs: true\n")


def test_unsigned_or_badly_signed_waivers_are_refused_signed_ones_count(signed_suite):
    require_signed_inputs(signed_suite)
    waivers = signed_suite.path / "waivers.yaml"
    expires = (date.today() + timedelta(days=30)).isoformat()
    waivers.write_text(
        f"waivers:\n  - {{check: daily.fails, justification: j, approver: jane.doe, ticket: T-1, expires: {expires}}}\n"
    )
    profile = signed_suite.path / "profile.yaml"
    profile.write_text(profile.read_text().replace("reporting:", "waivers: waivers.yaml\nreporting:"))
    args = ("-m", "daily", "-k", "fails")
    unsigned = run(signed_suite, *args)
    assert unsigned.ret == 4
    assert "waivers.yaml: waivers file not accepted: no OpenSSH signature" in unsigned.stderr.str()
    ssh_sign(signed_suite.path / "jane_ed25519", waivers)
    signed = run(signed_suite, *args)
    assert signed.ret == 0, signed.stdout.str() + signed.stderr.str()
    signed.stdout.fnmatch_lines(["opscheck: waived: daily.fails (T-1*"])
    waivers.write_text(waivers.read_text().replace("T-1", "T-2"))  # changed after signing
    changed = run(signed_suite, *args)
    assert changed.ret == 4 and "OpenSSH signature does not verify" in changed.stderr.str()
    assert len([line for line in changed.stderr.str().splitlines() if line.strip()]) == 1


def test_an_attestation_signed_by_an_unknown_key_is_refused(signed_suite):
    require_signed_inputs(signed_suite)
    att = signed_suite.path / "att"
    att.mkdir()
    (att / "docs.yaml").write_text(
        textwrap.dedent("""\
        attestations:
          - {item: 001.monthly.docs-update, who: kim, role: tech_lead, when: 2026-11-20T09:12:00Z,
             evidence: "https://jira.example.com/browse/OPS-1", valid_days: 30}
        """)
    )
    ssh_sign(keygen(signed_suite.path / "stranger_ed25519"), att / "docs.yaml")
    profile = signed_suite.path / "profile.yaml"
    profile.write_text(
        profile.read_text().replace(
            "reporting:", "attestations: {dir: att, items: {001.monthly.docs-update: {roles: [tech_lead]}}}\nreporting:"
        )
    )
    result = run(signed_suite, "-m", "daily")
    assert result.ret == 4
    assert "docs.yaml: attestation file not accepted: signed by a key that is not in allowed_signers" in (
        result.stderr.str()
    )


SLOW_CHECK = """
import os, time
from opscheck.check import check

@check(id="daily.slow", title="slow", severity="low", covers=["000.daily.pods-running"], remediation="x")
def test_slow(evidence, run_cache):
    with open(os.environ["OPSCHECK_TEST_MARKER"], "w") as f:
        f.write(str(run_cache.directory))
    time.sleep(120)
"""


def test_a_killed_run_leaves_no_cache_and_no_partial_folder_behind(suite, monkeypatch):
    """SIGKILL cannot be caught: the next run removes what the killed one left."""
    tmp = suite.path / "tmp"
    tmp.mkdir()
    marker = suite.path / "cache-dir.txt"
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setenv("OPSCHECK_TEST_MARKER", str(marker))
    (suite.path / "tests_daily" / "test_slow.py").write_text(SLOW_CHECK)
    killed = subprocess.Popen(
        [sys.executable, "-m", "pytest", f"--env={suite.path / 'profile.yaml'}", "--report-dir=reports"]
        + ["-m", "daily", "-k", "slow", "-p", "no:cacheprovider"],
        cwd=suite.path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marker.exists(), "the slow check never started"
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait(timeout=30)
    cache = Path(marker.read_text())
    assert cache.is_dir() and cache.parent == tmp  # left behind by the killed run
    partials = list((suite.path / "reports").glob(".partial-*"))
    assert partials
    marker.unlink()
    result = run(suite, "-m", "daily", "-k", "passes")
    assert result.ret == 0, result.stdout.str()
    assert not cache.exists(), "the killed run's cache is still there"
    assert not any(p.exists() for p in partials), "the killed run's partial folder is still there"
    assert list(tmp.glob("opscheck-run-*")) == []  # and the run's own cache is gone too
