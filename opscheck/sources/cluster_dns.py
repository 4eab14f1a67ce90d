"""Cluster DNS: do the Services' names resolve to what the API says they are?

`nslookup prod-user-service.titanium-prod.svc.cluster.local` (runbook 003) asks the
cluster DNS; here a DNS query goes to the profile's resolver with dnspython, and the
answer is compared with the Service: its ClusterIP, or for a headless Service the
addresses of its ready endpoints.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import dns.exception
import dns.resolver

Obj = dict[str, Any]


class ResolverUnavailable(Exception):
    """The resolver gave no usable answer (timeout, refused, SERVFAIL)."""


@dataclass(frozen=True)
class Resolver:
    host: str
    port: int
    timeout: float

    @classmethod
    def parse(cls, address: str, timeout: float) -> "Resolver":
        host, port = address.rsplit(":", 1)
        return cls(host, int(port), timeout)

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    def a_records(self, name: str) -> list[str]:
        """The A records of `name` ([] when it does not exist)."""
        r = dns.resolver.Resolver(configure=False)
        r.nameservers, r.port, r.lifetime = [self.host], self.port, self.timeout
        try:
            return sorted(a.to_text() for a in r.resolve(name, "A", search=False))
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.exception.Timeout:
            raise ResolverUnavailable(f"no answer from {self} within {self.timeout:g}s") from None
        except dns.resolver.NoNameservers as exc:
            raise ResolverUnavailable(f"{self} failed to answer ({exc.__class__.__name__}: SERVFAIL or refused)") from None


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
