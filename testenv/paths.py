"""Where the test environment keeps its state, and the loopback ports it uses.

State lives outside the repository (it holds keys, tokens and data directories) and is
shared by the demo and the self-tests: `python -m testenv up` is idempotent.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

HOST = "127.0.0.1"


def state_dir() -> Path:
    default = Path.home() / ".local" / "state" / "opscheck" / "testenv"
    return Path(os.environ.get("OPSCHECK_TESTENV_HOME", default))


def cache_dir() -> Path:
    return Path(os.environ.get("OPSCHECK_CACHE", Path.home() / ".cache" / "opscheck"))


def under(base: Callable[[], Path], *parts: str) -> Callable[[], Path]:
    """The getter of base()/parts. Resolved at each call, not at import: the state
    directory follows OPSCHECK_TESTENV_HOME, which a self-test may set later."""
    return lambda: base().joinpath(*parts)


def local_url(port_name: str) -> Callable[[], str]:
    """The getter of the loopback URL a test-environment server answers on (PORTS[port_name])."""
    return lambda: f"http://{HOST}:{PORTS[port_name]}"


# One place for every port, so profiles, scrape configs and self-tests agree.
PORTS = {
    "kube-apiserver": 16443,
    "postgres": 15432,
    "vault": 18200,
    "prometheus": 19090,
    "node-exporter": 19100,
    "volume-exporter": 19101,
    "api-server": 18081,
    "signature-service": 18082,
    "hsm-adapter": 18083,
    "external-secrets-metrics": 18084,  # the External Secrets operator (testenv/external_secrets.py)
    "pushgateway": 19091,
    "alertmanager": 19093,
    "alert-webhook": 19094,  # Alertmanager's receiver (testenv/webhook_sink.py)
    # The SmartSensor (002) and Titanium (003) systems: one process serves their HTTP
    # endpoints (testenv/systems_app.py); Redis for SmartSensor; CoreDNS serving the demo
    # cluster's Services (testenv/coredns.py).
    "smartsensor-api": 18091,
    "smartsensor-web": 18092,
    "titanium-gateway": 18093,
    "titanium-user-service": 18094,
    "redis": 16379,
    # SmartSensor's log store (testenv/search.py, OpenSearch); -past: the short-lived node
    # that writes the 45-days-old snapshot once.
    "opensearch": 19200,
    "opensearch-transport": 19300,
    "opensearch-past": 19201,
    "opensearch-past-transport": 19301,
    "coredns": 15353,
    "coredns-health": 15354,
    # The demo cluster's cert-manager controller (testenv/security.py).
    "cert-manager-metrics": 19402,
    "cert-manager-healthz": 19403,
    # The demo cluster's Velero server and the S3 endpoint it backs up to (testenv/velero.py).
    "velero-metrics": 18085,
    "velero-s3": 19095,
    # The multi-cluster system (mgmt, app1, app2): one kube-apiserver each.
    "kube-apiserver-mgmt": 16444,
    "kube-apiserver-app1": 16445,
    "kube-apiserver-app2": 16446,
    # ... and their other processes, fixed (kwokctl would pick free ports from 32767 down,
    # where the demo cluster's are): etcd client/peer, controller-manager, scheduler,
    # kwok-controller (the nodes' kubelet endpoint), metrics-server.
    "etcd-mgmt": 16510,
    "etcd-peer-mgmt": 16511,
    "kube-controller-manager-mgmt": 16512,
    "kube-scheduler-mgmt": 16513,
    "kwok-controller-mgmt": 16514,
    "metrics-server-mgmt": 16515,
    "etcd-app1": 16520,
    "etcd-peer-app1": 16521,
    "kube-controller-manager-app1": 16522,
    "kube-scheduler-app1": 16523,
    "kwok-controller-app1": 16524,
    "metrics-server-app1": 16525,
    "etcd-app2": 16530,
    "etcd-peer-app2": 16531,
    "kube-controller-manager-app2": 16532,
    "kube-scheduler-app2": 16533,
    "kwok-controller-app2": 16534,
    "metrics-server-app2": 16535,
    # The empty world (testenv/empty_world.py): servers that answer and hold nothing.
    "kube-apiserver-empty": 16447,
    "etcd-empty": 16540,
    "etcd-peer-empty": 16541,
    "kube-controller-manager-empty": 16542,
    "kube-scheduler-empty": 16543,
    "kwok-controller-empty": 16544,
    "metrics-server-empty": 16545,
    "prometheus-empty": 19190,
    "vault-empty": 18290,
    # The quarterly DR drill's throwaway OpenBao (opscheck starts it; testenv/dr_drill.py).
    "vault-dr-scratch": 18280,
    "redis-empty": 16389,
    "http-empty": 18299,
}
