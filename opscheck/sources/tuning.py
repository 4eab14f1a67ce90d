"""The big-cluster tuning knobs read from the environment (OPSCHECK_PAGE_SIZE,
OPSCHECK_STREAM_MIN_BYTES, OPSCHECK_PACK_MIN_OBJECTS), each read at each LIST so a process
forked after importing opscheck sees its own."""

from __future__ import annotations

import os

from opscheck.errors import DependencyError


def int_setting(var: str, default: int, minimum: int, what: str) -> int:
    """`var` as a whole number of at least `minimum`, `default` when unset or empty; else an
    error naming the variable, its value and what it sets (the reading check errors with it)."""
    text = os.environ.get(var) or str(default)
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise DependencyError(f"{var}={text!r}: {what} must be a whole number of {minimum} or more")
    return value
