"""Monthly: mTLS STRICT in the mesh, istiod version within support (Titanium 003 보안 관리,
월간 점검: Istio 버전 업데이트 검토)."""
from opscheck.check import check, component_absent
from opscheck.rules.mesh import image_tag, mesh_namespaces, namespace_mtls, version_problems, workload_overrides


def _istio_or_absent(cluster, profile) -> None:
    if not cluster.served("peerauthentications"):
        component_absent(profile.required, "istio", f"cluster {cluster.name} does not serve Istio's security.istio.io API")


@check(
    id="monthly.mtls-strict",
    title="Mesh namespaces require mutual TLS (PeerAuthentication STRICT)",
    severity="high",
    covers=["003.security.mtls-strict"],
    remediation="""\
kubectl get peerauthentication -A
istioctl x describe pod <pod> -n <namespace>
Mesh-wide: a PeerAuthentication "default" in istio-system with spec.mtls.mode: STRICT; delete or
fix the namespace or workload policies set to PERMISSIVE/DISABLE (check first that every client
of those workloads has a sidecar, or they lose access).""",
)
def test_mtls_strict(cluster, profile, evidence):
    mesh = profile.security.mesh
    _istio_or_absent(cluster, profile)
    namespaces = mesh_namespaces(mesh.namespaces, cluster.list("namespaces"))
    if not namespaces:
        component_absent(profile.required, "istio", "no namespace is labelled for sidecar injection")
    policies = cluster.list("peerauthentications")
    rows, offenders = [], []
    for ns in namespaces:
        mode, source = namespace_mtls(ns, policies, mesh.root_namespace)
        rows.append({"object": ns, "mode": mode, "from": source})
        if mode != "STRICT":
            offenders.append({"object": ns, "detail": f"{mode} from {source}"})
        for obj, detail in workload_overrides(ns, policies):
            rows.append({"object": ns, "mode": detail, "from": obj})
            offenders.append({"object": obj, "detail": detail})
    evidence.table(rows)
    evidence.expect_none(offenders, "mesh namespaces or workloads without STRICT mTLS", table=False)


@check(
    id="monthly.istio-version",
    title="istiod runs a supported Istio version",
    severity="medium",
    covers=["003.monthly.istio-version"],
    remediation="""\
kubectl get deployment istiod -n istio-system -o jsonpath='{.spec.template.spec.containers[0].image}'
istioctl version
Plan the upgrade one minor release at a time (canary revision: istioctl install --set revision=<new>,
move namespaces with istio.io/rev, restart workloads, remove the old revision); see
https://istio.io/latest/docs/releases/supported-releases/""",
)
def test_istio_version(cluster, profile, evidence):
    mesh = profile.security.mesh
    _istio_or_absent(cluster, profile)
    deployment = next((d for d in cluster.list("deployments") if d["metadata"].get("namespace") == mesh.istiod_namespace
                       and d["metadata"]["name"] == mesh.istiod_deployment), None)
    obj = f"{mesh.istiod_namespace}/{mesh.istiod_deployment}"
    if deployment is None:
        evidence.fail(f"istiod Deployment {obj} not found")

    def discovery(spec: dict) -> str:
        # istiod's container is "discovery"; else the pod's first container
        containers = spec.get("containers") or [{}]
        return next((c for c in containers if c.get("name") == "discovery"), containers[0]).get("image", "")

    images = {f"deployment/{obj}": discovery(deployment["spec"]["template"]["spec"])}
    selector = (deployment["spec"].get("selector") or {}).get("matchLabels") or {}
    for p in cluster.in_namespaces("pods", [mesh.istiod_namespace]):
        labels = p["metadata"].get("labels") or {}
        if selector and all(labels.get(k) == v for k, v in selector.items()) \
                and (p.get("status") or {}).get("phase") == "Running":
            images[f"pod/{mesh.istiod_namespace}/{p['metadata']['name']}"] = discovery(p["spec"])
    rows, offenders = [], []
    for where, image in images.items():
        version = image_tag(image)
        problems = version_problems(version, mesh.min_version, mesh.supported_versions)
        rows.append({"object": where, "image": image, "version": version})
        if problems:
            offenders.append({"object": where, "detail": "; ".join(problems)})
    evidence.table(rows)
    evidence.note(f"minimum: {mesh.min_version or 'not set'}; supported: {', '.join(mesh.supported_versions) or 'not set'}")
    evidence.expect_none(offenders, "istiod versions out of support", table=False)
