"""Attestations: manual runbook items (approvals, notices, document reviews) signed off by people.

A runbook item of kind `attest` is not measured on a system: a person does it and says so.
The profile names a directory of attestation files and, per item, the roles allowed to sign
it off; a check of the item passes (outcome `attested`, never `passed`) only when a valid
attestation by an allowed role is recent enough for the item's cadence.

Profile:

    attestations:
      dir: attestations                 # relative to the profile; ${VAR:-default} and ~ expanded
      change: ${CHANGE_ID:-}            # optional: pre/postdeploy attestations must name this change
      deploy_window_hours: 24           # pre/postdeploy: how old an attestation may be
      items:
        001.predeploy.approvals: {roles: [tech_lead, security_officer], require_all_roles: true}
        001.predeploy.maintenance-notice: {roles: [ops_engineer], advance_days: 7}
        001.monthly.docs-update: {roles: [ops_engineer, tech_lead], window_days: 45}

An attestation file (any `*.yaml`/`*.yml` under the directory, subfolders included; names
starting with a dot are ignored, so a file written as `.x.tmp` and renamed appears whole):

    attestations:
      - item: 001.predeploy.approvals   # an attest key of the runbooks
        who: kim.jh                     # the person
        role: tech_lead                 # the role they sign as
        when: 2026-11-20T09:12:00+09:00 # when they signed (with a time zone)
        evidence: https://jira.example.com/browse/CHG-1234   # the record: ticket, mail, minutes
        change: CHG-1234                # optional: the change it is for (pre/postdeploy)
        valid_days: 7                   # how long it stays valid; or `expires: 2026-12-01`
        note: optional free text

When an attestation counts, for item K with cadence C:
- its role is one of the item's `roles`;
- it is not expired: `when + valid_days`, or the end of the `expires` day (UTC), is still ahead;
- it is within the cadence window: at most 1 (daily), 7 (weekly), 31 (monthly) or 92
  (quarterly) days old, or `deploy_window_hours` for predeploy/postdeploy; an item's
  `window_days` overrides it. With `advance_days: N` it must instead be at least N days old
  (a maintenance notice sent "at least 7 days ahead": 10 days ahead counts too), with no
  cadence window (its expiry and, pre/postdeploy, the change it names bound it); an item's
  `window_days` still caps how old it may be, counted from when it was signed;
- predeploy/postdeploy: when the profile names the change, it names the same change;
- it is not dated in the future (5 minutes of clock skew allowed).
With `require_all_roles`, every role needs such an attestation (approvals); otherwise one
by any allowed role is enough.

Not applicable: no `attestations` section (unless `required` lists `attestations`), or the
item is not in `attestations.items`. Failed: the directory is missing or holds no
attestation that counts; the message names what is missing and what there is. A malformed
file, or one naming an unknown item, stops the run before anything runs (exit 4, one line).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from pydantic_core import ErrorDetails

from opscheck.check import Evidence, component_absent
from opscheck.profile import AttestedItem, Profile
from opscheck.profile.yamlfile import load_model
from opscheck.record.signing import Verifier, require_signed, verifier_of
from opscheck.runbook import runbook_items

CADENCE_WINDOW_DAYS = {"daily": 1, "weekly": 7, "monthly": 31, "quarterly": 92}
DEPLOY_CADENCES = ("predeploy", "postdeploy")
CLOCK_SKEW = timedelta(minutes=5)
TIME_EXAMPLE = "2026-11-20T09:12:00+09:00 or 2026-11-20T00:12:00Z"
# How many attestations a failure message lists (newest first) before "and N older".
MESSAGE_ATTESTATIONS = 3

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class Attestation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    item: NonEmpty
    who: NonEmpty
    role: NonEmpty
    when: AwareDatetime
    evidence: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^https?://\S+$")]
    change: NonEmpty | None = None
    valid_days: Annotated[float, Field(gt=0)] | None = None
    expires: date | None = None
    note: str = ""

    @field_validator("item")
    @classmethod
    def _attest_item(cls, key: str) -> str:
        item = runbook_items().get(key)
        if item is None or item.kind != "attest":
            raise ValueError(f"{key!r} is not an attest item of the runbooks")
        return key

    @field_validator("when", mode="before")
    @classmethod
    def _with_time(cls, value: Any) -> Any:
        # A bare date would be read as midnight: say so rather than guess the hour.
        if (isinstance(value, date) and not isinstance(value, datetime)) or (
            isinstance(value, str) and re.fullmatch(r"\s*\d{4}-\d{2}-\d{2}\s*", value)
        ):
            raise ValueError(f"give a time with a time zone, e.g. {TIME_EXAMPLE}")
        return value

    @model_validator(mode="after")
    def _one_validity(self) -> Attestation:
        if (self.valid_days is None) == (self.expires is None):
            raise ValueError("give exactly one of 'valid_days' or 'expires'")
        return self

    @property
    def expires_at(self) -> datetime:
        if self.valid_days is not None:
            return self.when + timedelta(days=self.valid_days)
        assert self.expires is not None
        return datetime.combine(self.expires + timedelta(days=1), time(), tzinfo=UTC)

    def describe(self) -> str:
        """`tech_lead by kim at 2026-11-20 09:12 UTC`"""
        return f"{self.role} by {self.who} at {utc(self.when)}"


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    attestations: list[Attestation]


@dataclass(frozen=True)
class Signed:
    """An attestation and the file it was read from."""

    attestation: Attestation
    file: Path


def utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def attestation_files(directory: Path) -> list[Path]:
    return sorted(
        p
        for p in directory.rglob("*")
        if p.suffix in (".yaml", ".yml")
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(directory).parts)
    )


def _explain(err: ErrorDetails) -> str | None:
    """The attestation fields' mistakes in the words of the file's format."""
    if err["type"] == "timezone_aware":
        return f"give a time zone, e.g. {TIME_EXAMPLE}"
    if err["type"] == "string_pattern_mismatch" and err["loc"][-1] == "evidence":
        return "must be an http:// or https:// link to the record"
    return None


def load_file(path: Path) -> list[Attestation]:
    """One attestation file; ProfileError with one line naming the file and key path."""
    return load_model(path, _File, "attestation file", list_key="attestations", explain=_explain).attestations


def load_attestations(directory: Path, verifier: Verifier | None = None) -> list[Signed]:
    """Every attestation under `directory` (none if it does not exist: the checks say so).

    With a verifier (profile `reporting.signing.require_signed_inputs`), every file must carry
    a valid detached signature (FILE.sig or FILE.hmac); ProfileError naming the file if not.
    """
    if not directory.is_dir():
        return []
    files = attestation_files(directory)
    if verifier is not None:
        for path in files:
            require_signed(path, verifier, "attestation file")
    return [Signed(a, path) for path in files for a in load_file(path)]


def input_verifier(profile: Profile) -> Verifier | None:
    """The verifier waivers and attestation files must satisfy, if the profile requires signatures."""
    return verifier_of(profile, identity=False) if profile.reporting.signing.require_signed_inputs else None


@dataclass(frozen=True)
class Rule:
    """What makes an attestation of one item count, resolved from the profile."""

    key: str
    cadence: str
    item: AttestedItem
    window: timedelta | None  # None: no upper age (an advance notice; its expiry bounds it)
    window_text: str
    change: str | None

    @classmethod
    def of(cls, key: str, item: AttestedItem, profile: Profile) -> Rule:
        assert profile.attestations is not None
        cadence = runbook_items()[key].cadence
        deploy = cadence in DEPLOY_CADENCES
        window: timedelta | None
        if item.window_days is not None:
            window, text = timedelta(days=item.window_days), f"{item.window_days:g}-day window"
        elif item.advance_days:
            # "At least N days ahead" has no upper bound of its own: a notice sent earlier
            # still announces the change (the change id and the expiry tie it to this one).
            window, text = None, f"at least {item.advance_days:g} days ahead"
        elif deploy:
            hours = profile.attestations.deploy_window_hours
            window, text = timedelta(hours=hours), f"{hours:g}-hour {cadence} window"
        else:
            days = CADENCE_WINDOW_DAYS[cadence]
            window, text = timedelta(days=days), f"{days}-day {cadence} window"
        return cls(key, cadence, item, window, text, profile.attestations.current_change if deploy else None)

    def problem(self, a: Attestation, now: datetime) -> str | None:
        """Why this attestation does not count, or None when it does."""
        if a.role not in self.item.roles:
            return f"role {a.role!r} may not attest this item"
        if a.when > now + CLOCK_SKEW:
            return "dated in the future"
        if self.change is not None and a.change != self.change:
            return (
                f"for change {a.change}, not {self.change}" if a.change else f"names no change (this is {self.change})"
            )
        age, advance = now - a.when, timedelta(days=self.item.advance_days)
        if age < advance:
            return f"only {age.total_seconds() / 86400:.1f} days ahead, {self.item.advance_days:g} required"
        if self.window is not None and age > self.window:
            return f"outside the {self.window_text}"
        if a.expires_at <= now:
            return f"expired {utc(a.expires_at)}"
        return None


@dataclass
class Verdict:
    key: str
    ok: bool
    message: str
    rows: list[dict[str, Any]]
    have_roles: list[str]
    needed: list[str]  # the roles that must all attest, or any one of


def judge(rule: Rule, signed: list[Signed], now: datetime, directory: Path) -> Verdict:
    mine = sorted((s for s in signed if s.attestation.item == rule.key), key=lambda s: s.attestation.when, reverse=True)
    judged = [(s, rule.problem(s.attestation, now)) for s in mine]
    rows = [
        {
            "role": s.attestation.role,
            "who": s.attestation.who,
            "when": utc(s.attestation.when),
            "change": s.attestation.change or "",
            "expires": utc(s.attestation.expires_at),
            "evidence": s.attestation.evidence,
            "note": s.attestation.note,
            "file": s.file.name,
            "counts": problem or "yes",
        }
        for s, problem in judged
    ]
    counting = [s.attestation for s, problem in judged if problem is None]
    have = sorted({a.role for a in counting})
    roles = rule.item.roles
    if rule.item.require_all_roles:
        missing = [r for r in roles if r not in have]
    else:
        missing = [] if have else list(roles)
    if not missing:
        # One attestation per required role, the newest, is what signs the item off.
        shown = [next(a for a in counting if a.role == r) for r in (roles if rule.item.require_all_roles else have[:1])]
        return Verdict(
            rule.key, True, "; ".join(f"{a.describe()} ({a.evidence})" for a in shown), rows, have, list(roles)
        )
    joiner = "', '" if rule.item.require_all_roles else "' or '"
    wanted = f"role{'s' if len(missing) > 1 and rule.item.require_all_roles else ''} '{joiner.join(missing)}'"
    if not directory.is_dir():
        seen = f"attestations directory {directory} does not exist"
    elif not mine:
        seen = f"none in {directory}"
    else:
        parts = [s.attestation.describe() + (f": {p}" if p else "") for s, p in judged[:MESSAGE_ATTESTATIONS]]
        more = len(judged) - MESSAGE_ATTESTATIONS
        seen = "have: " + "; ".join(parts) + (f" and {more} older" if more > 0 else "")
    return Verdict(rule.key, False, f"{rule.key}: no valid attestation by {wanted} ({seen})", rows, have, list(roles))


class AttestationBook:
    """The profile's attestations, read once per session, judged per item by the checks."""

    def __init__(self, profile: Profile) -> None:
        assert profile.attestations is not None
        self.profile = profile
        self.directory = profile.relative_path(profile.attestations.dir)
        self.signed = load_attestations(self.directory, input_verifier(profile))

    def require(self, key: str, evidence: Evidence, now: datetime | None = None) -> None:
        """Sign the check off as attested, or fail naming what is missing; not applicable if
        the profile does not attest this item."""
        cfg = self.profile.attestations
        assert cfg is not None
        if key not in cfg.items:
            component_absent(
                self.profile.required,
                "attestations",
                f"{key} is not attested in this environment (not in attestations.items)",
            )
        rule = Rule.of(key, cfg.items[key], self.profile)
        verdict = judge(rule, self.signed, now or datetime.now(UTC), self.directory)
        evidence.table(verdict.rows)
        evidence.record(
            measured=len([r for r in verdict.needed if r in verdict.have_roles])
            if rule.item.require_all_roles
            else len(verdict.have_roles),
            threshold=len(verdict.needed) if rule.item.require_all_roles else 1,
        )
        evidence.note(
            f"counts: role in {', '.join(rule.item.roles)}"
            f"{' (all of them)' if rule.item.require_all_roles else ''}"
            + (f", within the {rule.window_text}" if rule.window is not None else "")
            + (f", at least {rule.item.advance_days:g} days ahead" if rule.item.advance_days else "")
            + (f", for change {rule.change}" if rule.change else "")
            + f"; read from {self.directory}"
        )
        if not verdict.ok:
            evidence.fail(verdict.message)
        evidence.attest(verdict.message)
