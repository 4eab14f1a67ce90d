"""The ledger against tampering: runs sealed by the real commit code (opscheck.record.ledger),
then changed on disk as an intruder would, and `python -m opscheck verify` run on them."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from opscheck.record.ledger import HEAD, MANIFEST, Permissions, commit_run, run_files, verify_ledger
from opscheck.record.signing import LEDGER_NAMESPACE, Signer, Verifier

HMAC_KEY = b"correct horse battery staple"


@pytest.fixture(scope="module")
def ssh_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An ed25519 key (no passphrase) and an allowed_signers file naming it as `opscheck`."""
    folder = tmp_path_factory.mktemp("keys")
    key = folder / "ledger_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ledger", "-f", str(key)], check=True)
    allowed = folder / "allowed_signers"
    allowed.write_text(f'opscheck namespaces="{LEDGER_NAMESPACE}" {(key.with_suffix(".pub")).read_text()}')
    return key, allowed


def seal(reports: Path, n: int, signer: Signer | None = None, group_readable: bool = False) -> list[Path]:
    """`n` runs sealed one after the other, oldest first."""
    runs = []
    reports.mkdir(exist_ok=True)
    for i in range(n):
        partial = reports / f".partial-run{i}"
        partial.mkdir()
        (partial / "results.json").write_text(json.dumps({"run": {"n": i}, "checks": []}))
        (partial / "junit.xml").write_text("<testsuites/>")
        runs.append(
            commit_run(
                reports,
                partial,
                f"2026120{i}T000000Z-daily-unit",
                signer=signer,
                permissions=Permissions.of(group_readable),
            )
        )
    return runs


def verify_cli(reports: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opscheck", "verify", str(reports), *args], capture_output=True, text=True, timeout=60
    )


def rewrite_chain(reports: Path, runs: list[Path]) -> None:
    """What someone with write access does to change history without leaving a seam: change a
    result, then recompute every manifest, link and the head (the unsigned ledger's weakness)."""
    (runs[0] / "results.json").write_text(json.dumps({"run": {"n": 0}, "checks": [], "forged": True}))
    previous = None
    for folder in runs:
        m = json.loads((folder / MANIFEST).read_text())
        m["files"] = run_files(folder)
        m["previous"] = previous
        (folder / MANIFEST).write_text(json.dumps(m, indent=2, sort_keys=True) + "\n")
        previous = {"run": folder.name, "manifest_sha256": _sha(folder / MANIFEST)}
    last = json.loads((runs[-1] / MANIFEST).read_text())
    (reports / HEAD).write_text(
        json.dumps({"head": {"run": runs[-1].name, "seq": last["seq"], "manifest_sha256": _sha(runs[-1] / MANIFEST)}})
    )


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_intact_ledger_prints_and_trusts_its_head(tmp_path):
    runs = seal(tmp_path / "reports", 3)
    out = verify_cli(tmp_path / "reports")
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"trusted head {runs[-1].name} seq 3 manifest sha256 {_sha(runs[-1] / MANIFEST)}" in out.stdout


def test_an_empty_or_foreign_directory_is_not_a_ledger(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    foreign = tmp_path / "foreign"
    (foreign / "sub").mkdir(parents=True)
    (foreign / "x.txt").write_text("x")
    for folder in (empty, foreign):
        out = verify_cli(folder)
        assert out.returncode == 2, out.stdout
        assert out.stdout == "" and len(out.stderr.strip().splitlines()) == 1
        assert "is not a ledger" in out.stderr


def test_deleting_everything_is_not_intact(tmp_path):
    reports = tmp_path / "reports"
    runs = seal(reports, 2)
    anchor = _sha(runs[-1] / MANIFEST)
    for run in runs:
        shutil.rmtree(run)
    out = verify_cli(reports)  # the head remains
    assert out.returncode == 1 and "every run removed" in out.stdout
    (reports / HEAD).unlink()
    (reports / ".ledger.lock").unlink(missing_ok=True)
    assert verify_cli(reports).returncode == 2  # nothing left: not a ledger, never "intact"
    out = verify_cli(reports, "--expect-head", anchor)
    assert out.returncode == 1 and "expected head" in out.stdout


def test_deleting_the_newest_run_and_the_head(tmp_path):
    reports = tmp_path / "reports"
    runs = seal(reports, 3)
    anchor = _sha(runs[-1] / MANIFEST)
    shutil.rmtree(runs[-1])
    (reports / HEAD).unlink()
    out = verify_cli(reports)
    assert out.returncode == 1 and f"BROKEN {HEAD}: missing while 2 sealed run(s) exist" in out.stdout
    # An intruder who also writes a consistent head is caught by the anchored head only.
    m = json.loads((runs[1] / MANIFEST).read_text())
    (reports / HEAD).write_text(
        json.dumps({"head": {"run": runs[1].name, "seq": m["seq"], "manifest_sha256": _sha(runs[1] / MANIFEST)}})
    )
    assert verify_cli(reports).returncode == 0
    out = verify_cli(reports, "--expect-head", anchor)
    assert out.returncode == 1 and "that run was removed or rewritten" in out.stdout


def test_a_file_added_in_a_subfolder_of_a_sealed_run(tmp_path):
    runs = seal(tmp_path / "reports", 2)
    (runs[0] / "assets").mkdir()
    (runs[0] / "assets" / "extra.js").write_text("alert(1)")
    (runs[1] / "empty").mkdir()
    out = verify_cli(tmp_path / "reports")
    assert out.returncode == 1
    assert f"BROKEN {runs[0].name}: assets/extra.js added after the run was sealed" in out.stdout
    assert f"BROKEN {runs[1].name}: empty/ added after the run was sealed" in out.stdout


def test_a_rewritten_chain_passes_unsigned_but_not_signed(tmp_path, ssh_key):
    key, allowed = ssh_key
    plain = tmp_path / "plain"
    runs = seal(plain, 3)
    rewrite_chain(plain, runs)
    assert verify_cli(plain).returncode == 0  # the documented limit of an unsigned ledger

    for name, signer, args in (
        ("ssh", Signer(ssh_key=key), ["--allowed-signers", str(allowed)]),
        ("hmac", Signer(hmac_key=HMAC_KEY), ["--hmac-key-env", "LEDGER_TEST_KEY"]),
    ):
        reports = tmp_path / name
        runs = seal(reports, 3, signer)
        env_args = {"env": {"LEDGER_TEST_KEY": HMAC_KEY.decode(), "PATH": "/usr/bin:/bin"}}
        ok = subprocess.run(
            [sys.executable, "-m", "opscheck", "verify", str(reports), *args],
            capture_output=True,
            text=True,
            **env_args,
        )
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "signatures verified" in ok.stdout
        rewrite_chain(reports, runs)
        out = subprocess.run(
            [sys.executable, "-m", "opscheck", "verify", str(reports), *args],
            capture_output=True,
            text=True,
            **env_args,
        )
        assert out.returncode == 1, out.stdout
        assert f"BROKEN {runs[0].name}: manifest.json signature:" in out.stdout
        assert f"BROKEN {HEAD}: signature:" in out.stdout


def test_signed_ledger_deleting_the_newest_run_and_restoring_an_unsigned_head(tmp_path, ssh_key):
    key, allowed = ssh_key
    reports = tmp_path / "reports"
    runs = seal(reports, 3, Signer(ssh_key=key))
    verifier = Verifier(allowed_signers=allowed, identity="opscheck")
    shutil.rmtree(runs[-1])
    (reports / HEAD).unlink()
    assert any("missing while" in p.text for p in verify_ledger(reports, verifier).problems)
    m = json.loads((runs[1] / MANIFEST).read_text())
    (reports / HEAD).write_text(
        json.dumps({"head": {"run": runs[1].name, "seq": m["seq"], "manifest_sha256": _sha(runs[1] / MANIFEST)}})
    )
    problems = verify_ledger(reports, verifier).problems
    assert [p.text for p in problems if p.run == HEAD] == ["signature: no OpenSSH signature: the head was rewritten"], (
        problems
    )


def test_another_key_does_not_verify(tmp_path, ssh_key):
    _, allowed = ssh_key
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    reports = tmp_path / "reports"
    seal(reports, 1, Signer(ssh_key=other))
    out = verify_cli(reports, "--allowed-signers", str(allowed))
    assert out.returncode == 1 and "OpenSSH signature does not verify" in out.stdout


def test_a_crash_between_rename_and_head_write_is_completed_not_tampering(tmp_path, ssh_key):
    """The state a crash leaves (the run renamed in, the head still naming the run before) is
    made by sealing a run and putting the previous head back; the next run completes it."""
    key, allowed = ssh_key
    reports = tmp_path / "reports"
    signer = Signer(ssh_key=key, hmac_key=HMAC_KEY)
    seal(reports, 2, signer)
    before = (reports / HEAD).read_bytes()
    partial = reports / ".partial-crash"
    partial.mkdir()
    (partial / "results.json").write_text("{}")
    crashed = commit_run(reports, partial, "20261210T000000Z-daily-unit", signer=signer)
    (reports / HEAD).write_bytes(before)  # the head write never happened
    verifier = Verifier(allowed_signers=allowed, hmac_key=HMAC_KEY, identity="opscheck")
    verdict = verify_ledger(reports, verifier)
    assert verdict.problems == [] and any("one run behind" in n for n in verdict.notes), verdict
    # The first run's crash: no head at all yet.
    first = tmp_path / "first"
    seal(first, 1, signer)
    (first / HEAD).unlink()
    verdict = verify_ledger(first, verifier)
    assert verdict.problems == [] and verdict.notes
    # The next run completes the head, then chains on; twice in a row changes nothing more.
    nxt = seal(reports, 1, signer)[0]
    m = json.loads((nxt / MANIFEST).read_text())
    assert m["seq"] == 4 and m["previous"]["run"] == crashed.name
    verdict = verify_ledger(reports, verifier)
    assert verdict.problems == [] and verdict.notes == [] and verdict.head["run"] == nxt.name
    out = verify_cli(reports, "--allowed-signers", str(allowed))
    assert out.returncode == 0, out.stdout


def test_sealed_runs_are_private_or_group_readable(tmp_path):
    private = seal(tmp_path / "private", 1)[0]
    shared = seal(tmp_path / "shared", 1, group_readable=True)[0]
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in private.iterdir()} == {0o600}
    assert stat.S_IMODE((tmp_path / "private" / HEAD).stat().st_mode) == 0o600
    assert stat.S_IMODE(shared.stat().st_mode) == 0o750
    assert {stat.S_IMODE(p.stat().st_mode) for p in shared.iterdir()} == {0o640}


def test_verify_exports_the_trusted_head_as_a_metric(tmp_path):
    runs = seal(tmp_path / "reports", 2)
    out = verify_cli(tmp_path / "reports", "--textfile-dir", str(tmp_path / "textfile"))
    assert out.returncode == 0, out.stderr
    (prom,) = (tmp_path / "textfile").glob("opscheck-ledger-*.prom")
    text = prom.read_text()
    assert f'manifest_sha256="{_sha(runs[-1] / MANIFEST)}"' in text and f'run="{runs[-1].name}"' in text
    assert "opscheck_ledger_intact{" in text and "opscheck_ledger_head_seq{" in text
