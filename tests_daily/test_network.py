"""Daily: traffic can reach the services (QSIGN 000 §1 and network monitoring)."""

from opscheck.check import check
from opscheck.rules.network import lb_and_ingress_problems, services_without_ready_endpoints


@check("daily.ingress-lb", severity="critical", covers=["000.daily.ingress-lb"])
def test_ingress_lb(cluster, profile, evidence):
    """LoadBalancer Services have an external address; Ingresses have an address and ready backends

    kubectl get svc,ingress -n <namespace>
    kubectl describe ingress -n <namespace> <name>     # address, backends, events
    No address: check the ingress controller / cloud load-balancer controller logs.
    Backend without endpoints: kubectl get endpoints -n <namespace> <service>.
    """
    services = cluster.in_namespaces("services", profile.namespaces)
    ingresses = cluster.in_namespaces("ingresses", profile.namespaces)
    slices = cluster.in_namespaces("endpointslices", profile.namespaces)
    balancers = [s for s in services if s["spec"].get("type") == "LoadBalancer"]
    where = ", ".join(profile.namespaces)
    evidence.examined(
        balancers + ingresses, f"{len(balancers)} LoadBalancer services, {len(ingresses)} ingresses in {where}"
    )
    evidence.expect_none(
        lb_and_ingress_problems(services, ingresses, slices), "load balancers or ingresses not serving"
    )


@check(
    "daily.endpoints-ready",
    severity="critical",
    covers=["000.daily.endpoints-ready", "003.network.endpoints-dns"],
    also=["postdeploy"],
)
def test_endpoints_ready(cluster, profile, evidence):
    """Every Service with a selector has at least one ready endpoint

    kubectl get endpoints -n <namespace>
    A Service without ready endpoints: its pods are not Ready (readiness probe failing) or the
    selector matches no pod: kubectl get pods -n <namespace> -l <selector>.
    """
    services = cluster.in_namespaces("services", profile.namespaces)
    slices = cluster.in_namespaces("endpointslices", profile.namespaces)
    evidence.examined(services, f"{len(services)} Services in {', '.join(profile.namespaces)}")
    evidence.expect_none(services_without_ready_endpoints(services, slices), "services without ready endpoints")
