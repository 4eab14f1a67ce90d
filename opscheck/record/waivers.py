"""Waivers: a known failure accepted for a while, with a justification, an approver and an expiry.

A waived failure is reported as `waived` (never as passed) and does not fail the run. A
waiver may name the objects it covers; it then applies only when every offending object
of the failure is one of them, so a new fault is never hidden by an old waiver. An expired
waiver no longer applies and is flagged, as is one expiring within `EXPIRY_WARNING_DAYS`.
"""

from __future__ import annotations

import ast
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints

from opscheck.errors import ProfileError
from opscheck.profile.yamlfile import load_model

EXPIRY_WARNING_DAYS = 14
NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class Waiver(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    check: NonEmpty
    objects: list[str] = []  # empty: the whole check
    cluster: str | None = None  # None: every cluster
    justification: NonEmpty
    approver: NonEmpty
    ticket: NonEmpty
    expires: date

    def expired(self, today: date) -> bool:
        return self.expires < today

    def expiring_soon(self, today: date) -> bool:
        return not self.expired(today) and self.expires - today <= timedelta(days=EXPIRY_WARNING_DAYS)

    def covers(self, check_id: str, cluster: str | None, offenders: list[str]) -> bool:
        if check_id != self.check or (self.cluster is not None and cluster != self.cluster):
            return False
        return not self.objects or (bool(offenders) and set(offenders) <= set(self.objects))

    def as_dict(self, today: date) -> dict[str, Any]:
        state = "expired" if self.expired(today) else "expiring soon" if self.expiring_soon(today) else "in force"
        return self.model_dump(mode="json") | {"state": state}


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    waivers: list[Waiver]


def load_waivers(path: Path, *, max_days: int | None = None, today: date | None = None) -> list[Waiver]:
    """Read and validate a waivers file; ProfileError with one line on any problem.

    With `max_days`, a waiver may not run further than that many days past `today`: a
    failure accepted "until 2099" is a failure nobody will look at again.
    """
    waivers = load_model(path, _File, "waivers file", list_key="waivers").waivers
    if max_days is not None:
        day = today or date.today()
        for i, w in enumerate(waivers):
            if (w.expires - day).days > max_days:
                raise ProfileError(
                    f"{path}: waivers[{i}].expires: {w.expires} is {(w.expires - day).days} days ahead, "
                    f"more than the {max_days} the profile allows (waivers_max_days)"
                )
    return waivers


def declared_check_ids(root: Path) -> set[str]:
    """Check ids declared as `@check(id="...")` literals under root/tests_*, read without importing.

    Lets the controller validate waivers before any xdist worker starts collecting.
    """
    ids: set[str] = set()
    for path in sorted(root.glob("tests_*/**/*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError):
            continue  # pytest reports it when collecting
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "check":
                for kw in node.keywords:
                    if kw.arg == "id" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                        ids.add(kw.value.value)
    return ids


def check_known(waivers: list[Waiver], known: set[str], path: Path) -> None:
    for w in waivers:
        if w.check not in known:
            raise ProfileError(f"{path}: waiver for unknown check id {w.check!r}")


def applicable(
    waivers: list[Waiver], check_id: str, cluster: str | None, offenders: list[str], today: date
) -> Waiver | None:
    """The waiver in force that covers this failure, if any."""
    for w in waivers:
        if not w.expired(today) and w.covers(check_id, cluster, offenders):
            return w
    return None
