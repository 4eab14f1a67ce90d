"""Reading a Vault file audit log: timestamps only, never the (HMAC'd) request bodies."""
from __future__ import annotations

import json
import os
from datetime import datetime

from opscheck.errors import DependencyError
from opscheck.profile import expand_path
from opscheck.timeutil import parse_time

TAIL_BYTES = 256 * 1024


def newest_entry_time(path: str) -> datetime | None:
    """The `time` of the last complete JSON line of the audit log."""
    p = expand_path(path)
    try:
        with open(p, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - TAIL_BYTES))
            tail = f.read().decode("utf-8", "replace")
    except OSError as exc:
        raise DependencyError(f"cannot read Vault audit log {p}: {exc.strerror}") from None
    for line in reversed(tail.splitlines()):
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a partial first line, or a line being written
        ts = parse_time(entry.get("time"))
        if ts is not None:
            return ts
    return None
