"""The CI system's pipeline runs, from the file a job refreshes before the checklist runs
(`gh run list --json workflowName,headBranch,status,conclusion,createdAt,url`, or the same
five fields from any CI system). Read only; the rule (opscheck/rules/ci.py) judges them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from opscheck.errors import DependencyError
from opscheck.timeutil import parse_time

FIELDS = ("workflowName", "headBranch", "status", "conclusion", "createdAt")


@dataclass(frozen=True)
class CiRun:
    workflow: str
    branch: str
    status: str  # queued, in_progress, completed
    conclusion: str  # success, failure, cancelled, ... ("" until completed)
    created_at: datetime
    url: str = ""


@dataclass(frozen=True)
class CiRunsFile:
    path: Path
    runs: list[CiRun] | None  # None: no such file


def read_ci_runs(path: Path) -> list[CiRun] | None:
    """The runs the file lists; None when there is no such file. A file that is not such a
    list is one line naming the file and what is wrong."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise DependencyError(f"CI runs file {path}: not JSON ({exc.__class__.__name__})") from None
    if not isinstance(data, list):
        raise DependencyError(f"CI runs file {path}: not a list of runs (gh run list --json ...)")
    runs = []
    for i, run in enumerate(data):
        missing = [f for f in FIELDS if not isinstance(run, dict) or f not in run]
        if missing:
            raise DependencyError(f"CI runs file {path}: run {i} has no {', '.join(missing)}")
        created = parse_time(str(run["createdAt"]))
        if created is None:
            raise DependencyError(f"CI runs file {path}: run {i} createdAt {run['createdAt']!r} is not a time")
        runs.append(
            CiRun(
                str(run["workflowName"]),
                str(run["headBranch"]),
                str(run["status"]),
                str(run["conclusion"] or ""),
                created,
                str(run.get("url") or ""),
            )
        )
    return runs
