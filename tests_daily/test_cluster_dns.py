"""Daily: Service names resolve (Titanium 003 네트워크 문제: 서비스 엔드포인트 확인 / DNS 해석)."""
from opscheck.check import check
from opscheck.sources.cluster_dns import Resolver, ResolverUnavailable, expected_addresses, service_fqdn
from opscheck.rules.network import services_without_ready_endpoints


@check(
    id="daily.cluster-dns",
    title="The cluster DNS Service has ready endpoints, and each Service's DNS name resolves to its address",
    severity="high",
    covers=["003.network.endpoints-dns"],
    remediation="""\
kubectl get svc,endpoints -n kube-system kube-dns; kubectl get pods -n kube-system -l k8s-app=kube-dns
kubectl run -it --rm debug --image=nicolaka/netshoot --restart=Never -- nslookup <service>.<namespace>.svc.cluster.local
kubectl get endpoints -n <namespace>
No answer: CoreDNS is down or overloaded (kubectl logs -n kube-system -l k8s-app=kube-dns);
a wrong or missing answer: CoreDNS cannot watch the API (RBAC system:coredns, its logs), or the
Service was deleted/recreated with a new ClusterIP that clients still cache.""",
)
def test_cluster_dns(cluster, profile, cluster_dns, evidence):
    dns_services = [s for s in cluster.in_namespaces("services", [cluster_dns.namespace])
                    if s["metadata"]["name"] == cluster_dns.service]
    if not dns_services:
        evidence.fail(f"the cluster DNS Service {cluster_dns.namespace}/{cluster_dns.service} does not exist")
    slices = cluster.list("endpointslices")
    offenders = [r | {"object": f"service/{r['object']}", "detail": "cluster DNS Service has no ready endpoint"}
                 for r in services_without_ready_endpoints(dns_services, slices)]
    if cluster_dns.resolver is None:
        evidence.note("cluster_dns.resolver not set: only the DNS Service and its endpoints were checked")
        evidence.expect_none(offenders, "cluster DNS problems")
        return
    resolver = Resolver.parse(cluster_dns.resolver, cluster_dns.timeout_seconds)
    rows = []
    for svc in cluster.in_namespaces("services", profile.namespaces):
        want = expected_addresses(svc, slices)
        if want is None or not want:
            continue  # ExternalName (a CNAME), or headless without endpoints (daily.endpoints-ready)
        name = service_fqdn(svc, cluster_dns.cluster_domain)
        try:
            got = resolver.a_records(name)
        except ResolverUnavailable as exc:
            evidence.table(rows)
            evidence.fail(f"cluster DNS resolver {resolver}: {exc} (query {name})")
        rows.append({"object": name, "expected": ", ".join(want), "answer": ", ".join(got) or "NXDOMAIN"})
        if not got:
            offenders.append({"object": name, "detail": "does not resolve (NXDOMAIN)"})
        elif set(got) != set(want):
            offenders.append({"object": name, "detail": f"resolves to {', '.join(got)}, not {', '.join(want)}"})
    evidence.table(rows)
    evidence.note(f"{len(rows)} Service names queried through {resolver}")
    evidence.expect_none(offenders, "cluster DNS problems", table=False)
