"""Istio: which namespaces are in the mesh, their effective mTLS mode, sidecars, version.

PeerAuthentication precedence (Istio's own): a workload policy (with a selector) over the
namespace policy (no selector) over the mesh-wide policy (no selector, in the root
namespace); a mode of UNSET (or none) inherits from the level above; with no policy at
all Istio runs PERMISSIVE.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

INJECTION_LABEL = "istio-injection"
REVISION_LABEL = "istio.io/rev"
INJECT_ANNOTATION = "sidecar.istio.io/inject"
DEFAULT_MODE = "PERMISSIVE"


def mesh_namespaces(configured: list[str], namespaces: list[dict[str, Any]]) -> list[str]:
    """The profile's list, else every namespace labelled for sidecar injection."""
    if configured:
        return list(configured)
    out = []
    for ns in namespaces:
        labels = ns["metadata"].get("labels") or {}
        if labels.get(INJECTION_LABEL) == "enabled" or (
            REVISION_LABEL in labels and labels.get(INJECTION_LABEL) != "disabled"
        ):
            out.append(ns["metadata"]["name"])
    return sorted(out)


def injection_enabled(ns: dict[str, Any] | None) -> bool:
    labels = (ns or {}).get("metadata", {}).get("labels") or {}
    return labels.get(INJECTION_LABEL) == "enabled" or (
        REVISION_LABEL in labels and labels.get(INJECTION_LABEL) != "disabled"
    )


def _mode(policy: dict[str, Any]) -> str | None:
    mode = (((policy.get("spec") or {}).get("mtls") or {}).get("mode") or "UNSET").upper()
    return None if mode == "UNSET" else mode


def _has_selector(policy: dict[str, Any]) -> bool:
    return bool(((policy.get("spec") or {}).get("selector") or {}).get("matchLabels"))


def _ref(policy: dict[str, Any]) -> str:
    return f"peerauthentication/{policy['metadata']['namespace']}/{policy['metadata']['name']}"


def _oldest(policies: list[dict[str, Any]]) -> dict[str, Any] | None:
    # Istio takes the oldest when several namespace-wide policies exist.
    return min(
        policies, key=lambda p: (p["metadata"].get("creationTimestamp", ""), p["metadata"]["name"]), default=None
    )


def mesh_wide(policies: list[dict[str, Any]], root_namespace: str) -> dict[str, Any] | None:
    return _oldest([p for p in policies if p["metadata"]["namespace"] == root_namespace and not _has_selector(p)])


def namespace_mtls(namespace: str, policies: list[dict[str, Any]], root_namespace: str) -> tuple[str, str]:
    """(effective namespace-wide mode, where it comes from)."""
    mine = _oldest([p for p in policies if p["metadata"]["namespace"] == namespace and not _has_selector(p)])
    if mine is not None and _mode(mine):
        return _mode(mine) or DEFAULT_MODE, _ref(mine)
    root = mesh_wide(policies, root_namespace)
    if root is not None and _mode(root):
        return _mode(root) or DEFAULT_MODE, _ref(root) + " (mesh-wide)"
    return DEFAULT_MODE, "no PeerAuthentication (Istio's default)"


def workload_overrides(namespace: str, policies: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Workload or port-level policies in `namespace` that relax mTLS: (object, detail)."""
    out = []
    for p in policies:
        if p["metadata"]["namespace"] != namespace:
            continue
        spec = p.get("spec") or {}
        mode = _mode(p)
        if _has_selector(p) and mode not in (None, "STRICT"):
            sel = ",".join(f"{k}={v}" for k, v in sorted(spec["selector"]["matchLabels"].items()))
            out.append((_ref(p), f"{mode} for pods {sel}"))
        for port, setting in sorted((spec.get("portLevelMtls") or {}).items()):
            pm = ((setting or {}).get("mode") or "UNSET").upper()
            if pm not in ("UNSET", "STRICT"):
                out.append((_ref(p), f"{pm} on port {port}"))
    return out


def has_sidecar(pod: dict[str, Any], container: str) -> bool:
    spec = pod.get("spec") or {}
    if any(c.get("name") == container for c in spec.get("containers") or []):
        return True
    # native sidecar (Istio with ENABLE_NATIVE_SIDECARS): an init container that keeps running
    return any(
        c.get("name") == container and c.get("restartPolicy") == "Always" for c in spec.get("initContainers") or []
    )


_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")


def parse_version(text: str) -> tuple[int, int, int] | None:
    m = _VERSION.match(text or "")
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)) if m else None


def image_tag(image: str) -> str:
    """The tag of an image reference (docker.io/istio/pilot:1.23.2-distroless -> 1.23.2-distroless)."""
    ref = image.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else "latest"


def version_problems(version: str, min_version: str | None, supported: Iterable[str]) -> list[str]:
    v = parse_version(version)
    if v is None:
        return [f"version {version!r} cannot be read"]
    out = []
    if min_version and v < (parse_version(min_version) or (0, 0, 0)):
        out.append(f"{version} is below the minimum {min_version}")
    minors = list(supported)
    if minors and f"{v[0]}.{v[1]}" not in minors:
        out.append(f"{v[0]}.{v[1]} is not a supported release ({', '.join(minors)})")
    return out


# ----------------------------------------------------------------- the checks' judgments

Row = dict[str, Any]


def sidecar_findings(
    mesh_ns: list[str], namespaces: list[dict[str, Any]], pods: Iterable[dict[str, Any]], sidecar: str
) -> tuple[list[Row], list[Row]]:
    """(a row per running pod of the mesh namespaces, offenders: namespaces not labelled for
    injection and pods without the sidecar container)."""
    by_name = {n["metadata"]["name"]: n for n in namespaces}
    offenders: list[Row] = [
        {
            "object": ns,
            "detail": "namespace not labelled istio-injection=enabled" if ns in by_name else "namespace not found",
        }
        for ns in mesh_ns
        if not injection_enabled(by_name.get(ns))
    ]
    rows = []
    for p in pods:
        if (p.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        name = f"{p['metadata']['namespace']}/{p['metadata']['name']}"
        ok = has_sidecar(p, sidecar)
        rows.append(
            {
                "object": name,
                "containers": ", ".join(c["name"] for c in p["spec"].get("containers") or []),
                "sidecar": "yes" if ok else "NO",
            }
        )
        if not ok:
            opt_out = (p["metadata"].get("annotations") or {}).get(INJECT_ANNOTATION) == "false"
            offenders.append(
                {
                    "object": name,
                    "detail": f"no {sidecar} container" + (f" ({INJECT_ANNOTATION}: false)" if opt_out else ""),
                }
            )
    return rows, offenders


def mtls_findings(
    mesh_ns: Iterable[str], policies: list[dict[str, Any]], root_namespace: str
) -> tuple[list[Row], list[Row]]:
    """(a row per namespace and workload override, offenders: any mode other than STRICT)."""
    rows, offenders = [], []
    for ns in mesh_ns:
        mode, source = namespace_mtls(ns, policies, root_namespace)
        rows.append({"object": ns, "mode": mode, "from": source})
        if mode != "STRICT":
            offenders.append({"object": ns, "detail": f"{mode} from {source}"})
        for obj, detail in workload_overrides(ns, policies):
            rows.append({"object": ns, "mode": detail, "from": obj})
            offenders.append({"object": obj, "detail": detail})
    return rows, offenders


def discovery_image(pod_spec: dict[str, Any]) -> str:
    """istiod's image: its "discovery" container's, else the pod's first container's."""
    containers = pod_spec.get("containers") or [{}]
    return next((c for c in containers if c.get("name") == "discovery"), containers[0]).get("image", "")


def istiod_images(deployment: dict[str, Any], pods: Iterable[dict[str, Any]]) -> dict[str, str]:
    """{where: image} for the istiod Deployment's template and each of its Running pods."""
    meta = deployment["metadata"]
    images = {f"deployment/{meta['namespace']}/{meta['name']}": discovery_image(deployment["spec"]["template"]["spec"])}
    selector = (deployment["spec"].get("selector") or {}).get("matchLabels") or {}
    for p in pods:
        labels = p["metadata"].get("labels") or {}
        if (
            selector
            and all(labels.get(k) == v for k, v in selector.items())
            and (p.get("status") or {}).get("phase") == "Running"
        ):
            images[f"pod/{p['metadata']['namespace']}/{p['metadata']['name']}"] = discovery_image(p["spec"])
    return images


def istiod_version_findings(
    images: dict[str, str], min_version: str | None, supported: Iterable[str]
) -> tuple[list[Row], list[Row]]:
    """(a row per image with its version, offenders: versions out of support)."""
    rows, offenders = [], []
    for where, image in images.items():
        version = image_tag(image)
        problems = version_problems(version, min_version, supported)
        rows.append({"object": where, "image": image, "version": version})
        if problems:
            offenders.append({"object": where, "detail": "; ".join(problems)})
    return rows, offenders
