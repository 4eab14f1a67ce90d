"""The CI pipeline's runs: read from `gh run list --json` output, judged per workflow."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from opscheck.errors import DependencyError
from opscheck.rules.ci import pipeline_findings
from opscheck.sources.ci_runs import CiRun, read_ci_runs

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
DAY = timedelta(hours=36)


def run(workflow="ci", branch="main", status="completed", conclusion="success", hours_ago=1.0) -> CiRun:
    return CiRun(workflow, branch, status, conclusion, NOW - timedelta(hours=hours_ago))


def test_a_run_still_going_leaves_the_one_before_it_to_judge():
    runs = [
        run(conclusion="failure", hours_ago=30),
        run(hours_ago=5),
        run(status="in_progress", conclusion="", hours_ago=0.1),
    ]
    rows, offenders = pipeline_findings(runs, ["ci"], "main", NOW, DAY)
    assert offenders == [] and rows[0]["conclusion"] == "success"


def test_only_the_deployed_branch_counts_and_a_missing_workflow_fails():
    runs = [run(branch="feature", conclusion="failure"), run(workflow="other")]
    _, offenders = pipeline_findings(runs, ["ci", "other"], "main", NOW, DAY)
    assert [(o["object"], o["detail"]) for o in offenders] == [("ci", "no completed run on main")]


def test_the_latest_completed_run_decides():
    _, failed = pipeline_findings([run(hours_ago=3), run(conclusion="cancelled", hours_ago=1)], ["ci"], None, NOW, DAY)
    assert failed[0]["detail"] == "last run cancelled (2026-12-05 11:00 UTC)"
    _, stale = pipeline_findings([run(hours_ago=50)], ["ci"], None, NOW, DAY)
    assert stale[0]["detail"] == "last run 2.1 days ago, over 36.0 h"


def test_the_file_is_gh_run_list_json_or_one_line_saying_what_is_wrong(tmp_path):
    path = tmp_path / "runs.json"
    assert read_ci_runs(path) is None
    path.write_text(
        json.dumps(
            [
                {
                    "workflowName": "ci",
                    "headBranch": "main",
                    "status": "completed",
                    "conclusion": "success",
                    "createdAt": "2026-12-05T11:00:00Z",
                    "url": "u",
                }
            ]
        )
    )
    assert read_ci_runs(path) == [CiRun("ci", "main", "completed", "success", NOW - timedelta(hours=1), "u")]
    path.write_text(json.dumps([{"workflowName": "ci"}]))
    with pytest.raises(DependencyError, match=r"runs\.json: run 0 has no headBranch, status, conclusion, createdAt$"):
        read_ci_runs(path)
    path.write_text("<html>")
    with pytest.raises(DependencyError, match=r"runs\.json: not JSON"):
        read_ci_runs(path)
