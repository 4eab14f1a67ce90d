"""One fetch per run: a cache shared by every check and every xdist worker.

The first process that needs a value (a LIST of pods, a pod's log, the server version)
takes a file lock, fetches it, and writes it to the run's private cache directory; every
other check and worker reads that file. So the number of requests to a cluster depends on
what the selected checks need, never on how many checks or workers there are.

A failed fetch is cached too: when a dependency is down, the first check pays the timeout
and every later one gets the same error at once, keeping the run's time bounded.

The directory is created 0700 and deleted when the run ends. Secret payloads never get
here: callers project objects before caching (see kube.project_secret).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from filelock import FileLock

from opscheck.errors import DependencyError, OpscheckError


class RunCache:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def _paths(self, key: str) -> tuple[Path, Path]:
        # Readable prefix for debugging, hash for uniqueness and safe file names.
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", key)[:80]
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        base = self.directory / f"{slug}-{digest}"
        return base.with_suffix(".json"), base.with_suffix(".lock")

    def get(self, key: str, fetch: Callable[[], Any]) -> Any:
        """The cached value of `key`, fetching it once per run.

        An OpscheckError raised by `fetch` is cached and re-raised as DependencyError
        for every later caller.
        """
        data_path, lock_path = self._paths(key)
        if not data_path.exists():
            with FileLock(str(lock_path)):
                if not data_path.exists():
                    try:
                        entry = {"value": fetch()}
                    except OpscheckError as exc:
                        entry = {"error": str(exc)}
                    tmp = data_path.with_suffix(f".tmp{os.getpid()}")
                    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
                        json.dump(entry, f)
                    os.replace(tmp, data_path)
        with open(data_path) as f:
            entry = json.load(f)
        if "error" in entry:
            raise DependencyError(entry["error"])
        return entry["value"]
