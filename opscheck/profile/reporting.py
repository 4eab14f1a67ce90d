"""The audit record's settings: the run schedule, metric export and attested manual items."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from opscheck.profile.common import SecretRef, Strict, expand_vars
from opscheck.timeutil import parse_duration


class RunSettings(Strict):
    """The run as a whole. `deadline`: seconds from the start after which checks not finished
    are errors ("run deadline of N s reached"); `--deadline` overrides it."""

    deadline: Annotated[float, Field(gt=0)] | None = None


class Schedule(Strict):
    """How often each checklist must run (the missed-run check reads the run ledger)."""

    # The longest a cadence may go without a recorded run ('26h', '8d'); cadences left out
    # are not scheduled for this profile.
    max_age: dict[Literal["daily", "weekly", "monthly", "quarterly"], str] = {
        "daily": "26h",
        "weekly": "8d",
        "monthly": "35d",
        "quarterly": "100d",
    }
    # How often each checklist runs: a check of that cadence that looks back over events,
    # logs, alerts or metrics must cover at least this much, so that nothing between two
    # runs goes unseen (the profile is refused otherwise).
    every: dict[Literal["daily", "weekly", "monthly", "quarterly"], str] = {
        "daily": "24h",
        "weekly": "7d",
        "monthly": "30d",
        "quarterly": "90d",
    }
    # The reports directory whose ledger is read; default: this run's --report-dir.
    ledger: str | None = None

    @field_validator("max_age")
    @classmethod
    def _durations(cls, value: dict[str, str]) -> dict[str, str]:
        for cadence, text in value.items():
            try:
                parse_duration(text)
            except ValueError as exc:
                raise ValueError(f"{cadence}: {exc}") from None
        return value

    @field_validator("every")
    @classmethod
    def _intervals(cls, value: dict[str, str]) -> dict[str, str]:
        for cadence, text in value.items():
            try:
                parse_duration(text, "promql")  # seconds too: a test profile runs every 20s
            except ValueError as exc:
                raise ValueError(f"{cadence}: {exc}") from None
        return value

    def limits(self) -> dict[str, timedelta]:
        return {c: parse_duration(v) for c, v in self.max_age.items()}

    def interval(self, cadence: str) -> timedelta:
        """How often `cadence` runs (`every`), the least a look-back window of its checks covers."""
        text = self.every.get(cadence) or Schedule.model_fields["every"].default.get(cadence)
        return parse_duration(text, "promql") if text else timedelta(0)


class PushgatewayConfig(Strict):
    url: str
    username: str | None = None
    password: SecretRef | None = None
    timeout_seconds: Annotated[float, Field(gt=0)] = 10


class ExportConfig(Strict):
    """Where the run's results go as Prometheus metrics (opscheck/record/export.py)."""

    # node-exporter's --collector.textfile.directory: one opscheck-<profile>-<cadences>.prom per job.
    textfile_dir: str | None = None
    pushgateway: PushgatewayConfig | None = None


class AttestedItem(Strict):
    """Who may sign off one manual runbook item, and for how long it counts (opscheck/record/attestations.py)."""

    roles: Annotated[list[str], Field(min_length=1)]
    # Every role must have attested (approvals), instead of any one of them.
    require_all_roles: bool = False
    # How old an attestation may be; default: the item's cadence (daily 1, weekly 7, monthly 31,
    # quarterly 92 days; predeploy/postdeploy: attestations.deploy_window_hours).
    window_days: Annotated[float, Field(gt=0)] | None = None
    # How old it must at least be: a notice sent at least N days ahead (no cadence window then:
    # a notice sent earlier counts too, until it expires or passes window_days).
    advance_days: Annotated[float, Field(ge=0)] = 0


class Attestations(Strict):
    """Manual runbook items signed off by people: a directory of attestation files."""

    dir: str  # relative to the profile's folder; ${VAR:-default} and ~ expanded
    # The change being deployed (e.g. ${CHANGE_ID:-}, set by the pipeline): when set,
    # predeploy/postdeploy attestations count only if they name it.
    change: str | None = None
    deploy_window_hours: Annotated[float, Field(gt=0)] = 24
    items: dict[str, AttestedItem] = {}

    @field_validator("items")
    @classmethod
    def _attest_keys(cls, value: dict[str, AttestedItem]) -> dict[str, AttestedItem]:
        from opscheck.runbook import runbook_items

        items = runbook_items()
        for key in value:
            if key not in items or items[key].kind != "attest":
                raise ValueError(f"{key!r} is not an attest item of the runbooks")
        return value

    @property
    def current_change(self) -> str | None:
        return expand_vars(self.change).strip() or None if self.change else None


class Signing(Strict):
    """Signatures over the run ledger and over the waivers and attestation files
    (opscheck/record/signing.py): OpenSSH signatures (`ssh-keygen -Y`), an HMAC key, or both.

    The run signs each run's manifest and the ledger's head with `ssh_key` and/or `hmac_key`;
    `python -m opscheck verify` checks them with the public side (`allowed_signers`) or the
    same HMAC key. With `require_signed_inputs`, every waivers and attestation file needs a
    valid detached signature next to it (`FILE.sig` from `ssh-keygen -Y sign -n opscheck-input`
    by a key in `allowed_signers`, or `FILE.hmac`), or the run is refused.
    """

    # Private key the run signs with (`ssh-keygen -Y sign`); no passphrase, or held by ssh-agent.
    ssh_key: str | None = None
    # OpenSSH allowed_signers file: the public keys whose signatures count.
    allowed_signers: str | None = None
    # The principal the runs sign as (its line in allowed_signers).
    identity: str = "opscheck"
    hmac_key: SecretRef | None = None
    require_signed_inputs: bool = False

    @field_validator("identity")
    @classmethod
    def _principal(cls, value: str) -> str:
        if not value.strip() or any(c.isspace() for c in value):
            raise ValueError("must be one principal name, without spaces")
        return value

    @model_validator(mode="after")
    def _can_check(self) -> Signing:
        if self.require_signed_inputs and self.allowed_signers is None and self.hmac_key is None:
            raise ValueError("require_signed_inputs needs allowed_signers or hmac_key to check the signatures with")
        return self


class Reporting(Strict):
    """The run folders: who may read them, and how the ledger and its inputs are signed."""

    # Run folders are 0700 and their files 0600 (only the user running the suite reads them);
    # true: 0750/0640, for a group of auditors (the reports directory's group, setgid on it).
    group_readable: bool = False
    signing: Signing = Signing()
