"""Times and durations as the APIs and the profile write them: the one parser of each."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

# Go's zero time.Time: what Prometheus (and other Go APIs) write for "never".
GO_ZERO_TIME = "0001-01-01"


def parse_time(value: str | None) -> datetime | None:
    """An aware datetime from an RFC 3339 / ISO 8601 timestamp (`Z` or an offset, up to
    nanoseconds: truncated to microseconds; no offset: UTC). None for a missing or
    malformed value and for Go's zero time."""
    if not value or value.startswith(GO_ZERO_TIME):
        return None
    try:
        ts = datetime.fromisoformat(value)  # 3.11+: accepts Z and truncates nanoseconds
    except ValueError:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class DurationSyntax:
    """One way of writing a duration: units (seconds each), and what numbers may look like."""

    units: dict[str, float]
    decimals: bool  # 1.5h
    compound: bool  # 1h30m
    bare_zero: bool  # "0" without a unit
    spaced: bool  # "30 d": blanks between the number and its unit
    positive: bool  # zero refused
    example: str

    def part(self) -> re.Pattern[str]:
        number = r"\d+(?:\.\d*)?|\.\d+" if self.decimals else r"\d+"
        units = "|".join(sorted(self.units, key=len, reverse=True))  # ms before m
        return re.compile(rf"({number})\s*({units})" if self.spaced else rf"({number})({units})")


DURATION_SYNTAXES: dict[str, DurationSyntax] = {
    # The profile (schedule.max_age): one number and unit.
    "profile": DurationSyntax(
        {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400},
        decimals=True,
        compound=False,
        bare_zero=False,
        spaced=True,
        positive=True,
        example="90m, 26h, 8d or 2w",
    ),
    # PromQL and the Prometheus API (scrape intervals).
    "promql": DurationSyntax(
        {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000},
        decimals=False,
        compound=True,
        bare_zero=False,
        spaced=False,
        positive=False,
        example="1h30m, 7d or 250ms (PromQL)",
    ),
    # Go's time.Duration as Velero (TTLs) and External Secrets (refreshInterval) write it.
    "go": DurationSyntax(
        {"h": 3600, "m": 60, "s": 1},
        decimals=True,
        compound=True,
        bare_zero=True,
        spaced=False,
        positive=False,
        example="720h0m0s, 1h30m or 0 (Go)",
    ),
}


def parse_duration(value: str, syntax: Literal["profile", "promql", "go"] = "profile") -> timedelta:
    """'90m', '26h', '8d', '2w' (the profile's form; `syntax` picks PromQL's or Go's) ->
    timedelta; ValueError naming the expected form otherwise."""
    form = DURATION_SYNTAXES[syntax]
    text = str(value).strip()
    if form.bare_zero and text == "0":
        return timedelta(0)
    matches = list(form.part().finditer(text))
    whole = "".join(m.group(0) for m in matches) == text  # nothing between or around the parts
    seconds = sum(float(m[1]) * form.units[m[2]] for m in matches)
    if not matches or not whole or (len(matches) > 1 and not form.compound) or (form.positive and seconds <= 0):
        raise ValueError(f"{value!r} is not a duration like {form.example}")
    return timedelta(seconds=seconds)


def describe_age(delta: timedelta) -> str:
    """'3.5 days' / '7.2 h' / '12 min': how an operator says an age."""
    seconds = delta.total_seconds()
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min"
