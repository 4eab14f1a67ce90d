"""Starting and stopping the test environment's background processes.

Each process gets a pid file and a log file under the state directory, so `down` can
stop exactly what `up` started and leave nothing behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import requests

from testenv.paths import state_dir


def run_dir() -> Path:
    d = state_dir() / "run"
    d.mkdir(parents=True, exist_ok=True)
    return d


def pid_file(name: str) -> Path:
    return run_dir() / f"{name}.pid"


def log_file(name: str) -> Path:
    d = state_dir() / "logs"
    d.mkdir(parents=True, exist_ok=True)
    return d / f"{name}.log"


def read_pid(name: str) -> int | None:
    try:
        pid = int(pid_file(name).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def pid_alive(pid: int) -> bool:
    try:
        # Reap it if it is our own child that exited, so it does not linger as a zombie.
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); treat it as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def is_running(name: str) -> bool:
    return read_pid(name) is not None


def start(
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> int:
    """Start `argv` detached (own session), unless a process of that name already runs."""
    pid = read_pid(name)
    if pid is not None:
        return pid
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    cmd = list(argv)
    if user is not None:
        cmd = ["runuser", "-u", user, "--", *cmd]
    with open(log_file(name), "ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env=full_env,
            start_new_session=True,
        )
    pid_file(name).write_text(str(proc.pid))
    return proc.pid


def stop_if_started_otherwise(name: str, argv: Sequence[str]) -> None:
    """Stop process `name` if it runs with other arguments than `argv` (one an older
    testenv started), so the next start() runs the current ones."""
    pid = read_pid(name)
    if pid is None:
        return
    try:
        if Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1] != [str(a).encode() for a in argv]:
            stop(name)
    except OSError:  # it just exited
        pass


def stop(name: str, timeout: float = 15.0) -> bool:
    """Stop the process group of `name`; SIGKILL after `timeout`. True if one was running."""
    pid = read_pid(name)
    pid_file(name).unlink(missing_ok=True)
    if pid is None:
        return False
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return True
            time.sleep(0.1)
    return True


def write_private(path: Path, text: str) -> None:
    """Write a 0600 file (keys, tokens, passwords) with no window where others can read it."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def wait_for(predicate, timeout: float, what: str, interval: float = 0.2) -> None:
    """Poll `predicate` until it is truthy; raise TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception as exc:  # the thing is not up yet
            last_exc = exc
        time.sleep(interval)
    detail = f" (last error: {last_exc})" if last_exc else ""
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")


def wait_started(
    name: str, ready: Callable[[], bool], timeout: float, what: str, *, label: str | None = None, interval: float = 0.2
) -> None:
    """Wait until `ready()`, but stop waiting as soon as process `name` dies, instead of
    polling a dead port; then raise, naming its log (`label`, default `name`, says which)."""
    wait_for(lambda: not is_running(name) or ready(), timeout, what, interval)
    if not is_running(name):
        raise RuntimeError(f"{label or name} exited; see {log_file(name)}")


def http_ok(url: str, timeout: float) -> bool:
    """Whether a GET of `url` answers 200 (False if it does not answer)."""
    try:
        return requests.get(url, timeout=timeout).status_code == 200
    except requests.RequestException:
        return False


def server_status(name: str, url: str, ready_path: str = "/-/ready") -> dict[str, Any]:
    """What `testenv status` shows of a started HTTP server: its process, whether it
    answers ready, where it listens and logs."""
    running = is_running(name)
    return {
        "running": running,
        "ready": running and http_ok(url + ready_path, 3),
        "pid": read_pid(name),
        "url": url,
        "log_file": str(log_file(name)),
    }


def up_down_status_cli(up: Callable[[], object], down: Callable[[], object], status: Callable[[], object]) -> None:
    """`python -m testenv.<module> up|down|status`: up and status print their JSON answer."""
    cmd = sys.argv[1] if len(sys.argv) > 1 else "status"
    if cmd == "up":
        print(json.dumps(up(), indent=2))
    elif cmd == "down":
        down()
    else:
        print(json.dumps(status(), indent=2))
