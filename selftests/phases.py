"""`python -m selftests.phases`: the whole self-test suite, as `make test` runs it.

Two phases, each of parallel pytest processes (selftests/streams.py says which test goes
where and why):
1. the unit and pytester tests (`-n 2`) beside the whole-environment tests, one at a time,
   and the runs against worlds of their own (the multi-cluster system, the empty world);
2. the fault tests' three streams, "apps", "hosts" and "kubernetes", side by side.
Separate processes rather than pytest-xdist's `--dist loadgroup`: xdist 3.8 marks a group
by rewriting `item._nodeid`, which pytest 9 no longer reads, so its groups do not hold.
Each process writes to its own log, printed whole when it ends; the exit code is the first
non-zero one (pytest's 5, "no tests", included: a phase that selects nothing is a mistake).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Set for the pytest processes once this runner found every test-environment component
# running: a stream's own check at its start could see another stream's fault instead.
ENV_CHECKED_BY_PHASES = "OPSCHECK_SELFTEST_ENV_CHECKED"
PHASES: list[list[tuple[str, list[str]]]] = [
    [
        ("unit and plugin", ["-m", "not whole_environment and not separate_world and not fault_stream", "-n", "2"]),
        ("whole environment", ["-m", "whole_environment"]),
        ("separate worlds", ["-m", "separate_world"]),
    ],
    [
        ("apps faults", ["-m", "stream_apps"]),
        ("hosts faults", ["-m", "stream_hosts"]),
        ("kubernetes faults", ["-m", "stream_kubernetes"]),
    ],
]


def run_phase(phase: list[tuple[str, list[str]]], logs: Path, extra: list[str]) -> int:
    started = time.monotonic()
    running = []
    for name, args in phase:
        log = logs / f"{name.replace(' ', '-')}.log"
        # --durations: each log names its slowest tests, where the next saving is.
        cmd = [sys.executable, "-m", "pytest", "selftests", "-p", "no:cacheprovider", "--durations=15", *args, *extra]
        out = log.open("w")
        running.append((name, cmd, log, out, subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)))
    status = 0
    for name, cmd, log, out, proc in running:
        code = proc.wait()
        out.close()
        print(f"\n===== {name}: {' '.join(cmd[1:])} (exit {code}) =====", flush=True)
        sys.stdout.write(log.read_text(errors="replace"))
        status = status or code
    print(f"===== phase done in {time.monotonic() - started:.0f} s =====", flush=True)
    return status


def environment_problem() -> str | None:
    """Why the test environment cannot serve the self-tests, or None: every component runs."""
    from testenv import __main__ as testenv_cli

    for name, module in testenv_cli.COMPONENTS:
        if not module.status().get("running", False):
            return f"test environment component {name} is not running: run `python -m testenv up` (make test does it)"
    return None


def main(argv: list[str]) -> int:
    problem = environment_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 1
    os.environ[ENV_CHECKED_BY_PHASES] = "1"
    status = 0
    with tempfile.TemporaryDirectory(prefix="selftests-") as tmp:
        for phase in PHASES:
            status = run_phase(phase, Path(tmp), argv) or status
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
