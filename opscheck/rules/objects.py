"""Kubernetes API objects (dicts as the API returns them): naming and finding them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Obj = dict[str, Any]
Row = dict[str, Any]


def ref(obj: Obj) -> str:
    """`namespace/name`, or `name` for a cluster-scoped object."""
    meta = obj["metadata"]
    return f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]


def find(objs: Iterable[Obj], namespace: str, name: str) -> Obj | None:
    """The object named `namespace/name`, or None."""
    return next((o for o in objs if (o["metadata"].get("namespace"), o["metadata"]["name"]) == (namespace, name)), None)


def in_namespace(objs: Iterable[Obj], namespace: str) -> list[Obj]:
    return [o for o in objs if o["metadata"].get("namespace") == namespace]


def without(objs: Iterable[Obj], ignore: Iterable[str]) -> list[Obj]:
    """The objects whose `namespace/name` is not in `ignore`."""
    ignored = set(ignore)
    return [o for o in objs if ref(o) not in ignored]


def owned_by(obj: Obj, owner: Obj) -> bool:
    """`obj` names `owner` (by uid) among its ownerReferences."""
    return any(o.get("uid") == owner["metadata"].get("uid") for o in obj["metadata"].get("ownerReferences") or [])


def finished(pod: Obj) -> bool:
    """A pod whose containers no longer run (Succeeded or Failed)."""
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def present_namespaces(namespaces: Iterable[Obj], wanted: Iterable[str]) -> list[str]:
    """The monitored namespaces the cluster has. None of them: a check over them has nothing
    to judge. Some: a multi-cluster profile lists the union, each cluster has its own."""
    present = {n["metadata"]["name"] for n in namespaces}
    return [name for name in wanted if name in present]


def missing_namespaces(listed: Iterable[str], namespaces: Iterable[Obj]) -> list[str]:
    """The listed namespaces the cluster does not have (or is deleting), in the listed order."""
    present = {n["metadata"]["name"] for n in namespaces if (n.get("status") or {}).get("phase", "Active") == "Active"}
    return [ns for ns in listed if ns not in present]
