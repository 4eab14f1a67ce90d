"""Services, endpoints, load balancers and ingresses."""
from __future__ import annotations

from typing import Any, Iterable

from opscheck.rules.workloads import ref

Obj = dict[str, Any]


def ready_endpoint_counts(slices: Iterable[Obj]) -> dict[tuple[str, str], int]:
    """(namespace, service) -> ready endpoint addresses, from EndpointSlices."""
    counts: dict[tuple[str, str], int] = {}
    for s in slices:
        svc = (s["metadata"].get("labels") or {}).get("kubernetes.io/service-name")
        if not svc:
            continue
        key = (s["metadata"]["namespace"], svc)
        ready = sum(1 for e in s.get("endpoints") or []
                    if (e.get("conditions") or {}).get("ready", True))
        counts[key] = counts.get(key, 0) + ready
    return counts


def services_without_ready_endpoints(services: Iterable[Obj], slices: Iterable[Obj]) -> list[dict[str, Any]]:
    counts = ready_endpoint_counts(slices)
    rows = []
    for svc in services:
        if not (svc.get("spec") or {}).get("selector") or svc["spec"].get("type") == "ExternalName":
            continue  # endpoints managed by hand or by DNS: not ours to judge
        key = (svc["metadata"]["namespace"], svc["metadata"]["name"])
        if counts.get(key, 0) == 0:
            rows.append({"object": ref(svc), "detail": "no ready endpoint"})
    return rows


def lb_and_ingress_problems(services: Iterable[Obj], ingresses: Iterable[Obj], slices: Iterable[Obj]) -> list[dict[str, Any]]:
    counts = ready_endpoint_counts(slices)
    rows = []
    for svc in services:
        if (svc.get("spec") or {}).get("type") != "LoadBalancer":
            continue
        if not ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress"):
            rows.append({"object": f"service/{ref(svc)}", "detail": "LoadBalancer has no external address"})
    for ing in ingresses:
        ns = ing["metadata"]["namespace"]
        if not ((ing.get("status") or {}).get("loadBalancer") or {}).get("ingress"):
            rows.append({"object": f"ingress/{ref(ing)}", "detail": "no address assigned"})
        for backend in _ingress_backends(ing):
            if counts.get((ns, backend), 0) == 0:
                rows.append({"object": f"ingress/{ref(ing)}", "detail": f"backend service {backend} has no ready endpoint"})
    return rows


def _ingress_backends(ing: Obj) -> list[str]:
    spec = ing.get("spec") or {}
    names = []
    default = ((spec.get("defaultBackend") or {}).get("service") or {}).get("name")
    if default:
        names.append(default)
    for rule in spec.get("rules") or []:
        for path in (rule.get("http") or {}).get("paths") or []:
            name = ((path.get("backend") or {}).get("service") or {}).get("name")
            if name and name not in names:
                names.append(name)
    return names
