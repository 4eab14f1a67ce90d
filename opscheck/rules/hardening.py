"""Namespace hardening: NetworkPolicy default deny, Pod Security Standards labels, and
credentials written in plain text into ConfigMaps or container env literals.

Only key names ever leave this module: a credential's value is looked at to tell a
literal from an empty value or a reference (`${VAR}`, `$(VAR)`), and dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

PSS_LEVELS = ("privileged", "baseline", "restricted")
PSS_LABEL = "pod-security.kubernetes.io/"


# ------------------------------------------------------------------ network policies


def _selects_all_pods(policy: dict[str, Any]) -> bool:
    sel = (policy.get("spec") or {}).get("podSelector") or {}
    return not sel.get("matchLabels") and not sel.get("matchExpressions")


def policy_types(policy: dict[str, Any]) -> set[str]:
    spec = policy.get("spec") or {}
    types = spec.get("policyTypes")
    if types:
        return set(types)
    # The API's default: Ingress always, Egress when the policy has egress rules.
    return {"Ingress"} | ({"Egress"} if spec.get("egress") else set())


def default_deny(policy: dict[str, Any]) -> set[str]:
    """The directions ("Ingress", "Egress") this policy denies for every pod of its namespace."""
    if not _selects_all_pods(policy):
        return set()
    spec = policy.get("spec") or {}
    return {d for d in policy_types(policy) if not spec.get(d.lower())}


@dataclass
class NamespacePolicies:
    namespace: str
    policies: list[str]
    deny: dict[str, list[str]]  # direction -> names of default-deny policies

    def problems(self) -> list[str]:
        if not self.policies:
            return ["no NetworkPolicy"]
        missing = [d for d in ("Ingress", "Egress") if not self.deny.get(d)]
        return [f"no default-deny for {' and '.join(missing)}"] if missing else []


def namespace_policies(namespaces: Iterable[str], policies: list[dict[str, Any]]) -> list[NamespacePolicies]:
    out = []
    for ns in namespaces:
        mine = [p for p in policies if p["metadata"].get("namespace") == ns]
        deny: dict[str, list[str]] = {"Ingress": [], "Egress": []}
        for p in mine:
            for d in default_deny(p):
                deny[d].append(p["metadata"]["name"])
        out.append(NamespacePolicies(ns, sorted(p["metadata"]["name"] for p in mine), deny))
    return out


# ------------------------------------------------------------- pod security standards


def pss_problems(namespace: dict[str, Any] | None, level: str, modes: Iterable[str]) -> list[str]:
    """What keeps a namespace from carrying `level` (or stricter) in every mode."""
    if namespace is None:
        return ["namespace not found"]
    labels = namespace["metadata"].get("labels") or {}
    out = []
    for mode in modes:
        have = labels.get(PSS_LABEL + mode)
        if have is None:
            out.append(f"{mode} not set")
        elif have not in PSS_LEVELS:
            out.append(f"{mode}={have} is not a level")
        elif PSS_LEVELS.index(have) < PSS_LEVELS.index(level):
            out.append(f"{mode}={have}, {level} required")
    return out


# ------------------------------------------------------------ plaintext credentials

_REFERENCE = re.compile(r"^\s*(\$\{[^}]*\}|\$\([^)]*\)|<[^>]*>)\s*$")
# `key: value` / `key = value` lines inside a file-like ConfigMap value (YAML, properties, .env).
_ASSIGNMENT = re.compile(r"""^\s*(?:export\s+)?["']?([A-Za-z0-9_.\-]+)["']?\s*[:=]\s*(.*?)\s*$""")


def _literal(value: Any) -> bool:
    text = str(value).strip().strip("\"'") if value is not None else ""
    return bool(text) and not _REFERENCE.match(text)


@dataclass(frozen=True)
class Credential:
    object: str  # configmap/<ns>/<name>, deployment/<ns>/<name>, pod/<ns>/<name>
    location: str  # the key name (or container and env var), never the value
    allow_key: str  # namespace/object-name/key, as the profile's allow list writes it


def configmap_credentials(cm: dict[str, Any], pattern: re.Pattern[str]) -> Iterator[Credential]:
    ns, name = cm["metadata"].get("namespace", ""), cm["metadata"]["name"]
    obj = f"configmap/{ns}/{name}"
    for key, value in sorted((cm.get("data") or {}).items()):
        if pattern.search(key) and _literal(value):
            yield Credential(obj, f"key {key}", f"{ns}/{name}/{key}")
        if isinstance(value, str) and "\n" in value:
            for line in value.splitlines():
                if line.lstrip().startswith(("#", ";", "//")):
                    continue
                m = _ASSIGNMENT.match(line)
                if (
                    m
                    and pattern.search(m.group(1))
                    and _literal(m.group(2))
                    and not m.group(2).endswith(("{", "[", "|", ">"))
                ):
                    yield Credential(obj, f"key {key}: {m.group(1)}", f"{ns}/{name}/{key}:{m.group(1)}")


WORKLOAD_KINDS = {
    "deployments": "deployment",
    "statefulsets": "statefulset",
    "daemonsets": "daemonset",
    "cronjobs": "cronjob",
    "pods": "pod",
}


def pod_spec(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec") or {}
    if kind == "pods":
        return spec
    if kind == "cronjobs":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return ((spec.get("template") or {}).get("spec")) or {}


def env_credentials(kind: str, obj: dict[str, Any], pattern: re.Pattern[str]) -> Iterator[Credential]:
    ns, name = obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
    spec = pod_spec(kind, obj)
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        for e in c.get("env") or []:
            if "valueFrom" in e or not pattern.search(e.get("name", "")) or not _literal(e.get("value")):
                continue
            yield Credential(
                f"{WORKLOAD_KINDS[kind]}/{ns}/{name}",
                f"container {c['name']} env {e['name']}",
                f"{ns}/{name}/{e['name']}",
            )


# ----------------------------------------------------------------- the checks' judgments

Row = dict[str, Any]


def network_policy_findings(states: Iterable[NamespacePolicies]) -> tuple[list[Row], list[Row]]:
    """(a row per namespace with its policies and default denies, offenders)."""
    states = list(states)
    rows = [
        {
            "object": s.namespace,
            "policies": ", ".join(s.policies),
            "deny_ingress": ", ".join(s.deny["Ingress"]),
            "deny_egress": ", ".join(s.deny["Egress"]),
        }
        for s in states
    ]
    return rows, [{"object": s.namespace, "detail": "; ".join(s.problems())} for s in states if s.problems()]


def pss_findings(
    names: Iterable[str], namespaces: Iterable[dict[str, Any]], level: str, modes: list[str]
) -> tuple[list[Row], list[Row]]:
    """(a row per namespace with its pod-security labels, offenders: not at `level` in every mode)."""
    by_name = {n["metadata"]["name"]: n for n in namespaces}
    rows, offenders = [], []
    for ns in names:
        labels = (by_name.get(ns) or {}).get("metadata", {}).get("labels") or {}
        rows.append({"object": ns, **{m: labels.get(f"pod-security.kubernetes.io/{m}", "") for m in modes}})
        problems = pss_problems(by_name.get(ns), level, modes)
        if problems:
            offenders.append({"object": ns, "detail": "; ".join(problems)})
    return rows, offenders


def plaintext_credentials(
    configmaps: Iterable[dict[str, Any]], workloads: Iterable[tuple[str, dict[str, Any]]], pattern: re.Pattern[str]
) -> tuple[list[Credential], int]:
    """(credentials written in ConfigMaps and in env literals of (KINDS key, object) workloads,
    how many workloads and bare pods were read). A pod with an owner is left to its
    controller's template."""
    found = [c for cm in configmaps for c in configmap_credentials(cm, pattern)]
    read = 0
    for kind, obj in workloads:
        if kind == "pods" and obj["metadata"].get("ownerReferences"):
            continue  # its controller's template is checked
        read += 1
        found += env_credentials(kind, obj, pattern)
    return found, read


def split_allowed(found: Iterable[Credential], allowed: Iterable[str]) -> tuple[list[Row], list[Credential]]:
    """(offenders: credentials not on the allow list, the allowed ones)."""
    allowed = set(allowed)
    found = list(found)
    return (
        [{"object": c.object, "detail": c.location} for c in found if c.allow_key not in allowed],
        [c for c in found if c.allow_key in allowed],
    )
