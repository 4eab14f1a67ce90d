"""The External Secrets Operator, for real: its controller syncs the demo cluster's
ExternalSecrets from OpenBao through its Vault provider.

The controller (github.com/external-secrets/external-secrets VERSION, built from the Go
module proxy by testenv/build-binaries.sh, with the CRD bundle of the same release) runs
as a host process against the demo cluster's kube-apiserver (admin kubeconfig, leader
election off). It is the root command, which runs the controllers only: no webhook and no
cert-controller, so no admission webhook is registered and the API server accepts what the
CRD schemas allow. What it reads and writes (manifests/external-secrets.yaml):

  * ClusterSecretStore vault-backend: OpenBao (testenv/vault.py) at its address, KV v2 at
    secret/, token auth through Secret external-secrets/vault-token, which holds a token
    of the policy "external-secrets" (read of the synced KV paths only, no root token);
  * ExternalSecret qsign/qsign-db-credentials <- secret/qsign/database: testenv keeps that
    KV secret at the values demo.py gives the Secret before the operator adopts it (the
    canary password included), so the operator's sync changes no value;
  * the operator writes the target Secret and the ExternalSecret's status (Ready,
    SecretSynced / SecretSyncedError, refreshTime), which `daily.externalsecrets` reads.

Public API:
    up() -> dict       build check, CRDs, OpenBao policy/token/KV data, store and
                       ExternalSecrets, start the controller, wait until every
                       ExternalSecret is synced (idempotent; repairs what the fault
                       helpers left)
    down() -> None     stop the controller (the objects go with the cluster)
    status() -> dict
    fault helpers (each waits until the operator has written its verdict):
        remove_vault_secret(path) / restore_vault_secret(path)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from testenv import cluster, demo, procs, vault
from testenv.paths import HOST, PORTS, cache_dir

VERSION = "v0.16.2"  # testenv/build-binaries.sh builds this one
PROC = "external-secrets"
NAMESPACE = "external-secrets"
FIELD_MANAGER = "opscheck-testenv-external-secrets"
GROUP_VERSION = "external-secrets.io/v1"
STORE = "vault-backend"
TOKEN_SECRET = "vault-token"
POLICY_NAME = "external-secrets"
# The annotation `kubectl annotate externalsecret ... force-sync=$(date +%s)` sets (the
# check's remediation): any change of it makes the operator re-read the provider now.
FORCE_SYNC = "force-sync"
TIMEOUT = 60.0


def binary() -> Path:
    return cache_dir() / "bin" / f"external-secrets-{VERSION}" / "external-secrets"


def crds_file() -> Path:
    """deploy/crds/bundle.yaml of the release, copied next to the binary by the build."""
    return binary().parent / "crds.yaml"


def token_file() -> Path:
    return vault.vault_dir() / "external-secrets-token"


def vault_secrets() -> dict[str, dict[str, str]]:
    """What OpenBao's KV v2 mount holds for the ExternalSecrets: path -> data."""
    return {"qsign/database": demo.db_credentials()}


def policy() -> str:
    reads = "".join(
        f'path "{vault.KV_MOUNT}/data/{path}" {{\n  capabilities = ["read"]\n}}\n' for path in vault_secrets()
    )
    # the Vault provider checks its token with a self-lookup before it reads
    return reads + 'path "auth/token/lookup-self" {\n  capabilities = ["read"]\n}\n'


def _manifest() -> list[dict]:
    return demo.load_manifest("external-secrets.yaml", VAULT_ADDR=vault.address())


def external_secrets() -> list[tuple[str, str]]:
    return [(d["metadata"]["namespace"], d["metadata"]["name"]) for d in _manifest() if d["kind"] == "ExternalSecret"]


def _store_path(name: str = STORE) -> str:
    # ClusterSecretStore is no kind testenv's client knows (the checks never read it)
    return f"/apis/{GROUP_VERSION}/clustersecretstores/{name}"


def _store() -> dict | None:
    return cluster.get_path(_store_path())


def _apply(obj: dict) -> dict:
    """Server-side apply under this module's own field manager."""
    if obj["kind"] == "ClusterSecretStore":
        return cluster.request(
            "PATCH",
            _store_path(obj["metadata"]["name"]),
            obj,
            content_type="application/apply-patch+yaml",
            query={"fieldManager": FIELD_MANAGER, "force": "true"},
        )
    return cluster.apply(obj, field_manager=FIELD_MANAGER)


def ready_condition(obj: dict | None) -> dict:
    return next((c for c in ((obj or {}).get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), {})


# --------------------------------------------------------------------------- setup


def _ensure_crds() -> None:
    if not crds_file().exists():
        raise RuntimeError(f"missing {crds_file()} (run testenv/build-binaries.sh first)")
    crds = [d for d in yaml.safe_load_all(crds_file().read_text()) if d]
    cluster.DEMO.api.install_crds(crds, f"external-secrets-{VERSION}", TIMEOUT)
    procs.wait_for(
        lambda: cluster.request("GET", f"/apis/{GROUP_VERSION}/clustersecretstores") is not None,
        TIMEOUT,
        f"{GROUP_VERSION} served",
    )


def _ensure_vault() -> str:
    """The KV data, the read-only policy and its token (the root token only where OpenBao
    needs an administrator: policy, token, writes)."""
    vault.ensure_kv_mount()
    for path, data in vault_secrets().items():
        if vault.kv_get(path) != data:
            vault.kv_put(path, data)
    return vault.ensure_policy_token(POLICY_NAME, policy(), token_file(), "External Secrets Operator (testenv)")


def _ensure_objects(token: str) -> None:
    docs = _manifest()
    for d in docs:
        if d["kind"] == "Namespace":
            _apply(d)
    procs.wait_for(
        lambda: cluster.get("ServiceAccount", NAMESPACE, "default") is not None, TIMEOUT, f"namespace {NAMESPACE}"
    )
    _apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {"name": TOKEN_SECRET, "namespace": NAMESPACE},
            "stringData": {"token": token},
        }
    )
    for d in docs:
        if d["kind"] != "Namespace":
            _apply(d)


# -------------------------------------------------------------------------- process


def _argv() -> list[str]:
    return [
        str(binary()),
        f"--metrics-addr={HOST}:{PORTS['external-secrets-metrics']}",
        "--enable-leader-election=false",
        "--concurrent=1",
        "--loglevel=info",
        "--zap-time-encoding=iso8601",
    ]


def _metrics_url() -> str:
    return f"http://{HOST}:{PORTS['external-secrets-metrics']}/metrics"


def _start_process() -> None:
    if not binary().exists():
        raise RuntimeError(f"missing {binary()} (run testenv/build-binaries.sh first)")
    procs.stop_if_started_otherwise(PROC, _argv())
    # the controller reads its cluster from KUBECONFIG (controller-runtime's config loading)
    procs.start(PROC, _argv(), env={"KUBECONFIG": str(cluster.kubeconfig())})
    procs.wait_started(
        PROC, lambda: procs.http_ok(_metrics_url(), 2), TIMEOUT, f"External Secrets metrics at {_metrics_url()}"
    )


def force_sync(namespace: str, name: str) -> None:
    """`kubectl annotate externalsecret ... force-sync=$(date +%s) --overwrite`."""
    cluster.patch("ExternalSecret", namespace, name, {"metadata": {"annotations": {FORCE_SYNC: str(time.time_ns())}}})


def _wait_ready(namespace: str, name: str, want: str, reason: str, timeout: float = TIMEOUT) -> dict:
    def verdict() -> bool:
        cond = ready_condition(cluster.get("ExternalSecret", namespace, name))
        return cond.get("status") == want and cond.get("reason") == reason

    procs.wait_started(
        PROC, verdict, timeout, f"ExternalSecret {namespace}/{name} Ready={want} ({reason})", label="external-secrets"
    )
    return cluster.get("ExternalSecret", namespace, name)


# ------------------------------------------------------------------------ lifecycle


def up() -> dict[str, Any]:
    t0 = time.monotonic()
    _ensure_crds()
    _ensure_objects(_ensure_vault())
    _start_process()
    if ready_condition(_store()).get("status") == "False":  # e.g. OpenBao was sealed a while
        # its failed validations back off for minutes: any change of the store re-validates now
        cluster.request(
            "PATCH",
            _store_path(),
            {"metadata": {"annotations": {FORCE_SYNC: str(time.time_ns())}}},
            content_type="application/merge-patch+json",
        )
    procs.wait_started(
        PROC,
        lambda: ready_condition(_store()).get("status") == "True",
        TIMEOUT,
        f"ClusterSecretStore {STORE} Ready",
    )
    for ns, name in external_secrets():
        if ready_condition(cluster.get("ExternalSecret", ns, name)).get("status") != "True":
            force_sync(ns, name)  # a fault's failed sync backs off for minutes: re-read now
        _wait_ready(ns, name, "True", "SecretSynced")
        _forget_warnings(ns, name)
    info = status()
    info["up_seconds"] = round(time.monotonic() - t0, 1)
    return info


def down() -> None:
    procs.stop(PROC)


def status() -> dict[str, Any]:
    running = procs.is_running(PROC)
    info: dict[str, Any] = {
        "running": False,
        "pid": procs.read_pid(PROC),
        "version": VERSION,
        "binary": str(binary()),
        "metrics": _metrics_url(),
        "log_file": str(procs.log_file(PROC)),
    }
    if not running:
        return info
    try:
        store = ready_condition(_store())
        info["store_ready"] = store.get("status") == "True"
        info["external_secrets"] = {
            f"{ns}/{name}": ready_condition(cluster.get("ExternalSecret", ns, name)).get("reason")
            for ns, name in external_secrets()
        }
    except Exception as exc:  # the cluster is down
        info["error"] = str(exc)
        return info
    info["running"] = info["store_ready"] and procs.http_ok(_metrics_url(), 2)
    return info


# ----------------------------------------------------------------------------- faults


def _external_secrets_reading(path: str) -> list[tuple[str, str]]:
    return [
        (d["metadata"]["namespace"], d["metadata"]["name"])
        for d in _manifest()
        if d["kind"] == "ExternalSecret" and any(x["remoteRef"]["key"] == path for x in d["spec"]["data"])
    ]


def remove_vault_secret(path: str) -> list[dict]:
    """Fault: `vault kv delete secret/<path>`; the ExternalSecrets reading it are
    re-read now (force-sync) and the operator marks them Ready=False, SecretSyncedError
    (their target Secrets stay: deletionPolicy Retain). Returns them."""
    vault.kv_delete(path)
    readers = _external_secrets_reading(path)
    for ns, name in readers:
        force_sync(ns, name)
    return [_wait_ready(ns, name, "False", "SecretSyncedError") for ns, name in readers]


def restore_vault_secret(path: str) -> list[dict]:
    """Repair: write the secret back (a new version) and force a re-read, as the check's
    remediation says; waits until the operator reports SecretSynced again."""
    vault.kv_put(path, vault_secrets()[path])
    readers = _external_secrets_reading(path)
    for ns, name in readers:
        force_sync(ns, name)
    synced = [_wait_ready(ns, name, "True", "SecretSynced") for ns, name in readers]
    for ns, name in readers:
        _forget_warnings(ns, name)
    return synced


def _forget_warnings(namespace: str, name: str) -> None:
    """The operator's Warning events of a failed sync (a fault's, or the start-up's before
    the store was ready) would stay an hour, failing the daily warning-events check of
    every run after the repair: once synced again they go."""
    cluster.delete_events_of(namespace, "ExternalSecret", name)


if __name__ == "__main__":  # python -m testenv.external_secrets up|down|status
    procs.up_down_status_cli(up, down, status)
