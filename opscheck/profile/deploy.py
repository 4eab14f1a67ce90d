"""Deployments: the release the predeploy gate reads, maintenance windows, postdeploy smoke requests."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from opscheck.profile.common import Strict, expand_vars


class MaintenanceWindow(Strict):
    days: Annotated[list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]], Field(min_length=1)]
    start: Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    end: Annotated[str, Field(pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")]
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Asia/Seoul)") from None
        return value


class LoadTestThresholds(Strict):
    p95_ms: Annotated[float, Field(gt=0)] | None = 500
    p99_ms: Annotated[float, Field(gt=0)] | None = None
    error_rate: Annotated[float, Field(ge=0, le=1)] | None = 0.001


class ReleaseConfig(Strict):
    """The release being deployed: what the predeploy gate reads (opscheck/sources/release.py).

    Its files are evidence for this release only when they say so themselves: each JUnit
    testsuite states the release in a `<property name="release" value="..."/>` and when it
    ran in its `timestamp`; the k6 summary states `release` and `finished_at` at its top
    level (written by the load test's handleSummary). A file of another release, or older
    than `max_age_days`, fails the gate.
    """

    # The release being gated, e.g. "${CI_COMMIT_TAG:-}"; `pytest --release ID` overrides it.
    id: str | None = None
    # How old the release's test results and load test may be (when they ran, as they state it).
    max_age_days: Annotated[float, Field(gt=0)] = 7
    # JUnit XML files of the release's test stages (unit, integration, e2e); a glob, `**` allowed.
    test_results: str | None = None
    min_tests: Annotated[int, Field(ge=1)] = 1
    # k6 --summary-export JSON of the release's load test.
    load_test_summary: str | None = None
    load_test: LoadTestThresholds = LoadTestThresholds()

    def release_id(self) -> str | None:
        """The id with `${VAR}` expanded; None when it is unset or expands to nothing."""
        return (expand_vars(self.id).strip() or None) if self.id else None


class SmokeRequest(Strict):
    """A request the postdeploy check sends to prove the API answers (GET only: read-only)."""

    service: str  # services[].name
    path: str = "/"
    expect_status: int = 200
    max_latency_ms: Annotated[float, Field(gt=0)] = 500


class CiPipeline(Strict):
    """The CI system's record of the pipeline's runs (runbook 003, CI/CD 파이프라인 성공 여부:
    the build, scan and push that happen before Argo CD syncs). A file a job refreshes
    before the checklist runs, in GitHub's `gh run list --json
    workflowName,headBranch,status,conclusion,createdAt,url` form; any CI system can write
    the same five fields."""

    runs_file: str
    # The workflows whose latest completed run must have succeeded.
    workflows: Annotated[list[str], Field(min_length=1)]
    # Only runs of this branch (the one Argo CD deploys); None: every branch.
    branch: str | None = None
    # The latest completed run may be at most this old: a pipeline that stopped running is
    # no evidence of a pipeline that works.
    max_age_hours: Annotated[float, Field(gt=0)] = 24
