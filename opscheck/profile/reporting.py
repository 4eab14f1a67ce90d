"""The audit record's settings: the run schedule, metric export and attested manual items."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import Field, field_validator

from opscheck.profile.common import SecretRef, Strict, expand_vars
from opscheck.timeutil import parse_duration


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
