"""Types every profile section shares: the strict base model, `${VAR}` expansion, secret references."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, field_validator, model_validator

from opscheck.errors import ProfileError


class Strict(BaseModel):
    """Every profile model: an unknown key is an error (a typo never passes silently), and
    the validated profile cannot change during the run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_credentials_in_urls(cls, value: Any) -> Any:
        """No setting may carry user:password@ in a URL: the profile is read, copied and shown
        (results.json, the report), and the secret belongs in a {file: ...} or {env: ...}."""
        for text in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(text, str) and URL_CREDENTIALS.search(text):
                raise ValueError(
                    "credentials in a URL (user:password@host): give the URL without them and "
                    "the secret as {file: PATH} or {env: NAME} in the section's password/token key"
                )
        return value


# A URL with a user part (user@ or user:password@) before its host.
URL_CREDENTIALS = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^/\s@?#]+@")


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_vars(value: str) -> str:
    """`${VAR}` and `${VAR:-default}` expanded from the environment."""
    return _VAR.sub(lambda m: os.environ.get(m.group(1)) or (m.group(2) or ""), value)


def expand_path(value: str) -> Path:
    """`${VAR}`, `${VAR:-default}` and `~` are expanded so one profile serves every user."""
    return Path(os.path.expanduser(expand_vars(value)))


class SecretRef(Strict):
    """Where a secret comes from. Exactly one of `env` or `file`."""

    env: str | None = None
    file: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _not_a_literal(cls, data: Any) -> Any:
        if isinstance(data, str):
            raise ValueError("must be {env: NAME} or {file: PATH}; secret values never go in a profile")
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of 'env' or 'file'")
        return self

    def describe(self) -> str:
        return f"environment variable {self.env}" if self.env else f"file {self.file}"

    def read(self) -> str:
        """The secret value; raises ProfileError naming the source (never the value)."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if not value:
                raise ProfileError(f"secret not available: environment variable {self.env} is not set")
            return value
        path = expand_path(self.file or "")
        try:
            value = path.read_text().strip()
        except OSError as exc:
            raise ProfileError(f"secret not available: cannot read {path}: {exc.strerror}") from None
        if not value:
            raise ProfileError(f"secret not available: {path} is empty")
        return value


def valid_regex(value: str) -> str:
    """`value` unchanged if it compiles as a Python regular expression; ValueError otherwise."""
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    return value


# A profile setting that is a Python regular expression, checked when the profile loads.
Regex = Annotated[str, AfterValidator(valid_regex)]


class HttpAccess(Strict):
    """How opscheck authenticates to an HTTP endpoint and verifies its TLS certificate: a
    bearer token (`Authorization: Bearer`, e.g. a Prometheus behind an OAuth proxy or
    kube-rbac-proxy) and a CA bundle (PEM) for a private CA. Without `ca_bundle`, an
    https:// URL is verified against the system's CAs; verification is never turned off."""

    bearer_token: SecretRef | None = None
    ca_bundle: str | None = None

    @field_validator("ca_bundle")
    @classmethod
    def _bundle_exists(cls, v: str | None) -> str | None:
        if v is not None and not expand_path(v).is_file():
            raise ValueError(f"no CA bundle file at {v}")
        return v

    def verify(self) -> str | bool:
        """requests' `verify`: the bundle's path, or True (the system's CAs)."""
        return str(expand_path(self.ca_bundle)) if self.ca_bundle else True
