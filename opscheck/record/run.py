"""A run of the suite: its identity, its environment, and the results it records.

The controller process (the only process without xdist) owns the run: it names the
report folder, creates the shared cache, gathers every check's result from the test
reports (which xdist ships back from the workers), and writes the audit record.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opscheck import __version__
from opscheck.check import CADENCES
from opscheck.profile import Profile
from opscheck.record.ledger import commit_run

RESULTS_SCHEMA_VERSION = 1


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime | None) -> str | None:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ") if ts else None


def cadences_of(markexpr: str) -> list[str]:
    """The cadences a `-m` expression names, in canonical order (empty: none named)."""
    words = re.findall(r"[A-Za-z_]+", markexpr or "")
    # `-m "daily and not weekly"` runs the daily checklist only.
    named = {w for i, w in enumerate(words) if not (i and words[i - 1] == "not")}
    return [c for c in CADENCES if c in named]


def git_commit(path: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if out.returncode != 0:
        return "unknown"
    dirty = subprocess.run(
        ["git", "-C", str(path), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        timeout=5,
        check=False,
    ).stdout.strip()
    return out.stdout.strip() + ("-dirty" if dirty else "")


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


@dataclass
class RunInfo:
    """Facts about the run that go at the top of every report."""

    profile: Profile
    cadences: list[str]
    markexpr: str
    started: datetime = field(default_factory=utc_now)
    finished: datetime | None = None
    suite_version: str = __version__
    commit: str = "unknown"
    user: str = field(default_factory=current_user)
    host: str = field(default_factory=socket.gethostname)
    workers: int = 0
    # cluster name -> {"context", "server", "version"} filled at the end of the run
    clusters: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def folder_name(self) -> str:
        label = "+".join(self.cadences) if self.cadences else "all"
        return f"{self.started.strftime('%Y%m%dT%H%M%SZ')}-{label}-{self.profile.name}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "profile": {
                "name": self.profile.name,
                "source": self.profile.source,
                "description": self.profile.description,
            },
            "cadences": self.cadences,
            "selection": self.markexpr,
            "started": iso(self.started),
            "finished": iso(self.finished),
            "suite_version": self.suite_version,
            "commit": self.commit,
            "user": self.user,
            "host": self.host,
            "workers": self.workers,
            "clusters": self.clusters,
        }


class ReportFolder:
    """Writes into a hidden partial folder, renamed into place when the run completes,
    so an interrupted run never looks like a finished one and no run overwrites another."""

    def __init__(self, reports_dir: Path, name: str) -> None:
        self.reports_dir = reports_dir
        self.reports_dir.mkdir(parents=True, exist_ok=True)
        self.partial = Path(tempfile.mkdtemp(prefix=f".partial-{name}-", dir=reports_dir))
        self.name = name
        self.final: Path | None = None

    def path(self, filename: str) -> Path:
        return self.partial / filename

    def commit(self) -> Path:
        """Seal the run with its manifest, chained to the previous run, and rename it in."""
        self.final = commit_run(self.reports_dir, self.partial, self.name)
        return self.final

    def discard(self) -> None:
        shutil.rmtree(self.partial, ignore_errors=True)


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, ensure_ascii=False, default=str)
        f.write("\n")
    os.replace(tmp, path)
