"""Cluster DNS: do the Services' names resolve to what the API says they are?

`nslookup prod-user-service.titanium-prod.svc.cluster.local` (runbook 003) asks the
cluster DNS; here a DNS query goes to the profile's resolver with dnspython (the answers
are compared with the Services in opscheck/rules/network.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import dns.exception
import dns.resolver


class ResolverUnavailable(Exception):
    """The resolver gave no usable answer (timeout, refused, SERVFAIL)."""


@dataclass(frozen=True)
class Resolver:
    host: str
    port: int
    timeout: float

    @classmethod
    def parse(cls, address: str, timeout: float) -> Resolver:
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
            raise ResolverUnavailable(
                f"{self} failed to answer ({exc.__class__.__name__}: SERVFAIL or refused)"
            ) from None

    def answers(self, names: Iterable[str]) -> tuple[dict[str, list[str]], tuple[str, str] | None]:
        """The A records of each name, in order, up to the first the resolver gives no usable
        answer for: (answers, (that name, why) or None)."""
        out: dict[str, list[str]] = {}
        for name in names:
            try:
                out[name] = self.a_records(name)
            except ResolverUnavailable as exc:
                return out, (name, str(exc))
        return out, None
