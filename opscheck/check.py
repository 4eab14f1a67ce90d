"""The check model: what a check declares, and the evidence it leaves.

A check is a pytest test decorated with `@check(...)`. The decorator records the metadata
an auditor needs (id, title, severity, runbook keys, remediation) and adds the extra
cadence markers; the test's directory gives its primary cadence.

Inside the test, the `evidence` fixture records what was measured and against which
threshold, with the offending objects as rows, and fails the check with a message that
names them:

    evidence.expect_none(rows, "pods not Running")
    evidence.expect_at_most(value, limit, what="node CPU usage", unit="%")
"""

from __future__ import annotations

import functools
import inspect
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence, Sized
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

import pytest

from opscheck.errors import DependencyError
from opscheck.redact import masked, printable

SEVERITIES = ("critical", "high", "medium", "low")
CADENCES = ("daily", "weekly", "monthly", "quarterly", "predeploy", "postdeploy")
# The directory a check lives in gives its primary cadence.
PRIMARY_CADENCE_DIRS = {f"tests_{cadence}": cadence for cadence in CADENCES}
ID_PATTERN = re.compile(r"^[a-z0-9]+(\.[a-z0-9][a-z0-9-]*)+$")
# How many offending objects a failure message names before "and N more".
MESSAGE_OBJECTS = 10

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
S = TypeVar("S", bound=Sized)
# The marker `@check(availability=True)` sets: fixtures that probe a dependency (the
# cluster fixture) read it to fail, not error, when the dependency does not answer.
AVAILABILITY_MARKER = "availability"


@dataclass(frozen=True)
class CheckSpec:
    id: str
    title: str
    severity: str
    covers: tuple[str, ...]
    remediation: str
    also: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["covers"] = list(self.covers)
        d["also"] = list(self.also)
        return d


def check(
    id: str,
    *,
    severity: str,
    covers: Sequence[str],
    title: str | None = None,
    remediation: str | None = None,
    also: Sequence[str] = (),
    availability: bool = False,
) -> Callable[[F], F]:
    """Declare a test as an opscheck check. Mistakes fail at import, naming the check.

    The test's docstring is the check's text: its first paragraph the title an auditor
    reads, the rest the remediation (`title=` and `remediation=` override them, e.g. for a
    remediation shared by several checks).

    `availability=True`: the check watches a dependency answering (the cluster, Vault,
    PostgreSQL): a dependency that does not answer fails it, naming why, instead of making
    it an error ("could not evaluate") as for every other check.
    """
    if not ID_PATTERN.match(id):
        raise ValueError(f"check id {id!r}: use dotted lowercase words, e.g. 'daily.pods-running'")
    if severity not in SEVERITIES:
        raise ValueError(f"check {id}: severity {severity!r} is not one of {', '.join(SEVERITIES)}")
    unknown = [c for c in also if c not in CADENCES]
    if unknown:
        raise ValueError(f"check {id}: unknown cadence(s) {', '.join(unknown)}")
    if not covers:
        raise ValueError(f"check {id}: covers no runbook item")

    def decorate(fn: F) -> F:
        doc_title, doc_remediation = _docstring_parts(fn)
        text = ((title or doc_title).strip(), (remediation or doc_remediation).strip())
        if not text[0]:
            raise ValueError(f"check {id}: no title (the test's docstring or title=)")
        if not text[1]:
            raise ValueError(f"check {id}: remediation text is empty (the docstring after the title, or remediation=)")
        spec = CheckSpec(id, text[0], severity, tuple(covers), text[1], tuple(also))
        if availability:
            fn = _dependency_errors_fail(fn)
            fn = getattr(pytest.mark, AVAILABILITY_MARKER)(fn)
        fn.__opscheck__ = spec  # type: ignore[attr-defined]
        for cadence in also:
            fn = getattr(pytest.mark, cadence)(fn)
        return fn

    return decorate


def _docstring_parts(fn: Callable[..., Any]) -> tuple[str, str]:
    """(title, remediation): the docstring's first paragraph on one line, and the rest."""
    doc = inspect.cleandoc(fn.__doc__ or "")
    head, _, rest = doc.partition("\n\n")
    return " ".join(head.split()), rest.strip()


class CheckFailure(AssertionError):
    """The watched thing is not as the runbook requires. The message names what is wrong
    (credentials in it masked, control characters neutralised: it reaches every record)."""

    def __init__(self, message: object = "") -> None:
        super().__init__(printable(str(message)))


def _dependency_errors_fail(fn: F) -> F:
    @functools.wraps(fn)  # keeps the signature pytest reads the fixtures from
    def watched(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DependencyError as exc:
            raise CheckFailure(str(exc)) from None

    return watched  # type: ignore[return-value]


Row = Mapping[str, Any]


@dataclass
class Evidence:
    """What a check saw: a measured value against a threshold, and offending objects."""

    measured: Any = None
    threshold: Any = None
    unit: str = ""
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Set when a person signed the item off (opscheck/record/attestations.py): outcome "attested".
    attested: str | None = None

    # -- recording -------------------------------------------------------------------
    def record(self, *, measured: Any = None, threshold: Any = None, unit: str | None = None) -> None:
        if measured is not None:
            self.measured = measured
        if threshold is not None:
            self.threshold = threshold
        if unit is not None:
            self.unit = unit

    def table(self, rows: Iterable[Row]) -> None:
        """Record rows (dicts); columns are the union of their keys, in first-seen order."""
        rows = list(rows)
        for r in rows:
            for k in r:
                if k not in self.columns:
                    self.columns.append(k)
        self.rows.extend([[masked(r.get(c, "")) for c in self.columns] for r in rows])

    def note(self, text: str) -> None:
        self.notes.append(printable(str(text)))

    def examined(self, items: S, note: str, *, empty: str | None = None) -> S:
        """Note what was examined (`note`, e.g. "12 pods in qsign"); fail when there is nothing:
        "no bad X" passes only when Xs were read and there were some. The failure says
        `empty`, or "nothing to judge: <note>".

        Returns `items`, so a check can write `pods = evidence.examined(cluster.list("pods"), ...)`.
        """
        self.note(note)
        if not items:
            self.fail(empty or f"nothing to judge: {note}")
        return items

    def require(self, subject: T | None, missing: str) -> T:
        """The subject must exist: fail with `missing` (naming what is absent and where it was
        looked for) when it is None or empty. Returns it, so `ds = evidence.require(find(...), ...)`."""
        if subject is None or (isinstance(subject, Sized) and len(subject) == 0):
            self.fail(missing)
        return subject  # type: ignore[return-value]

    # -- verdicts --------------------------------------------------------------------
    def expect_none(self, offenders: Sequence[Row], problem: str, *, table: bool = True) -> None:
        """Pass if there is no offending object; else fail naming them.

        Each row should have an `object` key (namespace/name) and may have a `detail`.
        `table=False` when the check already recorded a fuller table (all objects seen).
        """
        self.record(measured=len(offenders), threshold=0, unit=self.unit or "")
        if table:
            self.table(offenders)
        if offenders:
            raise CheckFailure(f"{len(offenders)} {problem}: {describe_rows(offenders)}")

    def expect_at_most(
        self, measured: float, limit: float, *, what: str, unit: str = "", offenders: Sequence[Row] = ()
    ) -> None:
        self.record(measured=round_measure(measured), threshold=limit, unit=unit)
        self._measured(measured, what)
        if measured > limit:
            detail = f": {describe_rows(offenders)}" if offenders else ""
            raise CheckFailure(f"{what} {fmt(measured)}{unit} is over the threshold {fmt(limit)}{unit}{detail}")

    def expect_at_least(
        self, measured: float, limit: float, *, what: str, unit: str = "", offenders: Sequence[Row] = ()
    ) -> None:
        self.record(measured=round_measure(measured), threshold=limit, unit=unit)
        self._measured(measured, what)
        if measured < limit:
            detail = f": {describe_rows(offenders)}" if offenders else ""
            raise CheckFailure(f"{what} {fmt(measured)}{unit} is under the required {fmt(limit)}{unit}{detail}")

    def _measured(self, measured: float, what: str) -> None:
        """NaN or infinity (0/0 of an idle window, a quantile of nothing) is no data, never within a threshold."""
        if not math.isfinite(measured):
            raise CheckFailure(f"{what}: no data (the measurement is {measured}: no samples in the window?)")

    def fail(self, message: str) -> None:
        raise CheckFailure(message)

    def attest(self, summary: str) -> None:
        """A manual item signed off: reported as "attested" (never "passed"), `summary` names who."""
        self.attested = summary

    def as_dict(self) -> dict[str, Any]:
        """The evidence as recorded: every text masked (opscheck/redact.py), whoever filled it."""
        return masked(
            {
                "measured": self.measured,
                "threshold": self.threshold,
                "unit": self.unit,
                "columns": list(self.columns),
                "rows": [list(r) for r in self.rows],
                "notes": list(self.notes),
            }
            | ({"attested": self.attested} if self.attested else {})
        )


class ComponentRequired(CheckFailure):
    """A component the profile declares required is absent: a failure, not "not applicable"."""


def component_absent(required: Iterable[str], component: str, reason: str) -> None:
    """The environment has no `component`: the check is not applicable, unless required.

    Never returns: skips (outcome "not applicable", with the reason) or, when the profile
    lists the component under `required`, fails naming it.
    """
    if component in set(required):
        raise ComponentRequired(f"{component} is required by the profile but absent: {reason}")
    pytest.skip(f"not applicable: {reason}")


def configured(value: T | None, required: Iterable[str], component: str, reason: str) -> T:
    """`value` (a profile section or setting) when the profile sets it; else `component_absent`.

    Empty lists and mappings count as not set: a check with nothing configured to look at
    is not applicable (or failed, when the component is required), never passed.
    """
    if value is None or (isinstance(value, (list, tuple, dict, set, str)) and not value):
        component_absent(required, component, reason)
    return value  # type: ignore[return-value]


def round_measure(value: float) -> float:
    return round(value, 2) if isinstance(value, float) else value


def fmt(value: float) -> str:
    if isinstance(value, float):
        return f"{value:.1f}".rstrip("0").rstrip(".") if abs(value) >= 1 else f"{value:.3g}"
    return str(value)


def describe_rows(rows: Sequence[Row]) -> str:
    """`ns/a (CrashLoopBackOff), ns/b (Pending), ... and 3 more`"""
    parts = []
    for r in rows[:MESSAGE_OBJECTS]:
        obj = str(r.get("object", "?"))
        detail = r.get("detail")
        parts.append(f"{obj} ({detail})" if detail not in (None, "") else obj)
    more = len(rows) - MESSAGE_OBJECTS
    return ", ".join(parts) + (f" and {more} more" if more > 0 else "")
