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
    with checks.fails_then_recovers(
        "daily.hsm-connected",
        broken(
            lambda: apps.set_control("hsm-adapter", hsm_connected=False),
            lambda: apps.set_control("hsm-adapter", hsm_connected=None),
        ),
    ) as r:
        assert r.message == "hsm-adapter reports HSM connection DOWN (HTTP 503)"
        assert r.evidence["measured"] == "DOWN"


def test_vault_unsealed_fails_when_sealed(checks):
    with checks.fails_then_recovers("daily.vault-unsealed", broken(vault.seal, vault.unseal)) as r:
        assert r.message == "Vault at http://127.0.0.1:18200 is sealed"


def test_vault_unsealed_fails_when_vault_is_down(checks):
    with broken(vault.stop_server, vault.start_server):
        r = checks.one("daily.vault-unsealed")
        assert r.outcome == "failed"
        assert r.message == "Vault at http://127.0.0.1:18200 unreachable: connection refused"
    checks.until("daily.vault-unsealed", "passed")


def test_audit_log_fails_without_an_audit_device(checks):
    with checks.fails_then_recovers("daily.audit-log", broken(vault.restart_without_audit, vault.start_server)) as r:
        assert r.message == "Vault at http://127.0.0.1:18200 has no audit device enabled"


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
    # Both the PVC (kubelet volume stats) and the node filesystem see the same tmpfs;
    # wait until both scrapes have caught up.
    with checks.fails_then_recovers(
        "daily.disk-usage",
        broken(lambda: postgres.fill_volume(90), postgres.clear_fill),
        timeout=60,
        message=lambda m: "volume qsign/data-postgresql-0" in m and "filesystem " in m,
    ) as r:
        assert re.search(r"volume qsign/data-postgresql-0 \(9\d(\.\d)?% used\)", r.message), r.message


def test_api_latency_fails_when_responses_slow_down(checks, short_window_profile):
    with checks.fails_then_recovers(
        "daily.api-latency",
        broken(
            lambda: apps.set_control("api-server", latency_ms=900),
            lambda: apps.set_control("api-server", latency_ms=None),
        ),
        timeout=120,
        profile=short_window_profile,
    ) as r:
        assert re.match(r"average API response time over 20s \d+(\.\d)? ms is over the threshold 200 ms", r.message), (
            r.message
        )


def test_signature_latency_fails_when_signing_slows_down(checks, short_window_profile):
    with checks.fails_then_recovers(
        "daily.signature-latency",
        broken(
            lambda: apps.set_control("signature-service", latency_ms=1500),
            lambda: apps.set_control("signature-service", latency_ms=None),
        ),
        timeout=120,
        profile=short_window_profile,
    ) as r:
        assert "average signature time over 20s" in r.message and "over the threshold 500 ms" in r.message


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
