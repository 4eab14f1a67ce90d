"""Services, endpoints, load balancers and ingresses."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from opscheck.rules.objects import ref

Obj = dict[str, Any]
Row = dict[str, Any]


def ready_endpoint_counts(slices: Iterable[Obj]) -> dict[tuple[str, str], int]:
    """(namespace, service) -> ready endpoint addresses, from EndpointSlices."""
    counts: dict[tuple[str, str], int] = {}
    for s in slices:
        svc = (s["metadata"].get("labels") or {}).get("kubernetes.io/service-name")
        if not svc:
            continue
        key = (s["metadata"]["namespace"], svc)
        ready = sum(1 for e in s.get("endpoints") or [] if (e.get("conditions") or {}).get("ready", True))
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


def lb_and_ingress_problems(
    services: Iterable[Obj], ingresses: Iterable[Obj], slices: Iterable[Obj]
) -> list[dict[str, Any]]:
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
                rows.append(
                    {"object": f"ingress/{ref(ing)}", "detail": f"backend service {backend} has no ready endpoint"}
                )
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


# ------------------------------------------------------------------------- cluster DNS


def service_fqdn(svc: Obj, domain: str) -> str:
    return f"{svc['metadata']['name']}.{svc['metadata']['namespace']}.svc.{domain}"


def expected_addresses(svc: Obj, slices: Iterable[Obj]) -> list[str] | None:
    """What the name must resolve to: the ClusterIP(s), or for a headless Service its ready
    endpoint addresses. None for Services DNS answers with a CNAME (ExternalName)."""
    spec = svc.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return None
    ips = [ip for ip in spec.get("clusterIPs") or [spec.get("clusterIP")] if ip and ip != "None" and ":" not in ip]
    if ips:
        return sorted(ips)
    name, ns = svc["metadata"]["name"], svc["metadata"]["namespace"]
    found = set()
    for s in slices:
        labels = s["metadata"].get("labels") or {}
        if s["metadata"]["namespace"] != ns or labels.get("kubernetes.io/service-name") != name:
            continue
        if s.get("addressType") != "IPv4":
            continue
        for e in s.get("endpoints") or []:
            if (e.get("conditions") or {}).get("ready", True):
                found.update(e.get("addresses") or [])
    return sorted(found)


def dns_names(services: Iterable[Obj], slices: list[Obj], domain: str) -> list[tuple[str, list[str]]]:
    """(DNS name, the addresses it must resolve to) of each Service DNS answers with A
    records: not an ExternalName (a CNAME), not headless without endpoints (daily.endpoints-ready)."""
    out = []
    for svc in services:
        want = expected_addresses(svc, slices)
        if want:
            out.append((service_fqdn(svc, domain), want))
    return out


def dns_findings(names: Iterable[tuple[str, list[str]]], answers: dict[str, list[str]]) -> tuple[list[Row], list[Row]]:
    """(a row per name answered, offenders: names that do not resolve or resolve elsewhere)."""
    rows, offenders = [], []
    for name, want in names:
        if name not in answers:
            continue
        got = answers[name]
        rows.append({"object": name, "expected": ", ".join(want), "answer": ", ".join(got) or "NXDOMAIN"})
        if not got:
            offenders.append({"object": name, "detail": "does not resolve (NXDOMAIN)"})
        elif set(got) != set(want):
            offenders.append({"object": name, "detail": f"resolves to {', '.join(got)}, not {', '.join(want)}"})
    return rows, offenders


def dns_service_offenders(dns_services: Iterable[Obj], slices: Iterable[Obj]) -> list[Row]:
    """The cluster DNS Service when it has no ready endpoint."""
    return [
        r | {"object": f"service/{r['object']}", "detail": "cluster DNS Service has no ready endpoint"}
        for r in services_without_ready_endpoints(dns_services, slices)
    ]
