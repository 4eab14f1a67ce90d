"""What the bench measures: a command's wall time and every process's peak memory, the
API requests in the audit log, and the floor (raw paginated LISTs plus JSON parsing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import yaml

from bench.cluster import BASE_NAMESPACE, TARGET
from bench.populate import namespaces_for, session
from testenv.cluster import KwokTarget

if TYPE_CHECKING:
    import psutil

PAGE_SIZE = 500  # the same as opscheck/sources/kube.py PAGE_SIZE
POLL_SECONDS = 0.05


@dataclass
class Measured:
    wall_s: float
    returncode: int
    # pid -> (short command line, peak RSS in MB from /proc/<pid>/status VmHWM)
    peaks: dict[int, tuple[str, float]] = field(default_factory=dict)
    output: str = ""

    @property
    def peak_mb(self) -> float:
        return max((mb for _, mb in self.peaks.values()), default=0.0)

    @property
    def peak_process(self) -> str:
        if not self.peaks:
            return ""
        pid, (cmd, mb) = max(self.peaks.items(), key=lambda kv: kv[1][1])
        return f"{cmd} (pid {pid}, {mb:.0f} MB)"


def _vm_hwm_mb(pid: int) -> float | None:
    """The process's peak resident set so far (kept by the kernel, so a peak between two
    polls still counts)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _describe(proc: psutil.Process) -> str:
    import psutil

    try:
        cmd = proc.cmdline()
    except psutil.Error:
        return "?"
    words = [Path(cmd[0]).name] + [w for w in cmd[1:] if not w.startswith("/")][:4] if cmd else ["?"]
    return " ".join(words)[:80]


def run_measured(cmd: list[str], *, cwd: Path, env: dict[str, str] | None = None, shell: bool = False) -> Measured:
    """Run `cmd`, polling its whole process tree for VmHWM; output captured."""
    # Imported here: psutil is the bench's own dependency (bench/requirements.txt), and
    # make test imports this module for the floor's LISTs (bench/verify.py).
    import psutil

    started = time.monotonic()
    proc = subprocess.Popen(
        cmd if not shell else cmd[0],
        cwd=cwd,
        env=env,
        shell=shell,
        executable="/bin/bash" if shell else None,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    peaks: dict[int, tuple[str, float]] = {}
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.append(proc.stdout.read()), daemon=True)
    reader.start()
    root = psutil.Process(proc.pid)
    names: dict[int, str] = {}
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            tree = []
        for p in tree:
            if p.pid not in names:
                names[p.pid] = _describe(p)
            mb = _vm_hwm_mb(p.pid)
            if mb is not None and mb > peaks.get(p.pid, ("", 0.0))[1]:
                peaks[p.pid] = (names[p.pid], mb)
        time.sleep(POLL_SECONDS)
    wall = time.monotonic() - started
    reader.join()
    return Measured(wall, proc.returncode, peaks, b"".join(chunks).decode(errors="replace"))


# ------------------------------------------------------------------ the opscheck run


def write_profile(path: Path, pods: int, targets: tuple[KwokTarget, ...] = (TARGET,)) -> list[str]:
    """A bench profile at `path`: the bench clusters `targets` (each read with its reader
    kubeconfig), the bench namespaces (the same in every cluster); every other section
    absent, so the checks that need it are not applicable (environments/minimal.yaml's
    way). Returns the namespaces."""
    namespaces = [BASE_NAMESPACE, *namespaces_for(pods)]
    names = ", ".join(t.name for t in targets)
    profile = {
        "name": "bench",
        "description": f"issue 13 benchmark: {pods} pods on each of the kwok clusters {names} (bench/)",
        "clusters": [{"name": t.name, "kubeconfig": str(t.reader_kubeconfig()), "context": t.context} for t in targets],
        "namespaces": namespaces,
        "system_namespaces": ["kube-system"],
        "certificate_namespaces": [BASE_NAMESPACE],
        "default_min_replicas": 1,
    }
    path.write_text(yaml.safe_dump(profile, sort_keys=False))
    return namespaces


def opscheck_cmd(profile: Path, workers: int, report_dir: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pytest",
        "-m",
        "daily",
        f"--env={profile}",
        "-n",
        str(workers),
        "-q",
        f"--report-dir={report_dir}",
    ]


def outcomes(report_dir: Path) -> str:
    files = sorted(report_dir.rglob("results.json"))
    if not files:
        return "no results.json"
    data = json.loads(files[-1].read_text())
    counts: dict[str, int] = {}
    for r in data.get("results") or data.get("checks") or []:
        counts[r.get("outcome", "?")] = counts.get(r.get("outcome", "?"), 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


# --------------------------------------------------------------------------- audit log


def audit_offset(target: KwokTarget = TARGET) -> int:
    path = target.audit_log()
    return path.stat().st_size if path.exists() else 0


def audit_requests(since_offset: int, username: str, target: KwokTarget = TARGET) -> list[dict]:
    """The audit events of `username` written after byte `since_offset` (one per request:
    the policy logs ResponseComplete only, plus ResponseStarted for watches)."""
    out = []
    with open(target.audit_log(), "rb") as f:
        f.seek(since_offset)
        for line in f:
            if username.encode() not in line:
                continue
            event = json.loads(line)
            if (event.get("user") or {}).get("username") == username and event.get("stage") == "ResponseComplete":
                out.append(event)
    return out


def listed_paths(events: list[dict]) -> list[str]:
    """The collection paths of the LISTs among `events` (each once, first seen first)."""
    paths = [urlsplit(e["requestURI"]).path for e in events if e.get("verb") == "list"]
    return list(dict.fromkeys(paths))


def request_summary(events: list[dict]) -> str:
    by_verb = Counter(e.get("verb") for e in events)
    return ", ".join(f"{v} {n}" for v, n in sorted(by_verb.items()))


# ------------------------------------------------------------------------------ floor


def floor(
    paths: list[str], keep: dict[str, list[dict]] | None = None, target: KwokTarget = TARGET
) -> tuple[float, int, int]:
    """One paginated LIST (limit PAGE_SIZE) of every path, each page parsed with json:
    (seconds, pages, objects). `keep`: filled with every path's raw items (bench/verify.py
    counts over them)."""
    http = session(target)
    base = target.server_url()
    pages = objects = 0
    started = time.monotonic()
    for path in paths:
        token = None
        while True:
            params: dict[str, object] = {"limit": PAGE_SIZE}
            if token:
                params["continue"] = token
            r = http.get(base + path, params=params, timeout=300)
            r.raise_for_status()
            page = json.loads(r.content)
            pages += 1
            objects += len(page.get("items") or [])
            if keep is not None:
                keep.setdefault(path, []).extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                break
    seconds = time.monotonic() - started
    http.close()
    return seconds, pages, objects


# ------------------------------------------------------------------------ the machine


def machine() -> dict[str, str]:
    import platform

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    mem_kb = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    version = session().get(TARGET.server_url() + "/version", timeout=10).json().get("gitVersion", "?")
    return {
        "host": platform.node(),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "ram": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "kubernetes": f"{version} (kwok nodes, kube-apiserver and etcd on this machine)",
    }
