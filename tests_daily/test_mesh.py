"""Daily: every pod in the service mesh runs the Istio sidecar (Titanium 003 Sidecar 주입 확인)."""
from opscheck.check import check, component_absent
from opscheck.rules.mesh import INJECT_ANNOTATION, has_sidecar, injection_enabled, mesh_namespaces


@check(
    id="daily.sidecar-injected",
    title="Every pod in the mesh namespaces has the istio-proxy sidecar",
    severity="high",
    covers=["003.security.sidecar-injected"],
    remediation="""\
kubectl get pods -n <namespace> -o jsonpath='{range .items[*]}{.metadata.name}{"\\t"}{.spec.containers[*].name}{"\\n"}{end}'
kubectl get ns <namespace> --show-labels        (istio-injection=enabled, or istio.io/rev=<revision>)
Label the namespace, check the injector answers (kubectl get mutatingwebhookconfigurations | grep istio,
istiod logs), remove sidecar.istio.io/inject: "false" where it is not intended, then restart the
workload so its pods are created again with the sidecar: kubectl rollout restart deployment/<name> -n <namespace>""",
)
def test_sidecar_injected(cluster, profile, evidence):
    mesh = profile.security.mesh
    if not cluster.served("peerauthentications"):
        component_absent(profile.required, "istio", f"cluster {cluster.name} does not serve Istio's security.istio.io API")
    by_name = {n["metadata"]["name"]: n for n in cluster.list("namespaces")}
    namespaces = mesh_namespaces(mesh.namespaces, list(by_name.values()))
    if not namespaces:
        component_absent(profile.required, "istio", "no namespace is labelled for sidecar injection")
    offenders, rows = [], []
    for ns in namespaces:
        if not injection_enabled(by_name.get(ns)):
            offenders.append({"object": ns, "detail": "namespace not labelled istio-injection=enabled"
                              if ns in by_name else "namespace not found"})
    pods = [p for p in cluster.in_namespaces("pods", namespaces)
            if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
    for p in pods:
        name = f"{p['metadata']['namespace']}/{p['metadata']['name']}"
        ok = has_sidecar(p, mesh.sidecar_container)
        rows.append({"object": name, "containers": ", ".join(c["name"] for c in p["spec"].get("containers") or []),
                     "sidecar": "yes" if ok else "NO"})
        if not ok:
            opt_out = (p["metadata"].get("annotations") or {}).get(INJECT_ANNOTATION) == "false"
            offenders.append({"object": name, "detail": f"no {mesh.sidecar_container} container"
                              + (f" ({INJECT_ANNOTATION}: false)" if opt_out else "")})
    evidence.table(rows)
    evidence.note(f"mesh namespaces: {', '.join(namespaces)}")
    evidence.expect_none(offenders, "pods or namespaces outside the mesh", table=False)
