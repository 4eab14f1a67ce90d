"""No secret reaches any output, whatever the cadence.

Canary values are planted where the suite could meet a secret: a Kubernetes Secret in the
checked namespace, a Vault KV secret, and the environment variables a profile references
(the Vault token the checks authenticate with is itself a canary, and so is the Pushgateway
password); and where a check shows what it saw: a pod's log (a password, a bearer token and
a URL with credentials on ERROR and unauthorized-access lines, which the error-log and
abnormal-access checks quote), a Kubernetes Event's message (a password, a URL with
credentials, control characters), and a health endpoint's HTTP body (a token). Then every
cadence runs, and every file the run leaves, the terminal output and the exported metrics
are searched for the canary. A profile with credentials inside a URL is refused, naming
the key and not the secret.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from selftests.faults.common import app_logged
from selftests.harness import DEMO_PROFILE, validate_results
from selftests.jsonserver import serving_json
from testenv import apps, cluster, faults, prometheus, pushgateway, vault

pytestmark = pytest.mark.usefixtures("testenv_up")

EVERY_CADENCE = "daily or weekly or monthly or quarterly or predeploy or postdeploy"


@contextlib.contextmanager
def canaries_where_checks_quote(canary: str) -> Iterator[str]:
    """The canary in a pod's log, an Event message and a health body; all removed on exit.
    Yields the health endpoint's URL."""
    log_lines = [
        apps.format_message(
            "api-server",
            "ERROR",
            f"login to postgres://qsign:{canary}-log-url@db:5432/qsign failed: password={canary}-log-pw (canary {i})",
        )
        for i in range(12)
    ] + [
        apps.format_message(
            "api-server",
            "WARN",
            f"Unauthorized access attempt from 198.51.100.{i} status=401 Authorization: Bearer {canary}-bearer",
        )
        for i in range(25)
    ]
    event_message = (
        f"MountVolume.SetUp failed: password={canary}-event-pw from "
        f"https://robot:{canary}-event-url@registry.example/qsign \x1b[31mcanary-red\x1b[0m\rcanary-cr"
    )
    with contextlib.ExitStack() as stack:
        stack.enter_context(app_logged("api-server", log_lines))
        stack.enter_context(faults.event("qsign", "Deployment", "api-server", "Warning", "FailedMount", event_message))
        # A health answer without a status: the health check quotes it.
        yield stack.enter_context(serving_json({"access_token": f"{canary}-http"}))


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
    with canaries_where_checks_quote(canary) as health_url:
        data = yaml.safe_load(profile.read_text())
        data["services"].append({"name": "canary-service", "url": health_url, "health_paths": ["/health"]})
        profile.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
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
    # The planted values reached the record, masked: the checks quoted what they saw.
    results = json.dumps(data)
    for shown in ("password=****", "qsign:****@db:5432", "Bearer ****", "robot:****@registry.example"):
        assert shown in results, shown
    assert 'access_token\\": \\"****' in results  # the health body, quoted by the health check
    # Control characters in the Event message are shown, not acted on, in the terminal.
    assert "\x1b[31mcanary-red" not in proc.stdout and "\rcanary-cr" not in proc.stdout


@pytest.mark.parametrize("key", ["prometheus", "pushgateway", "vault"])
def test_credentials_inside_a_url_are_refused_naming_the_key_not_the_secret(checks, canary_profile, key):
    profile, env, canary = canary_profile
    data = yaml.safe_load(profile.read_text())
    section, field, where = {
        "prometheus": (data["prometheus"], "url", "prometheus.url"),
        "pushgateway": (data["export"]["pushgateway"], "url", "export.pushgateway.url"),
        "vault": (data["vault"], "address", "vault.address"),
    }[key]
    section[field] = section[field].replace("://", f"://opscheck:{canary}-in-url@")
    profile.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    proc, reports = checks.run_pytest("-m", "daily", profile=profile, env=env)
    assert proc.returncode == 4
    output = proc.stdout + proc.stderr
    assert f"{profile}: {where}: credentials in a URL" in output
    assert canary not in output
    assert not reports.exists() or not any(p for p in reports.iterdir() if not p.name.startswith("."))


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
