"""Run `python -m pytest ARGS` as a fresh child of one process that imported the libraries once.

The fault self-tests run a check the way an operator does, hundreds of times per session;
each `python -m pytest` start spends 1.5-2.5 s importing pytest, the kubernetes client,
hvac, psycopg, testinfra, ... before the check runs. The fork server pays that once: it
imports those libraries, then forks a child per run. The child is a new process with its
own `pytest.main()`, working directory, environment, stdout and stderr, exactly as a fresh
`python -m pytest` would have (the libraries it finds already imported are the same code).
Nothing of the suite under test (tests_*, conftest.py, fixtures/) is imported before the fork;
opscheck's library is (its plugin, profile models and record), as an installed plugin would be,
and the preloaded heap is frozen out of the garbage collector, so the child's collections at
pytest's exit do not walk it (about 0.4 s a run).
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

# Imported once in the server; the suite's own modules are imported by each child's pytest.
PRELOAD = (
    "pytest",
    "_pytest.pytester",
    "kubernetes",
    "kubernetes.client",
    "kubernetes.config",
    "hvac",
    "psycopg",
    "pydantic",
    "requests",
    "urllib3",
    "yaml",
    "cryptography.x509",
    "testinfra",
    "pytest_html",
    "pytest_metadata",
    "xdist",
    "redis",
    "dns.resolver",
    "prometheus_client",
    "croniter",
    "jsonschema",
    "filelock",
    "jinja2",
    # the library (not the suite): the pytest plugin and what it imports
    "opscheck.plugin",
    "opscheck.record.html",
)

SERVER = r"""
import importlib, json, os, sys
for name in json.loads(sys.argv[1]):
    try:
        importlib.import_module(name)
    except ImportError:
        pass
import gc
gc.freeze()
out = sys.stdout
for line in sys.stdin:
    req = json.loads(line)
    pid = os.fork()
    if pid == 0:
        try:
            os.chdir(req["cwd"])
            os.environ.clear()
            os.environ.update(req["env"])
            for fd, path in ((1, req["stdout"]), (2, req["stderr"])):
                f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.dup2(f, fd)
                os.close(f)
            sys.stdin.close()
            sys.argv = ["pytest", *req["args"]]
            sys.path[0] = req["cwd"]
            # PYTHONPATH as a fresh interpreter reads it: after the script's folder.
            extra = [p for p in req["env"].get("PYTHONPATH", "").split(os.pathsep) if p]
            sys.path[1:1] = [p for p in extra if p not in sys.path]
            import pytest
            code = pytest.main(req["args"])
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(int(code))
        except BaseException:
            import traceback
            traceback.print_exc()
            sys.stderr.flush()
            os._exit(70)
    out.write(json.dumps({"pid": pid}) + "\n")
    out.flush()
    _, status = os.waitpid(pid, 0)
    out.write(json.dumps({"rc": os.waitstatus_to_exitcode(status)}) + "\n")
    out.flush()
"""


class ForkServer:
    """One server process; `run()` is `subprocess.run([python, -m, pytest, *args])` in effect."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self._proc: subprocess.Popen[str] | None = None
        # The server's own environment (None: this process's), for what must be there from
        # its start: a preloaded library such as libfaketime.
        self._env = env

    def _server(self) -> subprocess.Popen[str]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", SERVER, json.dumps(PRELOAD)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                bufsize=1,
                env=self._env,
            )
        return self._proc

    def _read(self, proc: subprocess.Popen[str], timeout: float) -> dict:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the pytest fork server exited")
        return json.loads(line)

    def run(
        self, args: list[str], *, cwd: Path, env: dict[str, str], timeout: float
    ) -> subprocess.CompletedProcess[str]:
        proc = self._server()
        # The preloaded plugins were imported before pytest could rewrite their asserts: its
        # warning says so in every run. An artefact of preloading, not of the run: hidden.
        args = ["-W", "ignore::pytest.PytestAssertRewriteWarning", *args]
        with tempfile.TemporaryDirectory(prefix="forkrun-") as tmp:
            out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
            assert proc.stdin is not None
            proc.stdin.write(
                json.dumps({"args": args, "cwd": str(cwd), "env": env, "stdout": str(out), "stderr": str(err)}) + "\n"
            )
            proc.stdin.flush()
            pid = self._read(proc, 30)["pid"]
            try:
                rc = self._read(proc, timeout)["rc"]
            except TimeoutError:
                os.kill(pid, signal.SIGKILL)
                self._read(proc, 30)
                raise subprocess.TimeoutExpired(["pytest", *args], timeout) from None
            return subprocess.CompletedProcess(
                ["pytest", *args], rc, out.read_text(errors="replace"), err.read_text(errors="replace")
            )

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            self._proc.wait(timeout=30)
        self._proc = None
