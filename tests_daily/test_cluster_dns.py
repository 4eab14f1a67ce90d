"""Daily: Service names resolve (Titanium 003 네트워크 문제: 서비스 엔드포인트 확인 / DNS 해석)."""

from opscheck.check import check
from opscheck.rules.network import dns_findings, dns_names, dns_service_offenders


@check("daily.cluster-dns", severity="high", covers=["003.network.endpoints-dns"])
def test_cluster_dns(cluster, profile, cluster_dns, dns_resolver, evidence):
    """The cluster DNS Service has ready endpoints, and each Service's DNS name resolves to its address

    kubectl get svc,endpoints -n kube-system kube-dns; kubectl get pods -n kube-system -l k8s-app=kube-dns
    kubectl run -it --rm debug --image=nicolaka/netshoot --restart=Never -- nslookup <service>.<namespace>.svc.cluster.local
    kubectl get endpoints -n <namespace>
    No answer: CoreDNS is down or overloaded (kubectl logs -n kube-system -l k8s-app=kube-dns);
    a wrong or missing answer: CoreDNS cannot watch the API (RBAC system:coredns, its logs), or the
    Service was deleted/recreated with a new ClusterIP that clients still cache.
    """
    dns_services = [
        s
        for s in cluster.in_namespaces("services", [cluster_dns.namespace])
        if s["metadata"]["name"] == cluster_dns.service
    ]
    evidence.require(
        dns_services, f"the cluster DNS Service {cluster_dns.namespace}/{cluster_dns.service} does not exist"
    )
    slices = cluster.list("endpointslices")
    offenders = dns_service_offenders(dns_services, slices)
    if dns_resolver is None:
        evidence.note("cluster_dns.resolver not set: only the DNS Service and its endpoints were checked")
        evidence.expect_none(offenders, "cluster DNS problems")
        return
    names = dns_names(cluster.in_namespaces("services", profile.namespaces), slices, cluster_dns.cluster_domain)
    answers, unanswered = dns_resolver.answers(name for name, _ in names)
    rows, wrong = dns_findings(names, answers)
    evidence.table(rows)
    if unanswered:
        evidence.fail(f"cluster DNS resolver {dns_resolver}: {unanswered[1]} (query {unanswered[0]})")
    evidence.note(f"{len(rows)} Service names queried through {dns_resolver}")
    evidence.expect_none(offenders + wrong, "cluster DNS problems", table=False)
