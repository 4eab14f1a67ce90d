"""A run of the suite: its identity, its environment, and the results it records.

The controller process (the only process without xdist) owns the run: it names the
report folder, creates the shared cache, gathers every check's result from the test
reports (which xdist ships back from the workers), and writes the audit record.
"""

from __future__ import annotations

import fcntl
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
from opscheck.record.ledger import Permissions, commit_run
from opscheck.record.signing import Signer

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


def _git(path: Path, *args: str) -> str | None:
    """What `git -C path args` prints; None when git is missing, fails or times out."""
    try:
        out = subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_commit(path: Path) -> str:
    commit = _git(path, "rev-parse", "--short=12", "HEAD")
    if commit is None:
        return "unknown"
    dirty = _git(path, "status", "--porcelain", "--untracked-files=no")
    return commit + ("-dirty" if dirty else "")


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


ALIVE = ".alive"
# A directory without its lock file is a run that is starting (or sealing), or one from
# before these locks: removed only once it is this old.
UNLOCKED_MAX_AGE_SECONDS = 86400.0


class LiveDir:
    """A private directory whose owner holds an exclusive lock on `.alive` inside it for as
    long as it runs. The kernel drops the lock when the process dies, however it dies
    (SIGKILL included), so the next run can tell a dead run's leftovers from a live run's
    directory and remove them (`reap`)."""

    def __init__(self, parent: Path, prefix: str) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))  # 0700
        self._fd: int | None = os.open(self.path / ALIVE, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def release(self) -> None:
        """Give up the lock and remove the lock file (the directory stays)."""
        if self._fd is not None:
            (self.path / ALIVE).unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None

    def remove(self) -> None:
        self.release()
        shutil.rmtree(self.path, ignore_errors=True)

    @staticmethod
    def reap(parent: Path, prefix: str) -> list[Path]:
        """Remove the directories under `parent` named `prefix*` whose owner is gone; the removed."""
        removed: list[Path] = []
        try:
            candidates = [p for p in parent.iterdir() if p.name.startswith(prefix)]
        except OSError:
            return removed
        for folder in candidates:
            try:
                if not folder.is_dir() or folder.is_symlink() or folder.stat().st_uid != os.getuid():
                    continue
                if _owner_gone(folder):
                    shutil.rmtree(folder, ignore_errors=True)
                    removed.append(folder)
            except OSError:
                continue
        return removed


def _owner_gone(folder: Path) -> bool:
    alive = folder / ALIVE
    try:
        fd = os.open(alive, os.O_RDWR)
    except FileNotFoundError:
        # No lock file: a run that has not created it yet, or one from before locks existed.
        return utc_now().timestamp() - folder.stat().st_mtime > UNLOCKED_MAX_AGE_SECONDS
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False  # its run holds the lock: alive
    finally:
        os.close(fd)
    return True


class ReportFolder:
    """Writes into a hidden partial folder, renamed into place when the run completes,
    so an interrupted run never looks like a finished one and no run overwrites another.
    A killed run's partial folder is removed by the next run into the same directory."""

    PREFIX = ".partial-"

    def __init__(
        self, reports_dir: Path, name: str, *, group_readable: bool = False, signer: Signer | None = None
    ) -> None:
        self.reports_dir = reports_dir
        self.reports_dir.mkdir(parents=True, exist_ok=True)
        LiveDir.reap(reports_dir, self.PREFIX)
        self.live = LiveDir(reports_dir, f"{self.PREFIX}{name}-")
        self.partial = self.live.path
        self.name = name
        self.permissions = Permissions.of(group_readable)
        self.signer = signer or Signer()
        self.final: Path | None = None

    def path(self, filename: str) -> Path:
        return self.partial / filename

    def commit(self) -> Path:
        """Seal the run with its manifest, chained to the previous run, and rename it in."""
        self.live.release()  # the lock file is no part of the record
        self.final = commit_run(
            self.reports_dir, self.partial, self.name, signer=self.signer, permissions=self.permissions
        )
        return self.final

    def discard(self) -> None:
        self.live.remove()


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, ensure_ascii=False, default=str)
        f.write("\n")
    os.replace(tmp, path)
