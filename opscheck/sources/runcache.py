"""One fetch per run: a cache shared by every check and every xdist worker.

The first process that needs a value (a LIST of pods, a pod's log, the server version)
takes a file lock, fetches it, and writes it to the run's private cache directory; every
other check and worker reads that file. So the number of requests to a cluster depends on
what the selected checks need, never on how many checks or workers there are.

A failed fetch is cached too: when a dependency is down, the first check pays the timeout
and every later one gets the same error at once, keeping the run's time bounded. Beyond
one key, a dependency that gave no answer at all (timed out, refused) is remembered as an
outage (`record_outage`): every later call to it in the run, whatever it asks and in
whichever worker, gets that error at once (`known_outage`).

The lock has a timeout: a fetch holding it longer than LOCK_TIMEOUT_SECONDS (each request
is itself bounded) means something is stuck, and the waiting check errors saying so.

The directory is created 0700 and deleted when the run ends. Secret payloads never get
here: callers project objects before caching (see kube.project_secret).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from filelock import FileLock, Timeout

from opscheck.errors import DependencyError, OpscheckError
from opscheck.sources.packed import PackedList

# Long enough for a paginated LIST of a large cluster (every page bounded by its timeout).
LOCK_TIMEOUT_SECONDS = 300.0
CACHED_NOTE = "cached error from the first attempt in this run"


class RunCache:
    def __init__(
        self, directory: str | os.PathLike[str], lock_timeout: float = LOCK_TIMEOUT_SECONDS, *, shared: bool = True
    ) -> None:
        self.directory = Path(directory)
        self.lock_timeout = lock_timeout
        # shared=False: no other process reads this run's values (no xdist workers), so they
        # stay in memory only: encoding a big cluster's LIST to a file nobody reads costs
        # seconds and a copy of it as one string.
        self.shared = shared
        # Failed fetches of an unshared cache (a shared one keeps them in its files).
        self._errors: dict[str, str] = {}
        self._outages: dict[str, str] = {}
        # Values this process has read, parsed once: a LIST of a big cluster is tens of MB of
        # JSON that every check would otherwise parse again. Callers must not mutate them.
        self._values: dict[str, Any] = {}
        # Keys whose failed fetch a read ahead made in this process: the first check that asks
        # gets the error as its own, without the "cached" note (it was not there before).
        self._failed_ahead: set[str] = set()
        # Threads of this process wait for each other's fetch of a key on a lock of their
        # own, woken the moment it is done; the file lock, polled every 50 ms, is only
        # between processes (a check waiting for a read ahead of another cluster's LIST
        # would otherwise lose up to 50 ms each time).
        self._key_locks: dict[str, threading.Lock] = {}
        self._key_locks_lock = threading.Lock()

    def _base(self, prefix: str, key: str) -> str:
        # Readable prefix for debugging, hash for uniqueness and safe file names. (Not
        # Path.with_suffix: a key with a dot, a host or an API group, would lose its hash.)
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", key)[:80]
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        return f"{prefix}{slug}-{digest}"

    def _paths(self, key: str) -> tuple[Path, Path]:
        base = self._base("", key)
        return self.directory / f"{base}.json", self.directory / f"{base}.lock"

    def _outage_path(self, dependency: str) -> Path:
        return self.directory / f"{self._base('outage-', dependency)}.json"

    def _write(self, path: Path, entry: dict[str, Any]) -> None:
        tmp = path.with_name(f"{path.name}.tmp{os.getpid()}-{threading.get_ident()}")
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
            # A list (a big cluster's LIST: tens of MB) is written one item a line after a
            # header, so neither writing nor reading it holds the whole encoding at once.
            value = entry.get("value")
            if isinstance(value, PackedList):
                # header, then the compressed chunks as they are: a worker reads them without decoding
                header, chunks = value.to_parts()
                f.write(orjson.dumps({"packed": header, "lengths": [len(c) for c in chunks]}) + b"\n")
                for chunk in chunks:
                    f.write(chunk)
            elif isinstance(value, list):
                f.write(orjson.dumps({"items": len(value)}) + b"\n")
                for item in value:
                    f.write(orjson.dumps(item) + b"\n")
            else:
                f.write(orjson.dumps(entry) + b"\n")
        os.replace(tmp, path)

    def _stored(self, key: str, data_path: Path) -> bool:
        if self.shared:
            return data_path.exists()
        return key in self._values or key in self._errors

    # -- outages -------------------------------------------------------------------------
    def known_outage(self, dependency: str) -> str | None:
        """The first no-answer error of `dependency` in this run (any worker), with a note
        that it is cached; None while it has not failed that way."""
        message = self._outages.get(dependency)
        if message is None:
            path = self._outage_path(dependency)
            try:
                with open(path, "rb") as f:
                    message = orjson.loads(f.readline())["error"]
            except (OSError, ValueError, KeyError):
                return None
            self._outages[dependency] = message
        return f"{message} ({CACHED_NOTE})"

    def record_outage(self, dependency: str, message: str) -> None:
        """`dependency` gave no answer (`message`): later calls in the run fail at once."""
        if dependency in self._outages:
            return
        self._outages[dependency] = message
        try:
            self._write(self._outage_path(dependency), {"error": message})
        except OSError:
            pass  # the run directory is gone (run ending): this process still remembers

    @staticmethod
    def _read(path: Path) -> dict[str, Any]:
        with open(path, "rb") as f:
            header = orjson.loads(f.readline())
            if "packed" in header:
                chunks = [f.read(length) for length in header["lengths"]]
                if any(len(c) != n for c, n in zip(chunks, header["lengths"], strict=True)) or f.read(1):
                    raise DependencyError(f"run cache: {path.name} does not hold the chunks its header lists")
                try:
                    return {"value": PackedList.from_parts(header["packed"], chunks)}
                except (KeyError, ValueError) as exc:
                    raise DependencyError(f"run cache: {path.name}: {exc}") from None
            if "items" not in header:
                return header
            items = [orjson.loads(line) for line in f]
        if len(items) != header["items"]:
            raise DependencyError(f"run cache: {path.name} holds {len(items)} of its {header['items']} items")
        return {"value": items}

    def get(self, key: str, fetch: Callable[[], Any], ahead: bool = False) -> Any:
        """The cached value of `key`, fetching it once per run.

        An OpscheckError raised by `fetch` is cached and re-raised as DependencyError
        for every later caller, saying it is the cached error. `ahead`: a read started
        before any check asked for it (see kube.KubeCluster.peers).
        """
        if key in self._values:
            return self._values[key]
        with self._key_locks_lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        started = time.monotonic()
        if not key_lock.acquire(timeout=self.lock_timeout):
            raise self._still_fetching(key)
        try:
            # one lock_timeout for both waits, this process's threads' and other processes'
            return self._get(key, fetch, ahead, max(0.0, self.lock_timeout - (time.monotonic() - started)))
        finally:
            key_lock.release()

    def _still_fetching(self, key: str) -> DependencyError:
        return DependencyError(
            f"run cache: {key} still being fetched by another check after {self.lock_timeout:g} s "
            f"(lock {self._paths(key)[1].name} not released)"
        )

    def _get(self, key: str, fetch: Callable[[], Any], ahead: bool, lock_timeout: float) -> Any:
        """get() with this process's lock of `key` held."""
        if key in self._values:  # another thread of this process fetched it meanwhile
            return self._values[key]
        data_path, lock_path = self._paths(key)
        fetched_here = False
        if not self._stored(key, data_path):
            try:
                with FileLock(str(lock_path), timeout=lock_timeout):
                    if not self._stored(key, data_path):
                        fetched_here = True
                        try:
                            entry = {"value": fetch()}
                        except OpscheckError as exc:
                            entry = {"error": str(exc)}
                            if ahead:
                                self._failed_ahead.add(key)
                        if self.shared:
                            self._write(data_path, entry)
                        elif "error" in entry:
                            self._errors[key] = entry["error"]
                        if "value" in entry:  # no need to read back what was just fetched
                            self._values[key] = entry["value"]
                            return entry["value"]
            except Timeout:
                raise self._still_fetching(key) from None
        if self.shared:
            entry = self._read(data_path)
        else:
            entry = {"error": self._errors[key]}
        if "error" in entry:
            message = entry["error"]
            if not ahead and key in self._failed_ahead:
                self._failed_ahead.discard(key)
                fetched_here = True
            if not fetched_here and CACHED_NOTE not in message:
                message = f"{message} ({CACHED_NOTE})"
            raise DependencyError(message)
        self._values[key] = entry["value"]
        return entry["value"]
