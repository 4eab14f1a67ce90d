"""Error patterns: the week's error lines grouped by message, numbers and ids taken out
(runbook 003 주간 점검: 로그 검토 (에러 패턴 분석)), as `... | grep -i error | sed ... |
sort | uniq -c | sort -rn` would group them."""
from __future__ import annotations

import re
from collections import Counter
from typing import Iterable

from opscheck.sources.pod_logs import LogLine

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
    message = _PREFIX.sub("", text, count=1)
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
