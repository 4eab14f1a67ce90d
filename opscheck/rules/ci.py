"""The CI pipeline judged (runbook 003, CI/CD 파이프라인 성공 여부): per workflow, its latest
completed run on the deployed branch succeeded and is recent."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from opscheck.timeutil import describe_age

if TYPE_CHECKING:
    from opscheck.sources.ci_runs import CiRun

Row = dict[str, Any]


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def pipeline_findings(
    runs: Iterable[CiRun], workflows: list[str], branch: str | None, now: datetime, max_age: timedelta
) -> tuple[list[Row], list[Row]]:
    """(a row per workflow, the rows of workflows whose latest completed run failed, is too
    old, or does not exist). A run still going is neither: the one before it is judged."""
    runs = [r for r in runs if branch is None or r.branch == branch]
    rows, offenders = [], []
    for workflow in workflows:
        done = sorted(
            (r for r in runs if r.workflow == workflow and r.status == "completed"), key=lambda r: r.created_at
        )
        on = f" on {branch}" if branch else ""
        if not done:
            row = {"object": workflow, "detail": f"no completed run{on}"}
            offenders.append(row)
        else:
            last, age = done[-1], now - done[-1].created_at
            row = {
                "object": workflow,
                "conclusion": last.conclusion,
                "started": _when(last.created_at),
                "url": last.url,
                "detail": f"last run {last.conclusion or 'without a conclusion'}, {describe_age(age)} ago",
            }
            if last.conclusion != "success":
                offenders.append(
                    {
                        **row,
                        "detail": f"last run{on} {last.conclusion or 'without a conclusion'} ({_when(last.created_at)})",
                    }
                )
            elif age > max_age:
                offenders.append(
                    {**row, "detail": f"last run{on} {describe_age(age)} ago, over {describe_age(max_age)}"}
                )
        rows.append(row)
    return rows, offenders
