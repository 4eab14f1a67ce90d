"""Faults several fault-test files apply the same way."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from selftests.harness import broken
from testenv import apps, cluster


def app_misbehaving(app: str, **controls: Any) -> AbstractContextManager[None]:
    """The test app `app` told to misbehave (its control fields, e.g. latency_ms=900), then
    told to behave again (each of those fields back to its default)."""
    return broken(lambda: apps.set_control(app, **controls), lambda: apps.set_control(app, **dict.fromkeys(controls)))


def rotate_log(app: str) -> None:
    """Repair for a log-window fault: rotate the app's log, as the kubelet does.

    `kubectl logs` reads the current file only, so the planted lines leave the window the
    check reads; otherwise the repair would be an hour of waiting for them to age out.
    """
    path = apps.log_file(app)
    path.replace(path.with_suffix(".log.1"))
    path.touch()


def app_logged(app: str, lines: list[str]) -> AbstractContextManager[None]:
    """`lines` written to the app's log (its pods show them), rotated away on exit."""
    return broken(lambda: apps.write_log_lines(app, lines), lambda: rotate_log(app))


def fields_replaced(
    kind: str, namespace: str, name: str, faulty: dict[str, Any], healthy: dict[str, Any]
) -> AbstractContextManager[None]:
    """The demo object's fields (JSON pointer -> value) set to `faulty`, then to `healthy`."""

    def replace(values: dict[str, Any]) -> None:
        ops = [{"op": "replace", "path": path, "value": value} for path, value in values.items()]
        cluster.patch(kind, namespace, name, ops, kind_of_patch="json")

    return broken(lambda: replace(faulty), lambda: replace(healthy))


def drop_keys(path: Path, *keys: str) -> None:
    """Rewrite a JSON file without `keys`: a tool's own output published without the fields
    a script adds (the fault's repair writes the file whole again)."""
    doc = json.loads(path.read_text())
    for key in keys:
        del doc[key]
    path.write_text(json.dumps(doc))


# A table of fault cases: case name -> (check id, a function making the fault, the failed
# check's message in full, as a regex), run by a test parametrized over the case names.
FaultCase = tuple[str, Callable[[], AbstractContextManager[Any]], str]


def fails_with(checks: Any, case: FaultCase, **kw: Any) -> None:
    """Under the case's fault the check fails with its message; repaired, it passes again
    (`kw`, e.g. timeout and profile, go to both waits)."""
    check_id, fault, expected = case
    with checks.fails_then_recovers(check_id, fault(), **kw) as r:
        assert re.fullmatch(expected, r.message), r.message
