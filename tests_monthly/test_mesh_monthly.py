"""Monthly: mTLS STRICT in the mesh, istiod version within support (Titanium 003 보안 관리,
월간 점검: Istio 버전 업데이트 검토)."""

from opscheck.check import check, component_absent
from opscheck.rules.mesh import istiod_images, istiod_version_findings, mesh_namespaces, mtls_findings
from opscheck.rules.objects import find


@check("monthly.mtls-strict", severity="high", covers=["003.security.mtls-strict"])
def test_mtls_strict(cluster, profile, evidence):
    """Mesh namespaces require mutual TLS (PeerAuthentication STRICT)

    kubectl get peerauthentication -A
    istioctl x describe pod <pod> -n <namespace>
    Mesh-wide: a PeerAuthentication "default" in istio-system with spec.mtls.mode: STRICT; delete or
    fix the namespace or workload policies set to PERMISSIVE/DISABLE (check first that every client
    of those workloads has a sidecar, or they lose access).
    """
    mesh = profile.security.mesh
    if not cluster.served("peerauthentications"):
        component_absent(
            profile.required, "istio", f"cluster {cluster.name} does not serve Istio's security.istio.io API"
        )
    namespaces = mesh_namespaces(mesh.namespaces, cluster.list("namespaces"))
    if not namespaces:
        component_absent(profile.required, "istio", "no namespace is labelled for sidecar injection")
    rows, offenders = mtls_findings(namespaces, cluster.list("peerauthentications"), mesh.root_namespace)
    evidence.table(rows)
    evidence.expect_none(offenders, "mesh namespaces or workloads without STRICT mTLS", table=False)


@check("monthly.istio-version", severity="medium", covers=["003.monthly.istio-version"])
def test_istio_version(cluster, profile, evidence):
    """istiod runs a supported Istio version

    kubectl get deployment istiod -n istio-system -o jsonpath='{.spec.template.spec.containers[0].image}'
    istioctl version
    Plan the upgrade one minor release at a time (canary revision: istioctl install --set revision=<new>,
    move namespaces with istio.io/rev, restart workloads, remove the old revision); see
    https://istio.io/latest/docs/releases/supported-releases/
    """
    mesh = profile.security.mesh
    if not cluster.served("peerauthentications"):
        component_absent(
            profile.required, "istio", f"cluster {cluster.name} does not serve Istio's security.istio.io API"
        )
    deployment = find(cluster.list("deployments"), mesh.istiod_namespace, mesh.istiod_deployment)
    evidence.require(deployment, f"istiod Deployment {mesh.istiod_namespace}/{mesh.istiod_deployment} not found")
    images = istiod_images(deployment, cluster.in_namespaces("pods", [mesh.istiod_namespace]))
    rows, offenders = istiod_version_findings(images, mesh.min_version, mesh.supported_versions)
    evidence.table(rows)
    evidence.note(
        f"minimum: {mesh.min_version or 'not set'}; supported: {', '.join(mesh.supported_versions) or 'not set'}"
    )
    evidence.expect_none(offenders, "istiod versions out of support", table=False)
