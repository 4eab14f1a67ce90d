"""No secret reaches any output, whatever the cadence.

Canary values are planted where the suite could meet a secret: a Kubernetes Secret in the
checked namespace, a Vault KV secret, and the environment variables a profile references
(the Vault token the checks authenticate with is itself a canary, and so is the Pushgateway
password). Then every cadence runs, and every file the run leaves, the terminal output and
the exported metrics are searched for the canary.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from selftests.harness import DEMO_PROFILE, validate_results
from testenv import cluster, prometheus, pushgateway, vault

pytestmark = pytest.mark.usefixtures("testenv_up")

EVERY_CADENCE = "daily or weekly or monthly or quarterly or predeploy or postdeploy"


@pytest.fixture
def canary_profile(tmp_path: Path) -> tuple[Path, dict[str, str], str]:
    canary = cluster.canary()  # the demo's Secret qsign/api-server-db holds it (testenv/cluster.py)
    token = vault.plant_canaries(canary)
    assert vault.read_canary_secret() == f"{canary}-vault-kv"
    profile = yaml.safe_load(DEMO_PROFILE.read_text())
    profile["vault"]["token"] = {"env": "OPSCHECK_CANARY_VAULT_TOKEN"}
    profile["export"]["pushgateway"].update(username="opscheck", password={"env": "OPSCHECK_CANARY_PUSH_PASSWORD"})
    path = tmp_path / "canary.yaml"
    path.write_text(yaml.safe_dump(profile, sort_keys=False, allow_unicode=True))
    env = {"OPSCHECK_CANARY_VAULT_TOKEN": token, "OPSCHECK_CANARY_PUSH_PASSWORD": f"{canary}-push"}
    return path, env, canary


def test_no_canary_in_any_output_of_any_cadence(checks, canary_profile):
    profile, env, canary = canary_profile
    proc, reports = checks.run_pytest("-m", EVERY_CADENCE, "-n", "2", profile=profile, env=env)
    (folder,) = [p for p in reports.iterdir() if p.is_dir() and not p.name.startswith(".")]
    data = json.loads((folder / "results.json").read_text())
    validate_results(data)
    assert set(data["run"]["cadences"]) == {"daily", "weekly", "monthly", "quarterly", "predeploy", "postdeploy"}
    # The canary token was used for real: the audit-device check reads sys/audit with it.
    audit = next(c for c in data["checks"] if c["id"] == "daily.audit-log")
    assert audit["outcome"] == "passed", audit["message"]
    outputs = {f"terminal ({name})": text for name, text in (("stdout", proc.stdout), ("stderr", proc.stderr))}
    outputs |= {str(p.relative_to(reports)): p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file()}
    outputs |= {str(p): p.read_text() for p in prometheus.textfile_dir().glob("opscheck-demo-*.prom")}
    outputs["pushgateway"] = pushgateway.metrics_text()
    assert len(outputs) >= 8
    leaked = [name for name, text in outputs.items() if canary in text]
    assert leaked == []


def test_a_wrong_vault_token_is_one_line_naming_vault_not_the_token(checks, canary_profile):
    profile, env, canary = canary_profile
    env = {**env, "OPSCHECK_CANARY_VAULT_TOKEN": f"{canary}-not-a-token"}
    out = checks.one("daily.audit-log", profile=profile, env=env)
    assert out.outcome == "error"
    assert out.message == (
        "could not evaluate: Vault at http://127.0.0.1:18200: the token from environment "
        "variable OPSCHECK_CANARY_VAULT_TOKEN is not allowed to list audit devices"
    )
    assert canary not in json.dumps(out.raw)
