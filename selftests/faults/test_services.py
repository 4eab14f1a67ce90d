"""Fault injection on the services: Vault, PostgreSQL, the QSIGN apps, Prometheus data.

Each test breaks the watched thing for real, sees the check fail with a message naming
the fault, repairs it, and sees the check pass again.
"""

from __future__ import annotations

import re

import pytest

from selftests.faults.common import app_misbehaving, fails_with
from selftests.harness import broken
from testenv import apps, postgres, vault

pytestmark = pytest.mark.usefixtures("testenv_up")


def test_health_endpoints_fail_when_vault_is_sealed(checks):
    with checks.fails_then_recovers(
        "daily.health-endpoints", broken(vault.seal, vault.unseal), message=lambda m: "vault: DOWN" in m
    ) as r:
        assert "api-server /health/ready (HTTP 503" in r.message
        assert "signature-service /health/ready" in r.message


def test_health_endpoints_fail_when_a_service_is_down(checks):
    with checks.fails_then_recovers("daily.health-endpoints", broken(lambda: _stop_app("api-server"), apps.up)) as r:
        assert "api-server /health (connection refused)" in r.message


def _stop_app(app: str) -> None:
    from testenv import procs

    procs.stop(apps.proc_name(app))


def test_hsm_connected_fails_when_the_hsm_link_drops(checks):
    with checks.fails_then_recovers("daily.hsm-connected", app_misbehaving("hsm-adapter", hsm_connected=False)) as r:
        assert r.message == "hsm-adapter reports HSM connection DOWN (HTTP 503)"
        assert r.evidence["measured"] == "DOWN"


# case -> (check, the fault, its outcome (at the first run, without waiting), the message in full)
STOPPED_SERVER_OUTCOMES = {
    "vault down": (
        "daily.vault-unsealed",
        lambda: broken(vault.stop_server, vault.start_server),
        "failed",
        re.escape("Vault at http://127.0.0.1:18200 unreachable: connection refused"),
    ),
    # Reading through a down Vault cannot evaluate the audit log: error, not failure.
    "audit log through a down vault": (
        "daily.audit-log",
        lambda: broken(vault.stop_server, vault.start_server),
        "error",
        re.escape("could not evaluate: Vault at http://127.0.0.1:18200 unreachable: connection refused"),
    ),
    "postgres down": (
        "daily.postgres-select1",
        lambda: broken(postgres.stop_server, postgres.start_server),
        "failed",
        re.escape("PostgreSQL opscheck@127.0.0.1:15432/qsign: ") + ".*(refused|could not connect).*",
    ),
}


@pytest.mark.parametrize("case", STOPPED_SERVER_OUTCOMES)
def test_a_stopped_server_is_seen_at_the_first_run(checks, case):
    check_id, fault, outcome, expected = STOPPED_SERVER_OUTCOMES[case]
    with fault():
        r = checks.one(check_id)
        assert r.outcome == outcome
        assert re.fullmatch(expected, r.message), r.message
    checks.until(check_id, "passed")


VAULT_FAULTS = {
    "sealed": (
        "daily.vault-unsealed",
        lambda: broken(vault.seal, vault.unseal),
        re.escape("Vault at http://127.0.0.1:18200 is sealed"),
    ),
    "no audit device": (
        "daily.audit-log",
        lambda: broken(vault.restart_without_audit, vault.start_server),
        re.escape("Vault at http://127.0.0.1:18200 has no audit device enabled"),
    ),
}


@pytest.mark.parametrize("case", VAULT_FAULTS)
def test_vault_checks_fail(checks, case):
    fails_with(checks, VAULT_FAULTS[case])


def test_disk_usage_fails_when_the_database_volume_fills(checks):
    # Both the PVC (kubelet volume stats) and the node filesystem see the same tmpfs;
    # wait until both scrapes have caught up.
    with checks.fails_then_recovers(
        "daily.disk-usage",
        broken(lambda: postgres.fill_volume(90), postgres.clear_fill),
        timeout=60,
        message=lambda m: "volume qsign/data-postgresql-0" in m and "filesystem " in m,
    ) as r:
        assert re.search(r"volume qsign/data-postgresql-0 \(9\d(\.\d)?% used\)", r.message), r.message


LATENCY_FAULTS = {
    "api": (
        "daily.api-latency",
        lambda: app_misbehaving("api-server", latency_ms=900),
        r"average API response time over 20s \d+(\.\d)? ms is over the threshold 200 ms.*",
    ),
    "signatures": (
        "daily.signature-latency",
        lambda: app_misbehaving("signature-service", latency_ms=1500),
        r".*average signature time over 20s.*over the threshold 500 ms.*",
    ),
}


@pytest.mark.parametrize("case", LATENCY_FAULTS)
def test_latency_fails_when_responses_slow_down(checks, short_window_profile, case):
    fails_with(checks, LATENCY_FAULTS[case], timeout=120, profile=short_window_profile)


def test_latency_is_an_error_when_prometheus_has_no_data(checks, tmp_path):
    """A query that matches nothing cannot evaluate latency: error naming the query."""
    text = checks.profile.read_text().replace('app="api-server"', 'app="no-such-app"')
    profile = tmp_path / "nodata.yaml"
    profile.write_text(text)
    r = checks.one("daily.api-latency", profile=profile)
    assert r.outcome == "error"
    assert r.message.startswith("could not evaluate: Prometheus returned no samples for ")


@pytest.fixture
def short_window_profile(checks, tmp_path):
    """The demo profile with a 20 s latency window, so a fault and its repair show in seconds."""
    profile = tmp_path / "short-window.yaml"
    profile.write_text(checks.profile.read_text().replace("latency_window: 5m", "latency_window: 20s"))
    return profile
