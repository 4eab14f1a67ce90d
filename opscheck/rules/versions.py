"""Kubernetes versions: the API server, the kubelets and their skew, an upgrade's path,
and the nodes' software patch levels (status.nodeInfo), as `kubectl version` and
`kubectl get nodes -o wide` show them."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

Obj = dict[str, Any]
Row = dict[str, Any]

_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")


def parse_version(text: str | None) -> tuple[int, int, int] | None:
    """v1.33.13, 1.33, v1.33.13-eks-1a2b -> (1, 33, 13); None if it is not a version."""
    m = _VERSION.match(str(text or "").strip())
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)) if m else None


def fmt(version: tuple[int, int, int]) -> str:
    return f"v{version[0]}.{version[1]}.{version[2]}"


def minors_between(newer: tuple[int, int, int], older: tuple[int, int, int]) -> int:
    """How many minor releases `older` trails `newer` (same major assumed: Kubernetes 1.x)."""
    return (newer[0] - older[0]) * 100 + newer[1] - older[1]


def kubelets(nodes: Iterable[Obj]) -> list[Row]:
    rows = []
    for n in nodes:
        info = (n.get("status") or {}).get("nodeInfo") or {}
        rows.append(
            {
                "object": n["metadata"]["name"],
                "kubelet": info.get("kubeletVersion", ""),
                "kernel": info.get("kernelVersion", ""),
                "os": info.get("osImage", ""),
                "runtime": info.get("containerRuntimeVersion", ""),
            }
        )
    return rows


def kubelet_skew_problems(
    server: tuple[int, int, int], nodes: list[Row], max_skew: int, against: str = "the API server"
) -> list[Row]:
    """Kubelets newer than the API server, or more than `max_skew` minors behind it."""
    offenders = []
    for n in nodes:
        v = parse_version(n["kubelet"])
        if v is None:
            offenders.append({"object": n["object"], "detail": f"kubelet version {n['kubelet']!r} unreadable"})
            continue
        behind = minors_between(server, v)
        if behind < 0:
            offenders.append(
                {
                    "object": n["object"],
                    "detail": f"kubelet {n['kubelet']} is newer than {against} {fmt(server)} (not supported)",
                }
            )
        elif behind > max_skew:
            offenders.append(
                {
                    "object": n["object"],
                    "detail": f"kubelet {n['kubelet']} is {behind} minor versions "
                    f"behind {against} {fmt(server)} (at most {max_skew})",
                }
            )
    return offenders


def below_minimum(nodes: list[Row], server_text: str, minimum: str) -> list[Row]:
    """The API server and kubelets older than the supported minimum."""
    floor = parse_version(minimum)
    assert floor is not None
    offenders = []
    server = parse_version(server_text)
    if server is not None and server < floor:
        offenders.append(
            {"object": "API server", "detail": f"{server_text} is older than the supported minimum {minimum}"}
        )
    for n in nodes:
        v = parse_version(n["kubelet"])
        if v is not None and v < floor:
            offenders.append(
                {
                    "object": n["object"],
                    "detail": f"kubelet {n['kubelet']} is older than the supported minimum {minimum}",
                }
            )
    return offenders


def upgrade_path_problems(server: tuple[int, int, int], target: tuple[int, int, int]) -> list[str]:
    """Minor versions are upgraded one at a time, never downgraded."""
    ahead = minors_between(target, server)
    if target < server:
        return [f"target {fmt(target)} is older than the running {fmt(server)} (a downgrade)"]
    if ahead > 1:
        steps = ", ".join(f"v{server[0]}.{server[1] + i}" for i in range(1, ahead + 1))
        return [
            f"target {fmt(target)} is {ahead} minor versions ahead of {fmt(server)}: upgrade one minor "
            f"at a time ({steps})"
        ]
    return []


def _numbers(text: str) -> list[int]:
    """6.1.0-28-amd64 -> [6, 1, 0, 28]: the leading version numbers of a kernel release."""
    m = re.match(r"^(\d+(?:[.-]\d+)*)", text.strip())
    return [int(x) for x in re.split(r"[.-]", m.group(1))] if m else []


def _older(have: list[int], want: list[int]) -> bool:
    n = max(len(have), len(want))
    return have + [0] * (n - len(have)) < want + [0] * (n - len(want))


def node_patch_problems(nodes: list[Row], patches: Any) -> list[Row]:
    """Nodes whose kubelet, kernel, OS image or container runtime is below the profile's
    patch levels (platform.node_patches)."""
    offenders = []
    for n in nodes:
        problems = []
        kubelet = parse_version(n["kubelet"])
        if kubelet is not None:
            floor = patches.min_kubelet_patch.get(f"{kubelet[0]}.{kubelet[1]}")
            if floor and kubelet < parse_version(floor):
                problems.append(f"kubelet {n['kubelet']} below {floor}")
        if patches.min_kernel:
            have = _numbers(n["kernel"])
            if not have:
                problems.append(f"kernel {n['kernel']!r} unreadable")
            elif _older(have, _numbers(patches.min_kernel)):
                problems.append(f"kernel {n['kernel']} below {patches.min_kernel}")
        if patches.os_images and not any(re.search(p, n["os"]) for p in patches.os_images):
            problems.append(f"OS {n['os']!r} is not a supported release")
        if patches.min_container_runtime and n["runtime"]:
            name, _, version = n["runtime"].partition("://")
            floor = patches.min_container_runtime.get(name)
            have = parse_version(version)
            if floor and (have is None or have < parse_version(floor)):
                problems.append(f"{name} {version} below {floor}")
        if problems:
            offenders.append({"object": n["object"], "detail": "; ".join(problems)})
    return offenders


def upgrade_target_problems(
    server: tuple[int, int, int],
    target: tuple[int, int, int],
    nodes: list[Row],
    max_skew: int,
    flagged: Iterable[str] = (),
) -> list[Row]:
    """The upgrade path to `target`, and, when it is newer, the kubelets (not already in
    `flagged`) that would fall out of the skew of it."""
    offenders = [{"object": "upgrade path", "detail": p} for p in upgrade_path_problems(server, target)]
    if target > server:  # the kubelets must also be within the skew of the new version
        seen = set(flagged) | {o["object"] for o in offenders}
        offenders += [
            {**o, "detail": o["detail"] + ": upgrade this node first"}
            for o in kubelet_skew_problems(target, nodes, max_skew, against="the target")
            if o["object"] not in seen
        ]
    return offenders
