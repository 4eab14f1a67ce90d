"""Credentials masked, control characters neutralised: the one filter for everything opscheck shows.

Whatever a check saw (a pod's log line, an HTTP body, an Event message, a URL) may carry a
secret. Before it becomes evidence, a message, a log line, a metric label or terminal
output, it goes through `mask()`: every credential shape below is replaced by `MASK`, the
text around it is kept so the line still says what happened.

    mask("login failed password=hunter2 user=bob")  -> "login failed password=**** user=bob"
    mask("GET http://alice:s3cret@db:5432/x")        -> "GET http://alice:****@db:5432/x"

`printable()` also neutralises control characters (ANSI escapes, carriage returns, C1
codes) so a hostile string cannot rewrite or recolour what an operator reads in a terminal.

A leaf: imports nothing of opscheck, so every part may use it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

MASK = "****"

# -- credential shapes, most specific first -------------------------------------------------
# A PEM private key (RSA, EC, OPENSSH, ENCRYPTED, ...), also when cut off before its END line.
_PEM = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(?:-----END \1PRIVATE KEY-----|\Z)",
    re.DOTALL,
)
# A JSON Web Token: base64url header "eyJ..." and payload; the signature if present.
# Also a JWT cut off after its header or payload (log lines get truncated).
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*){0,2}")
# An Authorization header's value (the scheme kept), and an authorization scheme followed by
# something that looks like a credential: 8+ characters with a digit or a token punctuation,
# or 20+ letters ("Basic checks passed" stays as it is).
_AUTH_HEADER = re.compile(
    r"(?i)\b((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)(?:(Bearer|Basic|Token|Digest|Negotiate)(\s+))?([^\s\"',;]+)"
)
_AUTH_SCHEME = re.compile(
    r"(?i)\b(Bearer|Basic|Token|Digest|Negotiate)(\s+)"
    # a colon alone does not make a credential: "root-token requests: 3" stays as it is
    r"((?=[A-Za-z0-9._~+/=:-]*[0-9._~+/=-])[A-Za-z0-9._~+/=:-]{8,}|[A-Za-z]{20,})"
)
# user:password@ (or a bare token@) in a URL's authority.
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/\s@:?#]*)(:[^/\s@?#]*)?@")
# A URL cut off after `user:pass` (no `@` left): what follows the colon is no port number.
_URL_CUT_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s@:?#\[\]]+:)(?=[^/\s@?#]*[^0-9/\s@?#])[^/\s@?#]+$")
# AWS access key ids; Google API keys; Vault/OpenBao tokens (service, batch, recovery; legacy s./b./r.).
_CLOUD_KEY = re.compile(
    r"\b(?:A3T[A-Z0-9]|AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)[A-Z0-9]{16}\b|\bAIza[0-9A-Za-z_-]{35}"
)
_VAULT_TOKEN = re.compile(r"\bhv[sbr]\.[A-Za-z0-9_-]{20,}|\b[sbr]\.[A-Za-z0-9]{24,}\b")
# Names whose value is a secret: password, db_password, X-Vault-Token, api_key, client_secret,
# aws_secret_access_key, private_key, AccountKey (Azure), sig (Azure SAS), ...
_SECRET_NAME = (
    r"[A-Za-z0-9_.-]*?(?:passw(?:or)?d|passwd|pwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key"
    r"|private[_-]?key|credential|accountkey|sharedaccesskey|shared[_-]?access[_-]?signature|session[_-]?id)"
    r"(?:[_.-][A-Za-z0-9]+)*"
)
# "name": "value" (JSON), and 'name': 'value'.
_QUOTED_PAIR = re.compile(
    r"(?i)([\"'](?:" + _SECRET_NAME + r")[\"']\s*:\s*)(\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|[^\s,}\]]+)"
)
# name=value, name: value, name = "value" (logs, env dumps, query strings, connection strings).
_PAIR = re.compile(
    r"(?i)(?<![A-Za-z0-9_.-])("
    + _SECRET_NAME
    + r"|sig)(\s*[=:]\s*)(\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|[^\s,;&\"'<>)}\]]+)"
)


def _quoted_mask(value: str) -> str:
    """A quoted value keeps its quotes (the JSON stays JSON)."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return f"{value[0]}{MASK}{value[0]}"
    return MASK


def _userinfo(m: re.Match[str]) -> str:
    scheme, user, password = m.group(1), m.group(2), m.group(3)
    if password is not None:
        return f"{scheme}{user}:{MASK}@"
    return f"{scheme}{MASK}@"  # a bare user part is often a token (https://TOKEN@host)


_SUBSTITUTIONS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (_PEM, lambda m: f"-----BEGIN {m.group(1)}PRIVATE KEY----- {MASK} -----END {m.group(1)}PRIVATE KEY-----"),
    (_URL_USERINFO, _userinfo),
    (_URL_CUT_USERINFO, lambda m: f"{m.group(1)}{MASK}"),
    (_JWT, lambda m: MASK),
    (_AUTH_HEADER, lambda m: f"{m.group(1)}{m.group(2) or ''}{m.group(3) or ''}{MASK}"),
    (_AUTH_SCHEME, lambda m: f"{m.group(1)}{m.group(2)}{MASK}"),
    (_QUOTED_PAIR, lambda m: f"{m.group(1)}{_quoted_mask(m.group(2))}"),
    (_PAIR, lambda m: f"{m.group(1)}{m.group(2)}{_quoted_mask(m.group(3))}"),
    (_CLOUD_KEY, lambda m: MASK),
    (_VAULT_TOKEN, lambda m: MASK),
)


def excerpt(text: str, limit: int) -> str:
    """The first `limit` characters of `text`, masked before it is cut: a cut can leave a
    credential in a shape no mask knows (a URL cut before its `@`, a token cut in half)."""
    return mask(text)[:limit]


# Cached: a big cluster's evidence repeats the same names, states and images many times over.
@functools.lru_cache(maxsize=1 << 16)
def mask(text: str) -> str:
    """`text` with every credential shape replaced by `MASK` (idempotent: mask(mask(t)) == mask(t))."""
    if not text:
        return text
    for pattern, replace in _SUBSTITUTIONS:
        text = pattern.sub(replace, text)
    return text


# -- control characters -----------------------------------------------------------------------
# C0 controls but tab and newline, DEL, C1 controls, and the Unicode line/paragraph separators
# and bidirectional overrides that reorder what a reader sees.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _visible(m: re.Match[str]) -> str:
    code = ord(m.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


@functools.lru_cache(maxsize=1 << 16)
def printable(text: str, *, one_line: bool = False) -> str:
    """`text` masked, with control characters shown as `\\x1b`-style escapes instead of acting
    (an ANSI sequence cannot recolour, a carriage return cannot overwrite); `one_line` also
    escapes newlines and tabs."""
    text = mask(text)
    text = _CONTROL.sub(_visible, text)
    if one_line:
        text = text.replace("\n", "\\n").replace("\t", "\\t")
    return text


def masked(value: Any) -> Any:
    """A value as recorded: strings masked and neutralised, containers walked, other values kept."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {masked(k): masked(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(masked(v) for v in value)
    return value
