"""Node filesystems as `df` shows them (runbook 004 디스크 용량 부족: df -h; 002: df -h |
grep -E '(8[0-9]|9[0-9])%'), read on each node through testinfra."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opscheck.errors import DependencyError
from opscheck.sources.hostcommands import TIMED_OUT, bounded, timed_out


@dataclass(frozen=True)
class Filesystem:
    host: str
    device: str
    mount: str
    size_kib: int
    used_kib: int
    avail_kib: int
    percent: int  # df's Use% (used / (used + available), rounded up)
    paths: tuple[str, ...]  # the configured paths this filesystem holds

    def row(self) -> dict[str, Any]:
        return {
            "object": f"{self.host}:{self.mount}",
            "device": self.device,
            "paths": ", ".join(self.paths),
            "size": _human(self.size_kib),
            "used": _human(self.used_kib),
            "available": _human(self.avail_kib),
            "percent": self.percent,
        }


def filesystems(host: Any, host_name: str, paths: list[str]) -> tuple[list[Filesystem], list[str]]:
    """The filesystems holding `paths` on the host (each once), and the paths it lacks."""
    found: dict[str, Filesystem] = {}
    missing = []
    for path in paths:
        try:
            out = host.run(bounded("df -P -k %s"), path)
        except Exception as exc:  # testinfra's backend errors for an unreachable host
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
            raise DependencyError(f"host {host_name}: {text}") from None
        if out.rc in TIMED_OUT:  # a hung mount
            raise DependencyError(f"host {host_name}: {timed_out('df')} on {path}")
        if out.rc != 0:
            if "No such file or directory" in out.stderr:
                missing.append(path)
                continue
            raise DependencyError(f"host {host_name}: df {path} failed: {out.stderr.strip()[:200]}")
        line = out.stdout.strip().splitlines()[-1]
        # Filesystem 1024-blocks Used Available Capacity Mounted-on (the device may hold spaces)
        parts = line.rsplit(None, 5)
        device, size, used, avail, capacity, mount = parts
        fs = found.get(mount)
        if fs is None:
            found[mount] = Filesystem(
                host_name, device, mount, int(size), int(used), int(avail), int(capacity.rstrip("%")), (path,)
            )
        else:
            found[mount] = Filesystem(
                fs.host, fs.device, fs.mount, fs.size_kib, fs.used_kib, fs.avail_kib, fs.percent, fs.paths + (path,)
            )
    return list(found.values()), missing


@dataclass(frozen=True)
class HostFilesystems:
    host: str
    found: list[Filesystem]
    missing: list[str]  # configured paths the host does not have


def read_filesystems(hosts: list[tuple[str, Any]], paths: list[str]) -> list[HostFilesystems]:
    return [HostFilesystems(name, *filesystems(host, name, paths)) for name, host in hosts]


def _human(kib: int) -> str:
    for unit, size in (("GiB", 1024 * 1024), ("MiB", 1024)):
        if kib >= size:
            return f"{kib / size:.1f} {unit}"
    return f"{kib} KiB"
