"""opscheck/redact.py: every credential shape masked, ordinary text untouched, controls neutralised."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from opscheck.errors import ProfileError
from opscheck.profile import Profile, load_model
from opscheck.redact import MASK, mask, masked, printable

SECRET = "Zq7hunter2Secret"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA1c7"
    + SECRET
    + "\nAbCdEf0123456789\n-----END RSA PRIVATE KEY-----"
)

# (text with a secret, the secret that must be gone, what must remain)
SHAPES = [
    (f"login failed password={SECRET} user=bob", SECRET, "login failed password=**** user=bob"),
    (f"db_password: {SECRET}", SECRET, "db_password: ****"),
    (f"PGPASSWORD={SECRET} psql", SECRET, "PGPASSWORD=**** psql"),
    (f'{{"user": "bob", "password": "{SECRET}"}}', SECRET, '{"user": "bob", "password": "****"}'),
    (f"{{'password': '{SECRET}'}}", SECRET, "{'password': '****'}"),
    (f'password = "{SECRET} with spaces"', SECRET, 'password = "****"'),
    (f"GET http://alice:{SECRET}@db.example:5432/app", SECRET, "GET http://alice:****@db.example:5432/app"),
    (f"clone https://{SECRET}@git.example/x.git", SECRET, "clone https://****@git.example/x.git"),
    (f"cut off at https://robot:{SECRET[:9]}", SECRET[:9], "cut off at https://robot:****"),
    (f"Authorization: Bearer {SECRET}", SECRET, "Authorization: Bearer ****"),
    (f"authorization={SECRET}", SECRET, "authorization=****"),
    (f"header Bearer {SECRET} sent", SECRET, "header Bearer **** sent"),
    ("Authorization: Basic YWxpY2U6c2VjcmV0", "YWxpY2U6c2VjcmV0", "Authorization: Basic ****"),
    (f"token {JWT} rejected", JWT, "token **** rejected"),
    (f"cut off {JWT[:60]}", JWT[:60], "cut off ****"),
    ("aws key AKIAIOSFODNN7EXAMPLE in env", "AKIAIOSFODNN7EXAMPLE", "aws key **** in env"),
    (f"aws_secret_access_key={SECRET}", SECRET, "aws_secret_access_key=****"),
    ("google AIzaSyA1234567890abcdefghijklmnopqrstuv", "AIzaSyA1234567890", "google ****"),
    (f'{{"type": "service_account", "private_key": "{SECRET}"}}', SECRET, None),
    (f"DefaultEndpointsProtocol=https;AccountName=a;AccountKey={SECRET};", SECRET, None),
    (f"https://a.blob.core.windows.net/c?sv=2021&sig={SECRET}&se=1", SECRET, None),
    (f"key {PEM} end", SECRET, "key -----BEGIN RSA PRIVATE KEY----- **** -----END RSA PRIVATE KEY----- end"),
    (f"truncated -----BEGIN PRIVATE KEY-----\nMIIE{SECRET}", SECRET, None),
    ("vault token hvs.CAESIJlWh1fGq2bD0xYzYk9uTm9wQXNkZmdo used", "hvs.CAESIJ", "vault token **** used"),
    ("legacy s.Xk4Pw9RmN2bQ7vTzLc8YhJ5d ok", "s.Xk4Pw9", "legacy **** ok"),
    (f"X-Vault-Token: {SECRET}", SECRET, "X-Vault-Token: ****"),
    (f"?api_key={SECRET}&page=2", SECRET, "?api_key=****&page=2"),
    (f"token={SECRET}", SECRET, "token=****"),
    (f"client_secret: {SECRET}", SECRET, "client_secret: ****"),
]


@pytest.mark.parametrize(("text", "secret", "expected"), SHAPES, ids=[s[0][:30] for s in SHAPES])
def test_each_credential_shape_is_masked(text, secret, expected):
    out = mask(text)
    assert secret not in out
    assert MASK in out
    if expected is not None:
        assert out == expected
    assert mask(out) == out  # idempotent: a record masked twice reads the same


ORDINARY = [
    "permission denied: 0 (limit 10); root-token requests: 3 (limit none, reported only)",
    "12 pods not Running: qsign/api-server-7d9f (CrashLoopBackOff), qsign/db-0 (Pending)",
    "Vault at http://127.0.0.1:18200: the token from environment variable X is not allowed to list audit devices",
    "secret not available: environment variable OPSCHECK_TOKEN is not set",
    "Secret qsign/api-server-db expires in 12 days (secretName: api-server-tls)",
    "Basic checks passed; Token expired for 3 service accounts",
    "node CPU usage 93.5% is over the threshold 80%",
    "https://prometheus.example:9090/api/v1/query?query=up&time=1700000000",
    "2026-12-05T08:00:00Z ERROR [api-server] connection reset by peer (attempt 3/5)",
    "tokens: 5 issued, passwords rotated, secrets listed",
    "s.short and eyJ alone",
    "ends with http://127.0.0.1:9090",
    "image registry.example/qsign/api:1.4.2@sha256:" + "a" * 64,
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_text_is_untouched(text):
    assert mask(text) == text
    assert printable(text) == text


def test_control_characters_are_shown_not_acted_on():
    hostile = "ok\x1b[31mRED\x1b[0m\rOVERWRITE\x07\x9b2J\u202eevil\x00"
    out = printable(hostile)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c == "\u202e" for c in out)
    assert out == "ok\\x1b[31mRED\\x1b[0m\\x0dOVERWRITE\\x07\\x9b2J\\u202eevil\\x00"
    assert printable("a\nb\tc") == "a\nb\tc"
    assert printable("a\nb\tc", one_line=True) == "a\\nb\\tc"


def test_masked_walks_containers_and_keeps_other_values():
    value = {"rows": [["qsign/x", f"password={SECRET}", 3, None]], "notes": (f"Bearer {SECRET}",), "n": 1.5}
    out = masked(value)
    assert SECRET not in json.dumps(out)
    assert out["rows"][0][2:] == [3, None] and out["n"] == 1.5
    assert isinstance(out["notes"], tuple)


# -- the profile refuses credentials inside URLs -----------------------------------------------
DEMO = Path(__file__).resolve().parents[2] / "environments" / "demo.yaml"


@pytest.mark.parametrize(
    ("key_path", "url"),
    [
        (("prometheus", "url"), "http://admin:" + SECRET + "@127.0.0.1:19090"),
        (("export", "pushgateway", "url"), "http://push:" + SECRET + "@127.0.0.1:19091"),
        (("vault", "address"), "https://" + SECRET + "@127.0.0.1:18200"),
        (("services", 0, "url"), "http://u:" + SECRET + "@127.0.0.1:18081"),
    ],
)
def test_the_profile_refuses_credentials_in_a_url_naming_the_key(tmp_path, key_path, url):
    data = yaml.safe_load(DEMO.read_text())
    node = data
    for key in key_path[:-1]:
        node = node[key]
    node[key_path[-1]] = url
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ProfileError) as raised:
        load_model(path, Profile, "profile")
    message = str(raised.value)
    where = ".".join(f"[{k}]" if isinstance(k, int) else k for k in key_path).replace(".[", "[")
    assert message.startswith(f"{path}: {where}: credentials in a URL"), message
    assert "{file: PATH} or {env: NAME}" in message
    assert SECRET not in message and "\n" not in message


def test_the_demo_profile_and_plain_urls_pass():
    assert load_model(DEMO, Profile, "profile").prometheus.url == "http://127.0.0.1:19090"


def test_error_patterns_mask_before_taking_numbers_out():
    from opscheck.rules.log_patterns import pattern_of

    line = f"2026-11-22 03:00:01 ERROR [api] login failed password=s3cr3t9x token {JWT} for user 42"
    pattern = pattern_of(line)
    assert pattern == "[api] login failed password=**** token **** for user <n>"


def test_an_excerpt_is_masked_before_it_is_cut():
    from opscheck.redact import excerpt

    text = f"pull failed from https://robot:{SECRET}@registry.example/qsign/api"
    cut = text.index("@") - 3
    assert SECRET[:-3] in text[:cut]  # cutting first would leave most of the password
    assert excerpt(text, cut) == "pull failed from https://robot:****@registry.example/qsign/api"[:cut]
    assert SECRET[:4] not in excerpt(text, cut)
