"""Error patterns: the week's error lines grouped by message, numbers and ids taken out
(runbook 003 주간 점검: 로그 검토 (에러 패턴 분석)), as `... | grep -i error | sed ... |
sort | uniq -c | sort -rn` would group them."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from opscheck.redact import excerpt, mask

if TYPE_CHECKING:
    from opscheck.sources.pod_logs import LogLine

Obj = dict[str, Any]
Row = dict[str, Any]

# The application's own timestamp and level in front of the message.
_PREFIX = re.compile(r"^\s*(\[?\d{4}-\d\d-\d\d[T ][0-9:.,]+Z?\]?\s+)?(TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL)?\s*")
_VARIABLE = [
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<uuid>"),
    (re.compile(r"\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b"), "<ip>"),
    (re.compile(r"\b\d{4}-\d\d-\d\d[T ][0-9:.]+Z?\b"), "<time>"),
    (re.compile(r"\b(0x)?[0-9a-f]*\d[0-9a-f]*\b", re.I), "<n>"),  # numbers, hex ids with a digit
    (re.compile(r"\d+(\.\d+)?"), "<n>"),  # what is left, e.g. a number glued to its unit: 3000ms
]
MAX_PATTERN = 160


def pattern_of(text: str) -> str:
    """`2026-11-22 03:00:01 ERROR [user-service] Timeout after 3000ms (req 8f2a91)` ->
    `[user-service] Timeout after <n>ms (req <n>)`."""
    # Credentials masked first: taking numbers out would cut a token into pieces no mask knows.
    message = mask(_PREFIX.sub("", text, count=1))
    for rx, token in _VARIABLE:
        message = rx.sub(token, message)
    message = " ".join(message.split())
    return message[:MAX_PATTERN]


def error_patterns(lines_by_app: dict[str, Iterable[LogLine]], error_pattern: str) -> Counter[tuple[str, str]]:
    """(app, pattern) -> how many error lines, over every app's lines."""
    rx = re.compile(error_pattern)
    counts: Counter[tuple[str, str]] = Counter()
    for app, lines in lines_by_app.items():
        for line in lines:
            if rx.search(line.text):
                counts[(app, pattern_of(line.text))] += 1
    return counts


def matching(lines: Iterable[LogLine], pattern: str) -> list[LogLine]:
    """The lines matching the regular expression `pattern` (as `grep -E`)."""
    rx = re.compile(pattern)
    return [ln for ln in lines if rx.search(ln.text)]


def own_containers(pod: Obj, app: str) -> Obj:
    """The pod with only the app's own container (a sidecar's access log is not the app's
    log); all of them when none is named after the app."""
    own = [c for c in pod["spec"]["containers"] if c["name"] == app]
    return pod | {"spec": pod["spec"] | {"containers": own or pod["spec"]["containers"]}}


def apps_without_logs(
    pods_by_app: dict[str, list[Any]], lines_by_app: dict[str, list[LogLine]], selector: str, namespaces: list[str]
) -> list[Row]:
    """The apps there is nothing to judge of: no running pod (`selector` names the label, e.g.
    "app"), or not one log line in the window."""
    where = ", ".join(namespaces)
    rows = []
    for app, pods in pods_by_app.items():
        if not pods:
            rows.append({"object": app, "detail": f"no pod labelled {selector}={app} in {where}"})
        elif not lines_by_app.get(app):
            rows.append({"object": app, "detail": f"{len(pods)} pods wrote no log line in the window"})
    return rows


def error_lines_per_app(
    lines_by_app: dict[str, tuple[int, list[LogLine]]], error_pattern: str, limit: int, per: timedelta | None = None
) -> tuple[list[Row], list[Row], list[str]]:
    """({app: (pods, lines)} -> (a row per app, offenders: apps over `limit` error lines,
    the last three error lines of each offender as examples).

    `per`: the limit counts per interval of that length (the runbook's `--since=1h`): the
    window is cut into such intervals and the worst one is judged, so a whole day is read
    and a burst anywhere in it is seen. None: the limit is for the whole window."""
    rows, offenders, examples = [], [], []
    for app, (pods, lines) in lines_by_app.items():
        errors = matching(lines, error_pattern)
        worst, start = _worst_interval(errors, per)
        rows.append(
            {"object": app, "pods": pods, "error_lines": len(errors)} | ({"worst_interval": worst} if per else {})
        )
        if worst > limit:
            where = f" in the {_span(per)} from {start:%Y-%m-%d %H:%M} UTC" if per and start else ""
            offenders.append({"object": app, "detail": f"{worst} ERROR lines{where}"})
            examples += [f"{e.pod}: {excerpt(e.text, 200)}" for e in errors[-3:]]
    return rows, offenders, examples


def _worst_interval(lines: list[LogLine], per: timedelta | None) -> tuple[int, datetime | None]:
    """(the most lines in one interval of length `per`, that interval's start); lines
    without a timestamp count in every interval's total as the latest."""
    if per is None or not lines:
        return len(lines), None
    seconds = per.total_seconds()
    buckets = Counter(int(ln.time.timestamp() // seconds) if ln.time else None for ln in lines)
    undated = buckets.pop(None, 0)
    if not buckets:
        return undated, None
    key, count = max(buckets.items(), key=lambda kv: (kv[1], kv[0]))
    return count + undated, datetime.fromtimestamp(key * seconds, UTC)


def _span(per: timedelta | None) -> str:
    if per is None:
        return ""
    minutes = per.total_seconds() / 60
    return "hour" if minutes == 60 else f"{minutes:g} minutes"


def count_containing(lines: Iterable[LogLine], markers: dict[str, str]) -> dict[str, int]:
    """{name: how many lines contain markers[name]}."""
    lines = list(lines)
    return {name: sum(1 for ln in lines if marker in ln.text) for name, marker in markers.items()}


def per_pod(lines: Iterable[LogLine]) -> dict[str, int]:
    """How many of the lines each pod wrote, by pod name."""
    counts = Counter(ln.pod for ln in lines)
    return dict(sorted(counts.items()))


def recurring_patterns(counts: Counter[tuple[str, str]], limit: int) -> list[Row]:
    """The (app, pattern)s seen more than `limit` times, most frequent first."""
    return [
        {"object": f"{app}: {pattern}", "detail": f"{n} times"}
        for (app, pattern), n in counts.most_common()
        if n > limit
    ]
