"""The demo cluster's DNS: a real CoreDNS serving cluster.local from the cluster's API.

kwok runs the kube-system/coredns pods only on paper, so the cluster DNS answers from a
local CoreDNS process (built by testenv/build-binaries.sh from testenv/coredns-build) on
127.0.0.1:PORTS["coredns"] (UDP and TCP). Its kubernetes plugin watches Services,
EndpointSlices and Namespaces through kube-apiserver with the coredns ServiceAccount's
token (ClusterRole system:coredns, manifests/coredns-rbac.yaml), exactly as in-cluster
CoreDNS does, so `<service>.<namespace>.svc.cluster.local` resolves to the Service's
ClusterIP (headless: to its ready endpoints) and a deleted Service stops resolving.

Public API:
    up() / down() / status(); address() -> (host, port); resolve(name) -> list[str]
    fault helpers: stop_server() / start_server()
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

from testenv import cluster, demo, procs
from testenv.kubeapi import api_path
from testenv.paths import HOST, PORTS, cache_dir, state_dir, under

PROC = "coredns"
VERSION = "v1.12.0"  # testenv/coredns-build/go.mod
SERVICE_ACCOUNT = ("kube-system", "coredns")
TOKEN_SECONDS = 365 * 24 * 3600
CLUSTER_DOMAIN = "cluster.local"


def binary() -> Path:
    return cache_dir() / "bin" / f"coredns-{VERSION}" / "coredns"


home = under(state_dir, "coredns")


def address() -> tuple[str, int]:
    return HOST, PORTS["coredns"]


def _corefile() -> str:
    return f"""\
{CLUSTER_DOMAIN}:{PORTS["coredns"]} {{
    bind {HOST}
    errors
    health {HOST}:{PORTS["coredns-health"]}
    kubernetes {CLUSTER_DOMAIN} {{
        kubeconfig {home() / "kubeconfig"} {cluster.CONTEXT}
        pods insecure
        ttl 5
    }}
    cache 5
}}
"""


def _write_kubeconfig() -> None:
    """A kubeconfig with a token of kube-system/coredns (renewed when the cluster's CA or
    the ServiceAccount changed, i.e. after the cluster was recreated)."""
    for obj in demo.load_manifest("coredns-rbac.yaml"):
        cluster.apply(obj)
    ns, name = SERVICE_ACCOUNT
    procs.wait_for(lambda: cluster.get("ServiceAccount", ns, name) is not None, 60, f"ServiceAccount {ns}/{name}")
    sa_uid = cluster.get("ServiceAccount", ns, name)["metadata"]["uid"]
    ca = (cluster.cluster_dir() / "pki" / "ca.crt").read_bytes()
    home().mkdir(parents=True, exist_ok=True)
    path, stamp = home() / "kubeconfig", home() / "kubeconfig.stamp"
    want = f"{sa_uid} {base64.b64encode(ca).decode()[:64]}"
    if path.exists() and stamp.exists() and stamp.read_text() == want:
        return
    token = cluster.request(
        "POST",
        api_path("ServiceAccount", ns, name, "token"),
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": TOKEN_SECONDS},
        },
    )["status"]["token"]
    conf = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster.CONTEXT,
                "cluster": {
                    "server": cluster.server_url(),
                    "certificate-authority-data": base64.b64encode(ca).decode(),
                },
            }
        ],
        "users": [{"name": "coredns", "user": {"token": token}}],
        "contexts": [{"name": cluster.CONTEXT, "context": {"cluster": cluster.CONTEXT, "user": "coredns"}}],
        "current-context": cluster.CONTEXT,
    }
    procs.write_private(path, yaml.safe_dump(conf, sort_keys=False))
    stamp.write_text(want)
    procs.stop(PROC)  # a running CoreDNS holds the old token


def resolve(name: str, timeout: float = 2.0) -> list[str]:
    """A records for `name` through this CoreDNS ([] for NXDOMAIN)."""
    import dns.exception
    import dns.resolver

    r = dns.resolver.Resolver(configure=False)
    r.nameservers, r.port, r.lifetime = [HOST], PORTS["coredns"], timeout
    try:
        return sorted(a.to_text() for a in r.resolve(name, "A"))
    except dns.resolver.NXDOMAIN:
        return []


def _answers() -> bool:
    try:
        return bool(resolve(f"kubernetes.default.svc.{CLUSTER_DOMAIN}", timeout=1))
    except Exception:
        return False


def start_server() -> None:
    if not binary().exists():
        raise RuntimeError(f"missing {binary()} (run testenv/build-binaries.sh first)")
    home().mkdir(parents=True, exist_ok=True)
    corefile = home() / "Corefile"
    text = _corefile()
    if not corefile.exists() or corefile.read_text() != text:
        corefile.write_text(text)
        procs.stop(PROC)
    procs.start(PROC, [str(binary()), "-conf", str(corefile)], cwd=home())
    procs.wait_started(PROC, _answers, 30, f"CoreDNS on {HOST}:{PORTS['coredns']} resolving kubernetes.default")


def stop_server() -> None:
    """Fault: the cluster DNS stops answering."""
    procs.stop(PROC)


def up() -> dict[str, Any]:
    _write_kubeconfig()
    start_server()
    return status()


def down() -> None:
    procs.stop(PROC)


def status() -> dict[str, Any]:
    running = procs.is_running(PROC)
    return {
        "running": running and _answers(),
        "pid": procs.read_pid(PROC),
        "address": "{}:{}".format(*address()),
        "binary": str(binary()),
        "log_file": str(procs.log_file(PROC)),
    }
