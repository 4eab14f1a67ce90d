"""Daily: every pod in the service mesh runs the Istio sidecar (Titanium 003 Sidecar 주입 확인)."""

from opscheck.check import check, component_absent
from opscheck.rules.mesh import mesh_namespaces, sidecar_findings


@check("daily.sidecar-injected", severity="high", covers=["003.security.sidecar-injected"])
def test_sidecar_injected(cluster, profile, evidence):
    r"""Every pod in the mesh namespaces has the istio-proxy sidecar

    kubectl get pods -n <namespace> -o jsonpath='{range .items[*]}{.metadata.name}{"\t"}{.spec.containers[*].name}{"\n"}{end}'
    kubectl get ns <namespace> --show-labels        (istio-injection=enabled, or istio.io/rev=<revision>)
    Label the namespace, check the injector answers (kubectl get mutatingwebhookconfigurations | grep istio,
    istiod logs), remove sidecar.istio.io/inject: "false" where it is not intended, then restart the
    workload so its pods are created again with the sidecar: kubectl rollout restart deployment/<name> -n <namespace>
    """
    mesh = profile.security.mesh
    if not cluster.served("peerauthentications"):
        component_absent(
            profile.required, "istio", f"cluster {cluster.name} does not serve Istio's security.istio.io API"
        )
    all_namespaces = cluster.list("namespaces")
    namespaces = mesh_namespaces(mesh.namespaces, all_namespaces)
    if not namespaces:
        component_absent(profile.required, "istio", "no namespace is labelled for sidecar injection")
    rows, offenders = sidecar_findings(
        namespaces, all_namespaces, cluster.in_namespaces("pods", namespaces), mesh.sidecar_container
    )
    evidence.table(rows)
    evidence.note(f"mesh namespaces: {', '.join(namespaces)}")
    evidence.expect_none(offenders, "pods or namespaces outside the mesh", table=False)
