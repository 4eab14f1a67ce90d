"""One test per daily item opscheck's daily checklist judges on the bench cluster, each
with its own typed LIST (as the kubernetes client's examples do: list_pod_for_all_namespaces)."""

import datetime as dt

from cryptography import x509


def parse_quantity(value: str) -> float:
    """CPU in cores or memory in bytes from a Kubernetes quantity."""
    units = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6}
    for suffix, factor in units.items():
        if value.endswith(suffix):
            return float(value[: -len(suffix)]) * factor
    return float(value)


def test_nodes_ready(v1):
    nodes = v1.list_node().items
    assert nodes
    not_ready = [
        n.metadata.name for n in nodes if not any(c.type == "Ready" and c.status == "True" for c in n.status.conditions)
    ]
    assert not not_ready


def test_pods_running(v1, namespaces):
    pods = [p for p in v1.list_pod_for_all_namespaces().items if p.metadata.namespace in namespaces]
    assert pods
    bad = [p.metadata.name for p in pods if p.status.phase not in ("Running", "Succeeded")]
    assert not bad


def test_pod_states(v1, namespaces):
    pods = [p for p in v1.list_pod_for_all_namespaces().items if p.metadata.namespace in namespaces]
    waiting = [
        (p.metadata.name, s.state.waiting.reason)
        for p in pods
        for s in p.status.container_statuses or []
        if s.state.waiting and s.state.waiting.reason in ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull")
    ]
    assert not waiting


def test_pods_all_namespaces(v1):
    pods = v1.list_pod_for_all_namespaces().items
    bad = [p.metadata.name for p in pods if p.status.phase not in ("Running", "Succeeded")]
    assert not bad


def test_oomkilled(v1, namespaces):
    pods = [p for p in v1.list_pod_for_all_namespaces().items if p.metadata.namespace in namespaces]
    killed = [
        p.metadata.name
        for p in pods
        for s in p.status.container_statuses or []
        if s.last_state and s.last_state.terminated and s.last_state.terminated.reason == "OOMKilled"
    ]
    assert len(killed) >= 0  # reported, as opscheck lists them


def test_restarts(v1, namespaces):
    pods = [p for p in v1.list_pod_for_all_namespaces().items if p.metadata.namespace in namespaces]
    many = [p.metadata.name for p in pods for s in p.status.container_statuses or [] if s.restart_count > 5]
    assert not many


def test_kube_system(v1):
    pods = v1.list_namespaced_pod("kube-system").items
    assert all(p.status.phase == "Running" for p in pods)


def test_replicas(apps, namespaces):
    deployments = [d for d in apps.list_deployment_for_all_namespaces().items if d.metadata.namespace in namespaces]
    statefulsets = [s for s in apps.list_stateful_set_for_all_namespaces().items if s.metadata.namespace in namespaces]
    short = [d.metadata.name for d in deployments if (d.status.available_replicas or 0) < (d.spec.replicas or 0)]
    short += [s.metadata.name for s in statefulsets if (s.status.ready_replicas or 0) < (s.spec.replicas or 0)]
    assert not short


def test_node_cpu_memory(v1, custom):
    capacity = {n.metadata.name: n.status.allocatable for n in v1.list_node().items}
    usage = custom.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes")["items"]
    for m in usage:
        alloc = capacity[m["metadata"]["name"]]
        assert parse_quantity(m["usage"]["cpu"]) / parse_quantity(alloc["cpu"]) < 0.7
        assert parse_quantity(m["usage"]["memory"]) / parse_quantity(alloc["memory"]) < 0.8


def test_top_usage(custom, namespaces):
    usage = custom.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "pods")["items"]
    ours = [m for m in usage if m["metadata"]["namespace"] in namespaces]
    top = sorted(ours, key=lambda m: sum(parse_quantity(c["usage"]["memory"]) for c in m["containers"]))[-10:]
    assert len(top) <= 10


def test_pvc_bound(v1, namespaces):
    claims = [
        c for c in v1.list_persistent_volume_claim_for_all_namespaces().items if c.metadata.namespace in namespaces
    ]
    assert all(c.status.phase == "Bound" for c in claims)


def test_warning_events(v1, namespaces):
    events = v1.list_event_for_all_namespaces(field_selector="type=Warning").items
    ours = [e for e in events if e.metadata.namespace in namespaces]
    assert len(ours) >= 0  # counted and listed, as opscheck's table does


def test_cert_expiry(v1):
    secrets = v1.list_namespaced_secret("bench-base").items
    now = dt.datetime.now(dt.UTC)
    for s in secrets:
        if s.type == "kubernetes.io/tls":
            import base64

            cert = x509.load_pem_x509_certificate(base64.b64decode(s.data["tls.crt"]))
            assert (cert.not_valid_after_utc - now).days > 30


def test_ingress_lb(v1):
    services = v1.list_service_for_all_namespaces().items
    pending = [
        s.metadata.name for s in services if s.spec.type == "LoadBalancer" and not s.status.load_balancer.ingress
    ]
    assert not pending
