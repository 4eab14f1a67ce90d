"""The multi-cluster system of runbook 004: three more kwok clusters, mgmt, app1 and app2.

Each is a real control plane like the demo cluster (testenv/cluster.py's lifecycle
functions run them, each a cluster.KwokTarget, `target(name)`): etcd, kube-apiserver (16444/16445/16446),
kube-controller-manager, kube-scheduler, kwok-controller and metrics-server as local
processes on 127.0.0.1, on the fixed ports PORTS["<component>-<cluster>"], with five kwok
nodes each (<cluster>-cp, -cp-2, -cp-3, tainted control-plane nodes, and <cluster>-worker-1/-2):

    mgmt   platform services: Argo CD (its Ingress with TLS), the monitoring stack
           (Prometheus on a PersistentVolume, Grafana, kube-state-metrics),
           cert-manager, Velero
    app1   the application (namespace app: web, api, worker, an Ingress with TLS,
    app2   PodDisruptionBudgets)

plus, in every cluster, kube-system with CoreDNS, the Cilium agent DaemonSet and operator,
ingress-nginx behind a LoadBalancer Service (the addresses written by testenv, as in the
demo cluster), and the same read-only ServiceAccount opscheck-system/opscheck as the demo
cluster. Manifests: testenv/manifests/multicluster-*.yaml.
ONE kubeconfig, `kubeconfig()` (state_dir()/multicluster/kubeconfig), has the three
read-only contexts, named exactly mgmt, app1 and app2, as the runbook's
`for ctx in mgmt app1 app2` expects; `admin_kubeconfig()` has the same three contexts with
the admin identity (for people: kubectl --kubeconfig ... --context app1 ...).

Resources: the clusters differ from the demo cluster only in a smaller
kube-controller-manager (only the controllers these workloads need, see CONTROLLERS) and
no leader election in the controller-manager and scheduler (one instance each; so they
survive an apiserver outage instead of exiting). metrics-server runs in each (about 63 MB
and 0.15% of a core each), so the resource-usage checks run for real on all three.

When they run: ON DEMAND, not with every `python -m testenv up`. Measured on the 2-core
test machine: at idle the three add 1.77 GB RSS (per cluster: kube-apiserver 255 MB,
controller-manager 89, kwok 65, metrics-server 63, scheduler 62, etcd 55) and 7.4% of one
core (per cluster: apiserver 1.2%, etcd 0.5%, controller-manager 0.35%, the rest 0.4%);
a cold start takes 54 s (each control plane ~4 s, then mostly metrics-server's first two
scrapes; the clusters start one after the other and settle in parallel; 24 s with
up(metrics=False)), a warm `up()` 2 s, `down()` 6 s. Only the multicluster profile and
its self-tests need them, so nobody else pays for them:
    python -m testenv up --system multicluster    # the usual environment plus these three
    make demo ENV=multicluster                    # the same, then the daily checklist
    python -m testenv down                        # stops them too (always)
The self-tests that need them start them through their fixture (2 s when already up) and
stop them again afterwards if they were not running before.

Public API:
    up(names=CLUSTERS, metrics=True) -> dict
                                 create/start the clusters and their workloads (idempotent;
                                 also undoes the fault helpers' leftovers)
    down() -> None               stop and delete all three; no process is left
    status() -> dict             per cluster: running, components, nodes
    kubeconfig() / admin_kubeconfig() -> Path
    target(name) -> KwokTarget   the cluster (its .api: KubeApi with the admin identity)
    audit_log(name) -> Path
    fault helpers (each waits until its effect shows through the API; testenv/faults.py's
    context managers work on a cluster here with api=target(name).api):
        set_node_ready(name, node, ready), scale(name, kind, namespace, obj, replicas),
        stop_apiserver(name), start_apiserver(name), delete_namespace(name, namespace)
"""

from __future__ import annotations

import base64
import contextlib
import copy
import datetime as dt
import os
import shutil
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from testenv import certs, cluster, clustermesh, demo, faults
from testenv.cluster import KwokTarget
from testenv.kubeapi import KubeApi, api_path
from testenv.paths import HOST, PORTS, state_dir, under
from testenv.procs import pid_alive, up_down_status_cli, wait_for, write_private
from testenv.readiness import (
    all_pods_settled,
    daemonset_done,
    deployment_done,
    endpoints_ready,
    node_ready,
    pod_ready,
    running_pods_measured,
    statefulset_done,
)
from testenv.release import ensure_previous_revisions

CLUSTERS = ("mgmt", "app1", "app2")
SYSTEM = "multicluster"  # the name of its Cluster Mesh metrics (testenv/clustermesh.py)
ROLE = {"mgmt": "mgmt", "app1": "app", "app2": "app"}
MANIFEST = {"mgmt": "multicluster-mgmt.yaml", "app": "multicluster-app.yaml"}
NAMESPACES = {
    "mgmt": ("argocd", "monitoring", "cert-manager", "velero", "vault", "external-secrets", "ingress-nginx"),
    "app": ("app", "velero", "ingress-nginx"),
}
# The platform's custom resources (runbook 004 §1.3, §2.2-2.3, §5.5) and the CRDs that serve
# them, per role: cert-manager, External Secrets and Vault run in mgmt; Velero in every
# cluster (its Schedule backs up the namespaces default and app).
CRDS = {
    "mgmt": (
        "backups.velero.io",
        "schedules.velero.io",
        "externalsecrets.external-secrets.io",
        "certificates.cert-manager.io",
    ),
    "app": ("backups.velero.io", "schedules.velero.io"),
}
# Pod Security Standards on every namespace of the system: audited and warned at restricted
# (the profile's security.pod_security).
POD_SECURITY_LABELS = {
    "pod-security.kubernetes.io/audit": "restricted",
    "pod-security.kubernetes.io/warn": "restricted",
}
CUSTOM_GROUPS = ("velero.io/", "cert-manager.io/", "external-secrets.io/")
# Helm's release records (`helm list -A`, 004 §4.2) per role: (namespace, release, chart,
# app version, revisions), written as Helm's secrets driver stores them.
HELM_RELEASES = {
    "mgmt": [
        ("monitoring", "prometheus", "kube-prometheus-stack", "61.3.2", 2),
        ("argocd", "argocd", "argo-cd", "7.4.1", 1),
        ("cert-manager", "cert-manager", "cert-manager", "1.15.3", 1),
        ("velero", "velero", "velero", "1.14.1", 1),
        ("vault", "vault", "vault", "1.17.6", 1),
        ("external-secrets", "external-secrets", "external-secrets", "0.10.4", 1),
        ("kube-system", "cilium", "cilium", "1.16.0", 1),
    ],
    "app": [
        ("ingress-nginx", "ingress-nginx", "ingress-nginx", "1.11.2", 1),
        ("velero", "velero", "velero", "1.14.1", 1),
        ("kube-system", "cilium", "cilium", "1.16.0", 1),
    ],
}
# Real TLS Secrets (Secret name, namespace, Service, extra DNS names) per role.
TLS_SECRETS = {
    "mgmt": [("argocd-server-tls", "argocd", "argocd-server", ["argocd.mgmt.example.local"])],
    "app": [("web-tls", "app", "web", ["{cluster}.apps.example.local"])],
}
# Only what the workloads here need: Deployments, StatefulSets, DaemonSets, Services'
# endpoints, PV binding, PDB status, namespaces' default ServiceAccount, node health
# (the NotReady taints a node fault shows) and garbage collection.
CONTROLLERS = ",".join(
    [
        "deployment",
        "replicaset",
        "statefulset",
        "daemonset",
        "endpoint",
        "endpointslice",
        "serviceaccount",
        "namespace",
        "garbagecollector",
        "persistentvolume-binder",
        "disruption",
        "nodelifecycle",
        "taint-eviction-controller",
        "podgc",
    ]
)


home = under(state_dir, "multicluster")
# The read-only kubeconfig with the contexts mgmt, app1 and app2.
kubeconfig = under(home, "kubeconfig")
# The same three contexts with the admin identity (system:masters).
admin_kubeconfig = under(home, "kubeconfig-admin")


_targets: dict[tuple[str, Path], KwokTarget] = {}


def target(name: str) -> KwokTarget:
    """Cluster `name` (one KwokTarget per name, so its KubeApi keeps its connections)."""
    if name not in CLUSTERS:
        raise ValueError(f"unknown cluster {name!r}; the multi-cluster system has {', '.join(CLUSTERS)}")
    key = (name, home())
    if key not in _targets:
        _targets[key] = _new_target(name)
    return _targets[key]


def _new_target(name: str) -> KwokTarget:
    return KwokTarget(
        name=name,
        context=name,
        apiserver_port=f"kube-apiserver-{name}",
        home=home() / name,
        component_ports=cluster.component_ports(name),
        metrics_server=True,
        # the profile's certificate and Helm namespaces that this cluster has
        secret_namespaces=(*NAMESPACES[ROLE[name]], "kube-system"),
        component_args=(
            ("kube-controller-manager", "controllers", CONTROLLERS),
            ("kube-controller-manager", "leader-elect", "false"),
            ("kube-scheduler", "leader-elect", "false"),
        ),
    )


def audit_log(name: str) -> Path:
    return target(name).audit_log()


def _log(msg: str) -> None:
    print(f"testenv.multicluster: {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------- manifests

# (node name suffix, role, zone): no single control-plane node (quarterly.spof)
NODES = (
    ("cp", "control-plane", "a"),
    ("worker-1", "worker", "b"),
    ("worker-2", "worker", "c"),
    ("cp-2", "control-plane", "b"),
    ("cp-3", "control-plane", "c"),
)


def _nodes(name: str) -> list[dict]:
    """<name>-cp, -cp-2, -cp-3 (an HA control plane, as kubeadm join --control-plane makes:
    three for etcd's quorum, tainted NoSchedule) and <name>-worker-1/-2, made from the demo
    cluster's node manifest; spread over three zones."""
    template = demo.load_manifest("nodes.yaml")[0]
    out = []
    for suffix, role, zone in NODES:
        n = copy.deepcopy(template)
        node = f"{name}-{suffix}"
        md = n["metadata"]
        md["name"] = node
        md["annotations"]["metrics.k8s.io/resource-metrics-path"] = f"/metrics/nodes/{node}/metrics/resource"
        labels = {k: v for k, v in md["labels"].items() if not k.startswith("node-role.kubernetes.io/")}
        labels.update(
            {
                "kubernetes.io/hostname": node,
                f"node-role.kubernetes.io/{role}": "",
                "topology.kubernetes.io/region": name,
                "topology.kubernetes.io/zone": f"{name}-{zone}",
            }
        )
        md["labels"] = labels
        n["spec"] = (
            {"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}
            if role == "control-plane"
            else {}
        )
        out.append(n)
    return out


_volumes_dir = under(state_dir, "volumes")


def _documents(name: str) -> list[dict]:
    subst = {"CLUSTER": name, "VOLUMES": str(_volumes_dir())}
    return demo.load_manifest("multicluster-ingress-nginx.yaml", **subst) + demo.load_manifest(
        MANIFEST[ROLE[name]], **subst
    )


def _tls_secret(name: str, secret: str, namespace: str, service: str, sans: list[str], days_valid: int = 365) -> dict:
    pair = certs.service_cert(
        service, namespace, days_valid=days_valid, extra_sans=[s.format(cluster=name) for s in sans]
    )
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {"name": secret, "namespace": namespace, "labels": {"app.kubernetes.io/name": service}},
        "data": {k: base64.b64encode(v).decode() for k, v in certs.tls_secret_data(pair).items()},
    }


def _apply_workloads(name: str) -> None:
    role, api = ROLE[name], target(name).api
    demo.apply_kube_system(api)  # CoreDNS, as in the demo cluster
    for d in demo.load_manifest("multicluster-kube-system.yaml"):
        api.apply(d)
    docs = _documents(name)
    for d in docs:
        if d["kind"] == "Namespace":
            d["metadata"].setdefault("labels", {}).update(POD_SECURITY_LABELS)
            api.apply(d)
    for ns in NAMESPACES[role]:
        # ServiceAccount admission needs the namespace's default SA before any pod is made
        wait_for(lambda ns=ns: api.get("ServiceAccount", ns, "default") is not None, 60, f"ServiceAccount {ns}/default")
    for secret, ns, service, sans in TLS_SECRETS[role]:
        left = demo.secret_cert_days_left(api.get("Secret", ns, secret))
        if left is None or left < 300:  # missing, or a short-lived one a test left
            api.apply(_tls_secret(name, secret, ns, service, sans))
    for ns in NAMESPACES[role]:
        api.apply(_default_deny(ns))
    # before the workloads: the Secrets an ExternalSecret makes are mounted by pods
    _apply_platform(name, [d for d in docs if _custom(d)])
    for d in docs:
        if d["kind"] == "PersistentVolume":
            Path(d["spec"]["hostPath"]["path"]).mkdir(parents=True, exist_ok=True)
            api.create_if_missing(d)
    for d in docs:
        if d["kind"] not in ("Namespace", "PersistentVolume") and not _custom(d):
            api.apply(d)


def _default_deny(namespace: str) -> dict:
    """Cilium enforces NetworkPolicies: every namespace starts from a default deny (kwok's
    pods exchange no traffic, so no allow rule is needed here)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "default-deny-all", "namespace": namespace},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }


def _custom(doc: dict) -> bool:
    return doc["apiVersion"].startswith(CUSTOM_GROUPS)


# --------------------------------------------------------------- platform resources
# No cert-manager, Velero or External Secrets controller runs here: what they would write
# (a Certificate's status from its Secret's real certificate, the Backups of a Schedule's
# last fire times and its lastBackup, an ExternalSecret's SecretSynced status and target
# Secret) is written here, with platform_services.py's pure helpers (on the demo cluster,
# testenv/security.py runs the real cert-manager controller).


def _external_secret_synced_status(now: dt.datetime, target: str) -> dict:
    """What the External Secrets operator writes after a sync (none runs in mgmt)."""
    from testenv import platform_services as ps

    return {
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "SecretSynced",
                "message": "secret synced",
                "lastTransitionTime": ps._ts(now),
            }
        ],
        "refreshTime": ps._ts(now),
        "syncedResourceVersion": "1-" + "0" * 32,
        "binding": {"name": target},
    }


def _crd_established(api: KubeApi, name: str) -> bool:
    crd = api.request("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
    return any(
        c.get("type") == "Established" and c.get("status") == "True"
        for c in (crd.get("status") or {}).get("conditions") or []
    )


def _ensure_crds(name: str) -> None:
    api, wanted = target(name).api, CRDS[ROLE[name]]
    crds = [
        d
        for f in ("crds-platform.yaml", "crds-external-secrets.yaml", "crds-security.yaml")
        for d in demo.load_manifest(f)
        if d["metadata"]["name"] in wanted
    ]
    for crd in crds:
        api.apply(crd)
    for crd in crds:
        n, spec = crd["metadata"]["name"], crd["spec"]
        wait_for(lambda n=n: _crd_established(api, n), 60, f"{name}: CRD {n} Established")
        path = f"/apis/{spec['group']}/{spec['versions'][0]['name']}/{spec['names']['plural']}"
        wait_for(lambda p=path: _served(api, p), 60, f"{name}: {path} served")


def _served(api: KubeApi, path: str) -> bool:
    try:
        return api.request("GET", path) is not None
    except Exception:
        return False


def _apply_platform(name: str, custom: list[dict]) -> None:
    from testenv import platform_services as ps

    api, role, now = target(name).api, ROLE[name], ps._now()
    _ensure_crds(name)
    for d in custom:
        api.apply(d)
        md = d["metadata"]
        ns, obj = md["namespace"], md["name"]
        if d["kind"] == "Certificate":
            secret = api.get("Secret", ns, d["spec"]["secretName"]) or {}
            cert = _secret_certificate(secret)
            if cert is not None:
                status = _certificate_status(cert.not_valid_before_utc, cert.not_valid_after_utc)
                api.patch("Certificate", ns, obj, status, sub="status")
        elif d["kind"] == "ExternalSecret":
            _ensure_target_secret(api, ns, d["spec"]["target"]["name"], [x["secretKey"] for x in d["spec"]["data"]])
            status = _external_secret_synced_status(now, d["spec"]["target"]["name"])
            api.patch("ExternalSecret", ns, obj, {"status": status}, sub="status")
        elif d["kind"] == "Schedule":
            _ensure_schedule_backups(api, d, now)
    for ns, release, chart, version, revisions in HELM_RELEASES[role]:
        for rev in range(1, revisions + 1):
            status = "deployed" if rev == revisions else "superseded"
            current = api.get("Secret", ns, f"sh.helm.release.v1.{release}.v{rev}")
            if current is None or (current["metadata"].get("labels") or {}).get("status") != status:
                when = now - dt.timedelta(days=2 * (revisions - rev) + 1)
                api.apply(ps._helm_release_secret(ns, release, chart, version, rev, status, when))
        for s in api.list_("Secret", ns, f"owner=helm,name={release}"):  # revisions a fault added
            if int(s["metadata"]["labels"].get("version", "0")) > revisions:
                api.delete("Secret", ns, s["metadata"]["name"])


def _certificate_status(not_before: dt.datetime, not_after: dt.datetime) -> dict:
    """A Ready Certificate's status as cert-manager writes it; it renews at notAfter minus
    renewBefore (720h in the manifests)."""

    def rfc3339(t: dt.datetime) -> str:
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")

    now = dt.datetime.now(dt.UTC)
    ready = {
        "type": "Ready",
        "status": "True",
        "reason": "Ready",
        "message": "Certificate is up to date and has not expired",
        "lastTransitionTime": rfc3339(now),
        "observedGeneration": 1,
    }
    return {
        "status": {
            "conditions": [ready],
            "notBefore": rfc3339(not_before),
            "notAfter": rfc3339(not_after),
            "renewalTime": rfc3339(not_after - dt.timedelta(days=30)),
            "revision": 1,
        }
    }


def _secret_certificate(secret: dict):
    from cryptography import x509

    if "tls.crt" not in (secret.get("data") or {}):
        return None
    return x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))


def _ensure_target_secret(api: KubeApi, namespace: str, secret: str, keys: list[str]) -> None:
    """The Secret the operator creates from the store (values: random, as Vault would hold)."""
    if api.get("Secret", namespace, secret) is None:
        api.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "Opaque",
                "metadata": {
                    "name": secret,
                    "namespace": namespace,
                    "labels": {"reconcile.external-secrets.io/created-by": "external-secrets"},
                },
                "data": {k: base64.b64encode(os.urandom(12).hex().encode()).decode() for k in keys},
            }
        )


def _ensure_schedule_backups(api: KubeApi, schedule: dict, now: dt.datetime) -> None:
    """The Backups of the Schedule's last fire times, Completed, and its status (Enabled,
    lastBackup the newest), as Velero records them."""
    from testenv import platform_services as ps

    ns, sched, spec = schedule["metadata"]["namespace"], schedule["metadata"]["name"], schedule["spec"]
    if (api.get("Schedule", ns, sched) or {}).get("spec") != spec:  # a fault helper's change
        api.patch("Schedule", ns, sched, [{"op": "replace", "path": "/spec", "value": spec}], kind_of_patch="json")
    template = {k: v for k, v in spec["template"].items() if k != "metadata"}
    labels = {"velero.io/schedule-name": sched, "velero.io/storage-location": "default"}
    fires = ps._previous_fires(spec["schedule"], ps.BACKUPS_PER_SCHEDULE, now)
    for fire in fires:
        backup = ps._backup_name(sched, fire)
        status = ps._completed_status(fire + dt.timedelta(seconds=2), template["ttl"], 212)
        current = api.get("Backup", ns, backup)
        if current is None:
            api.create(
                {
                    "apiVersion": "velero.io/v1",
                    "kind": "Backup",
                    "metadata": {"name": backup, "namespace": ns, "labels": labels},
                    "spec": template,
                }
            )
        if (
            current is None
            or (current.get("status") or {}).get("phase") != "Completed"
            or current["status"].get("errors")
        ):
            api.patch("Backup", ns, backup, {"status": status}, sub="status")
    status = {"phase": "Enabled", "lastBackup": ps._ts(fires[0] + dt.timedelta(seconds=2)), "validationErrors": None}
    api.patch("Schedule", ns, sched, {"status": status}, sub="status")


# ------------------------------------------------------------ control-plane hosts


def host_name(name: str) -> str:
    """The cluster's control-plane host (its node <name>-cp), as the profile's hosts name it."""
    return f"{name}-cp"


def snapshot_dir(name: str) -> Path:
    """/var/backups/etcd on the cluster's control-plane host (runbook 004 etcd-snapshot.sh)."""
    return home() / "hosts" / host_name(name) / "backups" / "etcd"


def node_fs_dir(name: str) -> Path:
    """/var/lib/containerd on the cluster's control-plane host: a tmpfs of its own."""
    return home() / "hosts" / host_name(name) / "var-lib-containerd"


def etcd_endpoint(name: str) -> str:
    return f"http://{HOST}:{PORTS[f'etcd-{name}']}"


def _ensure_host(name: str) -> None:
    """Real etcdctl snapshots of the cluster's etcd (pruned to 7 days, a fresh one every
    12 hours) and the node's image filesystem, as testenv/controlplane.py keeps them for the
    demo cluster."""
    from testenv import controlplane

    problem = controlplane.ensure_host(snapshot_dir(name), node_fs_dir(name), etcd_endpoint(name))
    if problem:
        _log(f"{host_name(name)}: tmpfs mount failed, using a plain directory: {problem}")


def _wait_healthy(name: str, timeout: float = 180) -> None:
    namespaces, api = (*NAMESPACES[ROLE[name]], "kube-system"), target(name).api
    wait_for(
        lambda: all(deployment_done(d) for ns in namespaces for d in api.list_("Deployment", ns)),
        timeout,
        f"{name}: Deployments available",
    )
    wait_for(
        lambda: all(statefulset_done(s) for ns in namespaces for s in api.list_("StatefulSet", ns)),
        timeout,
        f"{name}: StatefulSets ready",
    )
    wait_for(
        lambda: all(daemonset_done(d) for d in api.list_("DaemonSet", "kube-system")),
        timeout,
        f"{name}: DaemonSets ready",
    )
    wait_for(lambda: all(all_pods_settled(api, ns) for ns in namespaces), timeout, f"{name}: pods Running/Ready")
    for ns in namespaces:
        services = [s["metadata"]["name"] for s in api.list_("Service", ns) if s["spec"].get("selector")]
        wait_for(
            lambda ns=ns, services=services: all(endpoints_ready(api, ns, s) for s in services),
            timeout,
            f"{name}: Endpoints in {ns} ready",
        )


def _wait_metrics(name: str, timeout: float = 120) -> None:
    namespaces, api = NAMESPACES[ROLE[name]], target(name).api

    def ok() -> bool:
        nodes = {n["metadata"]["name"] for n in api.list_("Node")}
        if not nodes <= {m["metadata"]["name"] for m in api.metrics_nodes()}:
            return False
        return all(running_pods_measured(api, ns) for ns in namespaces)

    wait_for(ok, timeout, f"{name}: metrics API serving node and pod usage", interval=1)


# ------------------------------------------------------------------------- lifecycle


def up(names: tuple[str, ...] | list[str] = CLUSTERS, metrics: bool = True) -> dict:
    """Create (or start, or just confirm) the clusters and everything in them, wait until
    healthy, write the kubeconfigs. Idempotent; converges again what the fault helpers
    changed (node faults, replicas, a stopped apiserver), so do not run it while a test
    has a fault injected. Returns status() plus timings.

    metrics=False does not wait for the metrics API to serve every pod (a new pod needs
    two metrics-server scrapes, ~20 s): only the resource-usage checks need that.

    Two passes: every cluster is started and given its objects first, then each is waited
    for, so the clusters' controllers and metrics-servers (two scrapes before the metrics
    API answers) work in parallel."""
    t0 = time.monotonic()
    timings: dict[str, dict[str, float]] = {name: {} for name in names}
    bins = cluster.check_binaries()
    cluster.ensure_app_logs()  # kwok's ClusterLogs for kube-system read a file there
    home().mkdir(parents=True, exist_ok=True)
    for name in names:
        with cluster.locked(target(name)):
            _converge(name, bins, timings[name])
    for name in names:
        with cluster.locked(target(name)):
            _settle(name, timings[name], metrics)
    _write_kubeconfigs()
    # the three are one Cilium Cluster Mesh: each cluster's agents (one per node) see the others ready
    clustermesh.publish(
        SYSTEM, list(CLUSTERS), {name: [f"{name}-{suffix}" for suffix, _, _ in NODES] for name in CLUSTERS}
    )
    info = status()
    info["timings"] = timings
    info["up_seconds"] = round(time.monotonic() - t0, 1)
    return info


def _timed(timings: dict[str, float], what: str, fn, *args) -> None:
    t = time.monotonic()
    fn(*args)
    timings[what] = round(time.monotonic() - t, 1)


def _converge(name: str, bins: dict[str, Path], timings: dict[str, float]) -> None:
    """Start the cluster's processes; create its nodes, reader identity and workloads;
    undo leftover faults."""
    (home() / name).mkdir(parents=True, exist_ok=True)
    t = target(name)
    _timed(timings, "control_plane", cluster.start_cluster, t, bins)
    _timed(timings, "nodes", cluster.ensure_nodes, t, _nodes(name))
    _timed(timings, "reader", cluster.ensure_reader, t)
    _timed(timings, "apply", _apply_workloads, name)
    _timed(timings, "host", _ensure_host, name)
    if t.api.get("Pod", cluster.READER_NAMESPACE, _CANARY) is not None:  # an interrupted start_apiserver's
        t.api.delete("Pod", cluster.READER_NAMESPACE, _CANARY)
    namespaces = NAMESPACES[ROLE[name]]
    demo.remove_template_faults(t.api, (*namespaces, "kube-system"))
    for ns in namespaces:
        demo.publish_load_balancers(t.api, ns)


def _settle(name: str, timings: dict[str, float], metrics: bool = True) -> None:
    """Wait until the cluster's workloads are healthy (and the metrics API serves them)."""
    _timed(timings, "healthy", _wait_healthy, name)
    # every workload released twice: a previous revision to roll back to (predeploy.rollback-plan)
    _timed(timings, "revisions", ensure_previous_revisions, target(name).api, NAMESPACES[ROLE[name]])
    for ns in (*NAMESPACES[ROLE[name]], "kube-system"):
        target(name).api.clear_events(ns, "Warning")  # scheduling warnings of the first seconds
    if metrics:
        _timed(timings, "metrics", _wait_metrics, name)


def _write_kubeconfigs() -> None:
    """Merge the clusters' own kubeconfigs into one file per identity, with the contexts
    named mgmt, app1, app2 (users renamed per cluster so the entries do not collide)."""
    for out, which in ((kubeconfig(), "kubeconfig-reader"), (admin_kubeconfig(), "kubeconfig")):
        merged: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [],
            "users": [],
            "contexts": [],
            "current-context": CLUSTERS[0],
            "preferences": {},
        }
        for name in CLUSTERS:
            path = home() / name / which
            if not path.exists():
                continue
            conf = yaml.safe_load(path.read_text())
            user = f"{conf['users'][0]['name']}@{name}"
            merged["clusters"].append({"name": name, "cluster": conf["clusters"][0]["cluster"]})
            merged["users"].append({"name": user, "user": conf["users"][0]["user"]})
            merged["contexts"].append({"name": name, "context": {"cluster": name, "user": user}})
        text = yaml.safe_dump(merged, sort_keys=False)
        if not out.exists() or out.read_text() != text:
            write_private(out, text)


def down() -> None:
    """Stop every process of the three clusters and delete them (etcd data, pki, audit
    logs, kubeconfigs, the Prometheus volume). No process is left behind."""
    from testenv import controlplane

    for name in CLUSTERS:
        t = target(name)
        if t.cluster_dir().exists() or cluster.stray_pids(t):
            cluster.delete_cluster(t)
        controlplane.unmount(node_fs_dir(name))
    shutil.rmtree(home(), ignore_errors=True)
    shutil.rmtree(_volumes_dir() / "multicluster-mgmt-prometheus-db-0", ignore_errors=True)
    for name in CLUSTERS:
        shutil.rmtree(_volumes_dir() / f"multicluster-{name}-app-worker-data", ignore_errors=True)
    for name in CLUSTERS:
        (state_dir() / f"kwok-{name}.yaml").unlink(missing_ok=True)
        (state_dir() / f"cluster-{name}.lock").unlink(missing_ok=True)
    clustermesh.remove(SYSTEM)


def _api_ready(api: KubeApi) -> bool:
    try:
        return api.ready()
    except Exception:
        return False


def status() -> dict:
    """Per cluster: server, components and pids, apiserver ready, nodes Ready."""
    info: dict[str, Any] = {
        "kubeconfig": str(kubeconfig()),
        "admin_kubeconfig": str(admin_kubeconfig()),
        "contexts": list(CLUSTERS),
        "clusters": {},
    }
    for name in CLUSTERS:
        t = target(name)
        c: dict[str, Any] = {
            "server": t.server_url(),
            "workdir": str(t.cluster_dir()),
            "audit_log": str(t.audit_log()),
            "components": cluster.component_pids(t),
        }
        c["running"] = t.kubeconfig().exists() and _api_ready(t.api)
        if c["running"]:
            try:
                c["nodes"] = {n["metadata"]["name"]: node_ready(n) for n in t.api.list_("Node")}
            except Exception as exc:
                c["error"] = str(exc)
        info["clusters"][name] = c
    info["running"] = all(c["running"] for c in info["clusters"].values())
    return info


# ---------------------------------------------------------------------- fault helpers


def set_node_ready(name: str, node: str, ready: bool, timeout: float = cluster.DEFAULT_TIMEOUT) -> dict:
    """faults.set_node_ready on cluster `name` (kwok reports the node NotReady, or Ready
    again; see there)."""
    return faults.set_node_ready(node, ready, timeout, api=target(name).api)


def scale(
    name: str, kind: str, namespace: str, obj: str, replicas: int, timeout: float = cluster.DEFAULT_TIMEOUT
) -> dict:
    """faults.scale on cluster `name`; up() puts the manifests' replicas back."""
    return faults.scale(kind, namespace, obj, replicas, timeout, api=target(name).api)


def delete_namespace(name: str, namespace: str, timeout: float = 120) -> None:
    """Fault: a namespace (and all in it) deleted in cluster `name` only; up((name,)) brings
    it back."""
    target(name).api.delete("Namespace", None, namespace, timeout)


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((HOST, port)) == 0


def _stop_pid(pid: int, what: str, timeout: float = 30, grace: float = 2.0) -> None:
    """SIGTERM, SIGKILL after `grace`, then wait until init has reaped it: kwokctl takes
    a zombie for a running component and would not start another."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, timeout)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        with contextlib.suppress(TimeoutError):
            wait_for(lambda: not pid_alive(pid), wait, f"{what} (pid {pid}) to exit")
        if not pid_alive(pid):
            break
    else:
        raise RuntimeError(f"{what} (pid {pid}) would not exit")
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), timeout, f"{what} (pid {pid}) reaped")


def stop_apiserver(name: str, timeout: float = 30) -> None:
    """Stop cluster `name`'s kube-apiserver: the cluster is unreachable (connection
    refused) while the rest of its processes keep running. SIGTERM, then SIGKILL after
    2 s: kube-apiserver stops listening at once but can hang in its shutdown (seen here
    with its watch clients still connected), and a restart needs it gone."""
    port = PORTS[f"kube-apiserver-{name}"]
    pid = cluster.component_pids(target(name)).get("kube-apiserver")
    if pid is not None:
        _stop_pid(pid, f"{name} kube-apiserver", timeout)
    wait_for(lambda: not _port_open(port), timeout, f"{name} kube-apiserver port {port} closed")


# The apiserver's clients that act on the cluster: while it is down their watches back
# off (client-go: doubling up to 30 s between retries), so after a restart the cluster
# would ignore changes for about as long as the outage lasted. The controller-manager and
# scheduler (no leader election) restart in a second with fresh watches; kwok does not
# (a new kwok-controller waits for its predecessor's node leases to expire, 40 s), so
# start_apiserver waits until kwok acts on pods again instead (_wait_kubelets_acting).
_RESTARTED_ON_RECOVERY = ("kube-controller-manager", "kube-scheduler")
_CANARY = "opscheck-canary"


def start_apiserver(name: str, timeout: float = 60) -> None:
    """Start cluster `name`'s apiserver again (`kwokctl start cluster` starts only the
    processes not running), restart its controller-manager and scheduler, and wait until
    the apiserver serves, the nodes are Ready and kwok runs and removes pods again."""
    t = target(name)
    cluster.kwokctl("start", "cluster", "--name", name, timeout=timeout + 60)
    wait_for(lambda: _api_ready(t.api), timeout, f"{name} kube-apiserver /readyz")
    pids = cluster.component_pids(t)
    for component in _RESTARTED_ON_RECOVERY:
        if component in pids:
            _stop_pid(pids[component], f"{name} {component}", timeout)
    cluster.kwokctl("start", "cluster", "--name", name, timeout=timeout + 60)
    wait_for(lambda: cluster.components_up(t), timeout, f"{name} cluster processes running")
    wait_for(lambda: all(node_ready(n) for n in t.api.list_("Node")), timeout, f"{name} nodes Ready")
    _wait_kubelets_acting(name, timeout)


def _wait_kubelets_acting(name: str, timeout: float) -> None:
    """A bare pod bound to a node (no scheduler, no controller: only kwok acts on it) runs,
    and once deleted, goes: kwok's pod watch is live again."""
    ns, pod, api = cluster.READER_NAMESPACE, _CANARY, target(name).api
    if api.get("Pod", ns, pod) is not None:
        api.delete("Pod", ns, pod, timeout)
    api.request(
        "POST",
        api_path("Pod", ns),
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": pod, "namespace": ns, "labels": {"opscheck.testenv/injected": "true"}},
            "spec": {
                "nodeName": f"{name}-worker-1",
                "tolerations": [{"operator": "Exists"}],
                "containers": [{"name": "canary", "image": "registry.k8s.io/pause:3.10"}],
            },
        },
    )
    wait_for(lambda: pod_ready(api.get("Pod", ns, pod) or {}), timeout, f"{name} canary pod Running")
    api.delete("Pod", ns, pod, timeout)


if __name__ == "__main__":  # python -m testenv.multicluster up|down|status
    up_down_status_cli(up, down, status)
