"""Judging the quarterly DR drill: each restore step's outcome, the whole drill's time
against the RTO and its oldest backup against the RPO (runbook 000 분기별 점검: 전체 시스템
복구 시뮬레이션, RTO/RPO 달성 확인)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from opscheck.rules.dumps import hours

if TYPE_CHECKING:
    from opscheck.sources.dr_drill import StepResult

Row = dict[str, Any]


def _age_hours(step: StepResult, now: datetime) -> float | None:
    return step.backup.age(now).total_seconds() / 3600 if step.backup is not None else None


def step_rows(steps: Sequence[StepResult], now: datetime) -> list[Row]:
    """One row per step: what was restored, from which backup, its age, seconds, result."""
    rows = []
    for step in steps:
        age = _age_hours(step, now)
        rows.append(
            {
                "step": step.step,
                "restored": step.restored,
                "backup": step.backup.name if step.backup is not None else "none",
                "age_hours": round(age, 1) if age is not None else None,
                "seconds": round(step.seconds, 1),
                "result": "; ".join(step.problems) or "ok",
            }
        )
    return rows


def total_seconds(steps: Sequence[StepResult]) -> float:
    """The steps run one after the other, as a recovery would: their times add up."""
    return sum(step.seconds for step in steps)


def worst_age_hours(steps: Sequence[StepResult], now: datetime) -> float | None:
    ages = [age for step in steps if (age := _age_hours(step, now)) is not None]
    return max(ages) if ages else None


def drill_problems(steps: Sequence[StepResult], now: datetime, rto_minutes: float, rpo_hours: float) -> list[str]:
    """Each failed step named with why, then the drill over the RTO, then a backup over the RPO."""
    problems = [f"{step.step}: {'; '.join(step.problems)}" for step in steps if step.problems]
    took = total_seconds(steps)
    if took > rto_minutes * 60:
        problems.append(f"the drill took {took:.1f} s, over the RTO {rto_minutes:g} min ({rto_minutes * 60:g} s)")
    for step in steps:
        age = _age_hours(step, now)
        if age is not None and age > rpo_hours:
            problems.append(
                f"{step.step}: backup {step.backup.name if step.backup else ''} is {hours(age)} old, "
                f"over the RPO {rpo_hours:g} h"
            )
    return problems


def describe_row(row: dict) -> str:
    """One restored object and what came of it, for the evidence notes."""
    detail = row.get("result") or (
        f"{row['rows']} rows" if "rows" in row else f"HTTP {row.get('status')}, {row.get('keys')} keys"
    )
    return f"{row['object']} {detail}"
