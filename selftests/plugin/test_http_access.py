"""Connection options users need (issue 12, point 6): a bearer token and a CA bundle for
HTTPS endpoints (health URLs, Prometheus, Alertmanager), and PostgreSQL's sslmode stated.

The endpoint is a real HTTPS server on 127.0.0.1 with a certificate from a private CA (made
with `cryptography`, as testenv/certs.py makes the test environment's), that answers only a
request carrying the right bearer token; the daily health check runs against it for real.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from opscheck.errors import ProfileError
from opscheck.profile import HttpAccess, SecretRef
from opscheck.sources.http import new_session
from selftests.harness import REPO
from selftests.jsonserver import serving_json

TOKEN = "opscheck-selftest-bearer-7f3a"


@pytest.fixture
def private_ca_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """An HTTPS /health endpoint whose certificate a private CA signed; it answers 200 UP
    to `Authorization: Bearer TOKEN` and 401 to anything else. Yields (URL, CA bundle)."""
    monkeypatch.setenv("OPSCHECK_TESTENV_HOME", str(tmp_path / "pki-home"))
    from testenv import certs

    pair = certs.server_cert("127.0.0.1", sans=["127.0.0.1"])
    cert_file, key_file, bundle = tmp_path / "server.crt", tmp_path / "server.key", tmp_path / "ca.pem"
    cert_file.write_bytes(pair.cert_pem)
    key_file.write_bytes(pair.key_pem)
    bundle.write_bytes(certs.ca().cert_pem)

    with serving_json({"status": "UP"}, tls=(cert_file, key_file), bearer=TOKEN) as url:
        yield url, bundle


def test_the_session_sends_the_token_and_verifies_against_the_bundle(private_ca_api, monkeypatch):
    url, bundle = private_ca_api
    monkeypatch.setenv("SELFTEST_BEARER", TOKEN)
    # Without the bundle: the private CA is not trusted (verification is never turned off).
    unknown_ca = new_session().probe(url + "/health", 5)
    assert (unknown_ca.status, unknown_ca.error) == (None, "TLS handshake failed")
    trusted = new_session()
    trusted.allow(url, HttpAccess(ca_bundle=str(bundle)))
    assert trusted.probe(url + "/health", 5).status == 401
    authorized = new_session()
    authorized.allow(url, HttpAccess(ca_bundle=str(bundle), bearer_token=SecretRef(env="SELFTEST_BEARER")))
    answer = authorized.probe(url + "/health", 5)
    assert (answer.status, answer.body) == (200, {"status": "UP"})
    # Another service of the same session gets neither the token nor the bundle.
    assert authorized.services_with_access() == {url}


def _profile(tmp_path: Path, service: dict) -> Path:
    kubeconfig = tmp_path / "unused.kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {"token": "unused"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    profile = tmp_path / "https.yaml"
    profile.write_text(
        yaml.safe_dump(
            {
                "name": "https",
                "clusters": [{"name": "one", "kubeconfig": str(kubeconfig), "context": "c"}],
                "namespaces": ["qsign"],
                "services": [service],
            }
        )
    )
    return profile


def _health_check(profile: Path, tmp_path: Path, env: dict[str, str]) -> tuple[dict, str]:
    """The real daily.health-endpoints check, in a run of its own; (its result, the output)."""
    reports = tmp_path / "reports"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "tests_daily/test_health.py", "-k", "test_health_endpoints", "-q"]
        + [f"--env={profile}", f"--report-dir={reports}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    [results] = reports.glob("*/results.json")
    [result] = [c for c in json.loads(results.read_text())["checks"] if c["id"] == "daily.health-endpoints"]
    return result, proc.stdout + proc.stderr + results.read_text()


def test_the_health_check_reads_a_private_ca_endpoint_with_its_token(private_ca_api, tmp_path, monkeypatch):
    url, bundle = private_ca_api
    env = {**os.environ, "SELFTEST_BEARER": TOKEN}
    service = {"name": "api", "url": url, "health_paths": ["/health"], "ready_path": "/health"}
    without, with_access = tmp_path / "without", tmp_path / "with"
    without.mkdir()
    with_access.mkdir()
    result, _ = _health_check(_profile(without, service), without, env)
    assert result["outcome"] == "failed" and "TLS handshake failed" in result["message"], result["message"]
    access = {"ca_bundle": str(bundle), "bearer_token": {"env": "SELFTEST_BEARER"}}
    result, everything = _health_check(_profile(with_access, {**service, **access}), with_access, env)
    assert result["outcome"] == "passed", result["message"]
    assert TOKEN not in everything  # the token reaches the server, never the record


def test_a_missing_ca_bundle_or_a_literal_token_is_refused_naming_the_key(tmp_path):
    from opscheck.profile import load_profile

    base = {"name": "api", "url": "https://127.0.0.1:9"}
    missing = _profile(tmp_path, {**base, "ca_bundle": str(tmp_path / "nope.pem")})
    with pytest.raises(ProfileError, match=r"services\[0\]\.ca_bundle: no CA bundle file at .*nope\.pem"):
        load_profile(missing)
    literal = _profile(tmp_path, {**base, "bearer_token": TOKEN})
    with pytest.raises(ProfileError, match=r"services\[0\]\.bearer_token") as raised:
        load_profile(literal)
    assert TOKEN not in str(raised.value)


def test_postgres_sslmode_must_be_stated(tmp_path):
    from opscheck.profile import load_profile

    path = _profile(tmp_path, {"name": "api", "url": "http://127.0.0.1:9"})
    data = yaml.safe_load(path.read_text())
    data["postgres"] = {"host": "db", "dbname": "app", "user": "opscheck"}
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ProfileError, match=r"postgres\.sslmode"):
        load_profile(path)
    data["postgres"]["sslmode"] = "verify-full"
    path.write_text(yaml.safe_dump(data))
    assert load_profile(path).postgres.sslmode == "verify-full"
