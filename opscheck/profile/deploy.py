"""Deployments: the release the predeploy gate reads, maintenance windows, postdeploy smoke requests."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from opscheck.profile.common import Strict


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
    """The release being deployed: what the predeploy gate reads (opscheck/sources/release.py)."""

    # JUnit XML files of the release's test stages (unit, integration, e2e); a glob, `**` allowed.
    test_results: str | None = None
    min_tests: Annotated[int, Field(ge=1)] = 1
    # k6 --summary-export JSON of the release's load test.
    load_test_summary: str | None = None
    load_test: LoadTestThresholds = LoadTestThresholds()


class SmokeRequest(Strict):
    """A request the postdeploy check sends to prove the API answers (GET only: read-only)."""

    service: str  # services[].name
    path: str = "/"
    expect_status: int = 200
    max_latency_ms: Annotated[float, Field(gt=0)] = 500
