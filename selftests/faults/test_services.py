"""Fault injection on the services: Vault, PostgreSQL, the QSIGN apps, Prometheus data.

Each test breaks the watched thing for real, sees the check fail with a message naming
the fault, repairs it, and sees the check pass again.
"""

from __future__ import annotations

import re

import pytest

from selftests.harness import broken
from testenv import apps, postgres, vault

pytestmark = pytest.mark.usefixtures("testenv_up")


def test_health_endpoints_fail_when_vault_is_sealed(checks):
    with broken(vault.seal, vault.unseal):
        r = checks.until("daily.health-endpoints", "failed", message=lambda m: "vault: DOWN" in m)
        assert "api-server /health/ready (HTTP 503" in r.message
        assert "signature-service /health/ready" in r.message
    checks.until("daily.health-endpoints", "passed")


def test_health_endpoints_fail_when_a_service_is_down(checks):
    with broken(lambda: _stop_app("api-server"), apps.up):
        r = checks.until("daily.health-endpoints", "failed")
        assert "api-server /health (connection refused)" in r.message
    checks.until("daily.health-endpoints", "passed")


def _stop_app(app: str) -> None:
    from testenv import procs

    procs.stop(apps.proc_name(app))


def test_hsm_connected_fails_when_the_hsm_link_drops(checks):
    with broken(
        lambda: apps.set_control("hsm-adapter", hsm_connected=False),
        lambda: apps.set_control("hsm-adapter", hsm_connected=None),
    ):
        r = checks.until("daily.hsm-connected", "failed")
        assert r.message == "hsm-adapter reports HSM connection DOWN (HTTP 503)"
        assert r.evidence["measured"] == "DOWN"
    checks.until("daily.hsm-connected", "passed")


def test_vault_unsealed_fails_when_sealed(checks):
    with broken(vault.seal, vault.unseal):
        r = checks.until("daily.vault-unsealed", "failed")
        assert r.message == "Vault at http://127.0.0.1:18200 is sealed"
    checks.until("daily.vault-unsealed", "passed")


def test_vault_unsealed_fails_when_vault_is_down(checks):
    with broken(vault.stop_server, vault.start_server):
        r = checks.one("daily.vault-unsealed")
        assert r.outcome == "failed"
        assert r.message == "Vault at http://127.0.0.1:18200 unreachable: connection refused"
    checks.until("daily.vault-unsealed", "passed")


def test_audit_log_fails_without_an_audit_device(checks):
    with broken(vault.restart_without_audit, vault.start_server):
        r = checks.until("daily.audit-log", "failed")
        assert r.message == "Vault at http://127.0.0.1:18200 has no audit device enabled"
    checks.until("daily.audit-log", "passed")


def test_audit_log_is_an_error_when_vault_is_down(checks):
    """Reading through a down Vault cannot evaluate the audit log: error, not failure."""
    with broken(vault.stop_server, vault.start_server):
        r = checks.one("daily.audit-log")
        assert r.outcome == "error"
        assert r.message == "could not evaluate: Vault at http://127.0.0.1:18200 unreachable: connection refused"
    checks.until("daily.audit-log", "passed")


def test_postgres_select1_fails_when_the_server_stops(checks):
    with broken(postgres.stop_server, postgres.start_server):
        r = checks.one("daily.postgres-select1")
        assert r.outcome == "failed"
        assert r.message.startswith("PostgreSQL opscheck@127.0.0.1:15432/qsign: ")
        assert "refused" in r.message or "could not connect" in r.message
    checks.until("daily.postgres-select1", "passed")


def test_disk_usage_fails_when_the_database_volume_fills(checks):
    with broken(lambda: postgres.fill_volume(90), postgres.clear_fill):
        # Both the PVC (kubelet volume stats) and the node filesystem see the same tmpfs;
        # wait until both scrapes have caught up.
        r = checks.until(
            "daily.disk-usage",
            "failed",
            timeout=60,
            message=lambda m: "volume qsign/data-postgresql-0" in m and "filesystem " in m,
        )
        assert re.search(r"volume qsign/data-postgresql-0 \(9\d(\.\d)?% used\)", r.message), r.message
    checks.until("daily.disk-usage", "passed", timeout=60)


def test_api_latency_fails_when_responses_slow_down(checks, short_window_profile):
    with broken(
        lambda: apps.set_control("api-server", latency_ms=900), lambda: apps.set_control("api-server", latency_ms=None)
    ):
        r = checks.until("daily.api-latency", "failed", timeout=120, profile=short_window_profile)
        assert re.match(r"average API response time over 20s \d+(\.\d)? ms is over the threshold 200 ms", r.message), (
            r.message
        )
    checks.until("daily.api-latency", "passed", timeout=120, profile=short_window_profile)


def test_signature_latency_fails_when_signing_slows_down(checks, short_window_profile):
    with broken(
        lambda: apps.set_control("signature-service", latency_ms=1500),
        lambda: apps.set_control("signature-service", latency_ms=None),
    ):
        r = checks.until("daily.signature-latency", "failed", timeout=120, profile=short_window_profile)
        assert "average signature time over 20s" in r.message and "over the threshold 500 ms" in r.message
    checks.until("daily.signature-latency", "passed", timeout=120, profile=short_window_profile)


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
