"""The demo objects: what `testenv.cluster.up()` applies to the demo cluster, and how to
tell they are healthy.

The QSIGN system (namespace qsign: api-server, signature-service, hsm-adapter,
postgresql, vault, their backups, Services, Ingress, TLS Secrets, statically provisioned
volumes) and kube-system (CoreDNS, metrics-server's Deployment record), from
manifests/qsign.yaml, qsign-volumes.yaml and kube-system.yaml. Every function takes the
KubeApi of the cluster to act on.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

import yaml

from testenv import certs, cronjobs
from testenv.kubeapi import KubeApi
from testenv.paths import HOST, state_dir, under
from testenv.procs import wait_for
from testenv.readiness import (
    FAULT_LABEL,
    all_pods_settled,
    deployment_done,
    endpoints_ready,
    running_pods_measured,
    statefulset_done,
)

MANIFESTS = Path(__file__).resolve().parent / "manifests"
NAMESPACE = "qsign"
NODES = ("kwok-node-0", "kwok-node-1", "kwok-node-2")
DEPLOYMENTS = ("api-server", "signature-service", "hsm-adapter")
STATEFULSETS = ("postgresql", "vault")
CRONJOBS = ("postgresql-backup", "vault-backup")
WORKLOAD_NAMESPACES = (NAMESPACE, "kube-system")
TLS_SECRETS = {"api-server-tls": ("api-server", ["qsign.local"]), "signature-service-tls": ("signature-service", [])}
LOG_CONTAINERS = ("api-server", "signature-service", "hsm-adapter")
VOLUME_CLAIMS = ("data-postgresql-0", "data-postgresql-1")
INJECTED_SELECTOR = f"{cronjobs.INJECTED_LABEL}=true"


def load_manifest(name: str, **subst: str) -> list[dict]:
    """The documents of manifests/<name>, with ${KEY} replaced by subst[KEY]."""
    text = (MANIFESTS / name).read_text()
    for key, value in subst.items():
        text = text.replace("${" + key + "}", value)
    return [d for d in yaml.safe_load_all(text) if d]


canary_file = under(state_dir, "canary")


def canary() -> str:
    """The canary password (state_dir()/canary), generated once: CANARY-<hex>."""
    f = canary_file()
    f.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as out:
            out.write(f"CANARY-{secrets.token_hex(16)}\n")
    value = f.read_text().strip()
    if not value:
        raise RuntimeError(f"{f} is empty")
    return value


def tls_secret(name: str, namespace: str = NAMESPACE, days_valid: int = 365) -> tuple[dict, certs.KeyPair]:
    """A TLS Secret with a new real certificate for the service the Secret belongs to."""
    service, extra = TLS_SECRETS.get(name, (name.removesuffix("-tls"), []))
    pair = certs.service_cert(service, namespace, days_valid=days_valid, extra_sans=extra)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app": service, "app.kubernetes.io/part-of": "qsign"},
        },
        "data": {k: base64.b64encode(v).decode() for k, v in certs.tls_secret_data(pair).items()},
    }
    return secret, pair


def secret_cert_days_left(secret: dict | None) -> float | None:
    from cryptography import x509

    try:
        pem = base64.b64decode(secret["data"]["tls.crt"])
        cert = x509.load_pem_x509_certificate(pem)
    except Exception:
        return None
    return (cert.not_valid_after_utc - dt.datetime.now(dt.UTC)).total_seconds() / 86400


def ensure_secrets(api: KubeApi) -> None:
    for name in TLS_SECRETS:
        left = secret_cert_days_left(api.get("Secret", NAMESPACE, name))
        if left is None or left < 300:  # missing, or a short-lived one
            api.apply(tls_secret(name)[0])
    api.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {
                "name": "qsign-db-credentials",
                "namespace": NAMESPACE,
                "labels": {"app.kubernetes.io/part-of": "qsign"},
            },
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in db_credentials().items()},
        }
    )


def db_credentials() -> dict[str, str]:
    """QSIGN's database credentials: Secret qsign-db-credentials, and the OpenBao KV secret
    the External Secrets operator syncs into it (testenv/external_secrets.py)."""
    return {"username": "qsign", "password": canary(), "database": "qsign"}


def ensure_volumes(api: KubeApi) -> None:
    """The statically provisioned PVs, each pre-bound to its claim. A PV whose claim was
    deleted (e.g. with the namespace) is Released and still names the old claim's uid,
    so no new claim of that name could bind it: it is made Available for that name again,
    as an administrator would (its data stays: reclaim policy Retain)."""
    vols = state_dir() / "volumes"
    vols.mkdir(parents=True, exist_ok=True)
    for pv in load_manifest("qsign-volumes.yaml", VOLUMES=str(vols)):
        Path(pv["spec"]["hostPath"]["path"]).mkdir(parents=True, exist_ok=True)
        existing = api.create_if_missing(pv)
        ref = existing["spec"].get("claimRef") or {}
        if ref.get("uid") and _claim_uid(api, ref) != ref["uid"]:
            api.patch(
                "PersistentVolume",
                None,
                pv["metadata"]["name"],
                [{"op": "replace", "path": "/spec/claimRef", "value": pv["spec"]["claimRef"]}],
                kind_of_patch="json",
            )


def _claim_uid(api: KubeApi, ref: dict) -> str | None:
    claim = api.get("PersistentVolumeClaim", ref.get("namespace"), ref.get("name", ""))
    return claim["metadata"]["uid"] if claim else None


def apply_qsign(api: KubeApi) -> list[dict]:
    docs = load_manifest("qsign.yaml")
    for d in docs:
        if d["kind"] == "Namespace":
            api.apply(d)
    # ServiceAccount admission needs the namespace's default SA before any pod is made
    wait_for(lambda: api.get("ServiceAccount", NAMESPACE, "default") is not None, 60, "ServiceAccount qsign/default")
    for d in docs:
        if d["kind"] in ("StorageClass", "IngressClass", "ConfigMap"):
            api.apply(d)
    ensure_secrets(api)
    ensure_volumes(api)
    for d in docs:
        if d["kind"] == "PersistentVolumeClaim":
            api.create_if_missing(d)
    wait_for(
        lambda: all(
            (api.get("PersistentVolumeClaim", NAMESPACE, c) or {}).get("status", {}).get("phase") == "Bound"
            for c in VOLUME_CLAIMS
        ),
        90,
        "PVCs data-postgresql-0/1 Bound",
    )
    for d in docs:
        if d["kind"] not in ("Namespace", "StorageClass", "IngressClass", "ConfigMap", "PersistentVolumeClaim"):
            api.apply(d)
    publish_load_balancers(api)
    return docs


def apply_kube_system(api: KubeApi) -> None:
    for d in load_manifest("kube-system.yaml"):
        api.apply(d)


def publish_load_balancers(api: KubeApi, namespace: str = NAMESPACE) -> None:
    # Nothing in this cluster implements Services of type LoadBalancer or Ingresses (no
    # cloud controller, no ingress controller), so their status would stay empty. The test
    # environment plays both here: it writes status.loadBalancer itself, through the
    # status subresource, as a cloud LB controller / ingress-nginx would.
    lb = {"status": {"loadBalancer": {"ingress": [{"ip": HOST, "ipMode": "VIP"}]}}}
    for svc in api.list_("Service", namespace):
        if svc["spec"].get("type") == "LoadBalancer" and not (svc.get("status", {}).get("loadBalancer") or {}).get(
            "ingress"
        ):
            api.patch("Service", namespace, svc["metadata"]["name"], lb, sub="status")
    for ing in api.list_("Ingress", namespace):
        if not (ing.get("status", {}).get("loadBalancer") or {}).get("ingress"):
            api.patch(
                "Ingress",
                namespace,
                ing["metadata"]["name"],
                {"status": {"loadBalancer": {"ingress": [{"ip": HOST}]}}},
                sub="status",
            )


def remove_template_faults(api: KubeApi, namespaces: Iterable[str] = WORKLOAD_NAMESPACES) -> None:
    """The manifests' pod templates have no fault label: take away one a killed test left
    (server-side apply keeps it, as another field manager set it)."""
    for ns in namespaces:
        for kind in ("Deployment", "StatefulSet"):
            for obj in api.list_(kind, ns):
                if FAULT_LABEL in (obj["spec"]["template"]["metadata"].get("labels") or {}):
                    api.patch(
                        kind,
                        ns,
                        obj["metadata"]["name"],
                        [{"op": "remove", "path": "/spec/template/metadata/labels/" + FAULT_LABEL.replace("/", "~1")}],
                        kind_of_patch="json",
                    )


def remove_injected(api: KubeApi, namespace: str = NAMESPACE) -> None:
    """Objects no manifest has (a fault's Pending PVC, Event, failed Job, labelled
    opscheck.testenv/injected=true) that a killed test left."""
    for kind in ("PersistentVolumeClaim", "Event", "Job"):
        for obj in api.list_(kind, namespace, INJECTED_SELECTOR):
            api.delete(kind, namespace, obj["metadata"]["name"])


def ensure_backup_jobs(api: KubeApi) -> None:
    for name in CRONJOBS:
        cronjobs.ensure_last_run_succeeded(api, NAMESPACE, name)


def wait_healthy(api: KubeApi, timeout: float = 180) -> None:
    wait_for(
        lambda: all(deployment_done(d) for ns in WORKLOAD_NAMESPACES for d in api.list_("Deployment", ns)),
        timeout,
        "Deployments in qsign and kube-system available",
    )
    wait_for(
        lambda: all(statefulset_done(s) for s in api.list_("StatefulSet", NAMESPACE)),
        timeout,
        "qsign StatefulSets ready",
    )
    wait_for(
        lambda: all_pods_settled(api, NAMESPACE) and all_pods_settled(api, "kube-system"),
        timeout,
        "pods in qsign and kube-system Running/Ready (or Succeeded)",
    )
    services = [s["metadata"]["name"] for s in api.list_("Service", NAMESPACE)]
    wait_for(lambda: all(endpoints_ready(api, NAMESPACE, s) for s in services), timeout, "qsign Endpoints ready")


def wait_metrics(api: KubeApi, timeout: float = 120) -> None:
    def ok() -> bool:
        nodes = {m["metadata"]["name"] for m in api.metrics_nodes()}
        if not set(NODES) <= nodes:
            return False
        return running_pods_measured(api, NAMESPACE)

    wait_for(ok, timeout, "metrics API serving node and qsign pod usage", interval=1)


def baseline_usage(namespace: str, deployment: str) -> tuple[str, str]:
    """The usage annotations of a Deployment's template as the manifests have them."""
    for name in ("qsign.yaml", "kube-system.yaml"):
        for d in load_manifest(name):
            if (
                d["kind"] == "Deployment"
                and d["metadata"]["name"] == deployment
                and d["metadata"].get("namespace") == namespace
            ):
                ann = d["spec"]["template"]["metadata"].get("annotations") or {}
                return ann.get("kwok.x-k8s.io/usage-cpu", "1m"), ann.get("kwok.x-k8s.io/usage-memory", "16Mi")
    return "1m", "16Mi"
