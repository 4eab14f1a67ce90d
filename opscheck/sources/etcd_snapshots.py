"""etcd snapshots on the control-plane hosts (runbook 004, etcd-snapshot.sh).

The script saves `etcd-snapshot-<time>.db` into /var/backups/etcd, verifies it with
`etcdctl snapshot status` and deletes what is older than 7 days. The checks read that
directory through testinfra (one `find` per host) and run `etcdutl snapshot status -w
json` on the newest file there (it opens the file read-only), so nothing is copied and
nothing is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from opscheck.errors import DependencyError
from opscheck.sources.dumps import DumpFile, list_dumps


@dataclass(frozen=True)
class SnapshotStatus:
    valid: bool
    detail: str  # "revision 5614, 1495 keys, hash 71951960" or why it is not valid
    revision: int | None = None
    keys: int | None = None


def list_snapshots(host: Any, host_name: str, directory: str, pattern: str) -> list[DumpFile] | None:
    """The snapshot files, oldest first; None when the directory does not exist."""
    try:
        return list_dumps(host, host_name, directory, pattern)
    except DependencyError as exc:
        raise DependencyError(str(exc).replace("backup host", "host", 1)) from None


STATUS_TIMEOUT_SECONDS = 120


def snapshot_status(host: Any, host_name: str, etcdutl: str, path: str) -> SnapshotStatus:
    """`etcdutl snapshot status <path> -w json` on the host, bounded by coreutils `timeout`."""
    try:
        out = host.run("timeout %s %s snapshot status %s -w json", str(STATUS_TIMEOUT_SECONDS), etcdutl, path)
    except Exception as exc:  # testinfra's backend errors for an unreachable host
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise DependencyError(f"host {host_name}: {text}") from None
    if out.rc == 127:
        raise DependencyError(f"host {host_name}: {etcdutl} not found (etcd_backups.etcdutl)")
    if out.rc == 124:
        return SnapshotStatus(False, f"etcdutl snapshot status did not finish within {STATUS_TIMEOUT_SECONDS} s")
    if out.rc != 0:
        lines = [ln.strip() for ln in (out.stderr or out.stdout).splitlines() if ln.strip()]
        reason = next(
            (ln for ln in lines if ln.startswith(("panic:", "Error:", "fatal error:"))),
            lines[0] if lines else f"exit {out.rc}",
        )
        return SnapshotStatus(False, f"etcdutl snapshot status failed (exit {out.rc}): {reason[:200]}")
    try:
        data = json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return SnapshotStatus(False, f"etcdutl snapshot status printed no status: {out.stdout.strip()[:200]!r}")
    return SnapshotStatus(
        True,
        f"revision {data.get('revision')}, {data.get('totalKey')} keys, hash {data.get('hash')}",
        data.get("revision"),
        data.get("totalKey"),
    )


@dataclass(frozen=True)
class HostSnapshots:
    """One control-plane host's snapshot files (None: no such directory), oldest first,
    and the newest one's `etcdutl snapshot status` (None when there is none)."""

    host: str
    snapshots: list[DumpFile] | None
    newest_status: SnapshotStatus | None


def read_snapshots(hosts: list[tuple[str, Any]], directory: str, pattern: str, etcdutl: str) -> list[HostSnapshots]:
    """Per host: its snapshot files, the newest validated."""
    out = []
    for name, host in hosts:
        snaps = list_snapshots(host, name, directory, pattern)
        status = snapshot_status(host, name, etcdutl, snaps[-1].path) if snaps else None
        out.append(HostSnapshots(name, snaps, status))
    return out
