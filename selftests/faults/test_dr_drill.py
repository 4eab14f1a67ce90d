"""The quarterly DR drill broken for real: the Vault backup corrupted or gone, a manifest
the API server refuses in the newest manifest backup, an RTO below the measured time.
Each repaired, the drill passes again. (The database step is the restore drill's: its
faults are in test_database.py.)"""

from __future__ import annotations

import re

import pytest

from selftests.faults.common import FaultCase, fails_with
from testenv import dr_drill

DR_FAULTS: dict[str, FaultCase] = {
    "vault backup corrupted": (
        "quarterly.dr-drill",
        dr_drill.corrupt_vault_backup,
        r"DR drill: vault: backup openbao-\S+\.tar\.gz is not a readable tar\.gz of OpenBao's storage \(.+\)",
    ),
    "vault backup missing": (
        "quarterly.dr-drill",
        dr_drill.vault_backups_missing,
        r"DR drill: vault: no backup \(openbao-\*\.tar\.gz\) in backup:\S+/backups/vault",
    ),
    "manifest refused": (
        "quarterly.dr-drill",
        dr_drill.refused_manifest,
        rf"DR drill: manifests: Service qsign/{dr_drill.REFUSED_NAME} refused: HTTP 422 .*Unsupported value: \"Bogus\".*",
    ),
}


@pytest.mark.parametrize("case", DR_FAULTS)
def test_dr_drill_fails(checks, case):
    fails_with(checks, DR_FAULTS[case], timeout=60)


def test_dr_drill_fails_over_rto(checks, tmp_path):
    text = checks.profile.read_text()
    assert text.count("  rto_minutes: 30\n") == 1
    profile = tmp_path / "rto.yaml"
    profile.write_text(text.replace("  rto_minutes: 30\n", "  rto_minutes: 0.0001\n"))
    r = checks.until("quarterly.dr-drill", "failed", timeout=60, profile=profile)
    assert re.fullmatch(r"DR drill: the drill took \d+\.\d s, over the RTO 0\.0001 min \(0\.006 s\)", r.message), (
        r.message
    )
    assert [row[0] for row in r.evidence["rows"]] == ["database", "vault", "manifests"]
    assert all(row[-1] == "ok" for row in r.evidence["rows"])
    checks.until("quarterly.dr-drill", "passed", timeout=60)
