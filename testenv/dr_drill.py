"""What the quarterly DR drill (quarterly.dr-drill) restores, made for real.

  * Vault backups: OpenBao's PebbleDB storage has no online snapshot, so the backup is what
    the OpenBao project says to do for it: the server stopped, its data directory packed into
    backups/vault/openbao-<UTC>.tar.gz, the server started and unsealed again (a second or
    two). A new one when the newest is older than BACKUP_EVERY, or older than the drill's
    token (the token must be in the backup to read secrets after the restore).
  * The drill's Vault access: a policy reading secret/data/qsign/* and a token of it
    (vault/dr-drill-token), and the unseal key shares as files (vault/unseal-key-1, -2),
    which the profile names as the key holders' shares (0600).
  * Manifest backups: the qsign namespace's objects exported as `kubectl get -o yaml` would,
    with what the server owns removed (status, uid, resourceVersion, managedFields, ...),
    into backups/manifests/qsign-manifests-<UTC>.yaml.
  * The drill's identity: deploy/rbac/dr-drill.yaml (a ServiceAccount that may get, create
    and patch the exported kinds in qsign; the dry run needs the verbs of the write) and
    kubeconfig-dr-drill with a year-long token for it.

The throwaway OpenBao the drill restores into is started by the check itself on
PORTS["vault-dr-scratch"]. Fault helpers (context managers that own their repair):
corrupt_vault_backup, vault_backups_missing, refused_manifest.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tarfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from testenv import cluster, procs, vault
from testenv.kubeapi import api_version
from testenv.paths import HOST, PORTS, state_dir, under

NAMESPACE = "qsign"
BACKUP_EVERY = timedelta(hours=20)
vault_backup_dir = under(state_dir, "backups", "vault")
manifest_backup_dir = under(state_dir, "backups", "manifests")
token_file = under(state_dir, "vault", "dr-drill-token")
kubeconfig = under(state_dir, "kubeconfig-dr-drill")
bao_link = under(state_dir, "bin", "bao")
RBAC = Path(__file__).resolve().parent.parent / "deploy" / "rbac" / "dr-drill.yaml"
SA = ("opscheck-system", "opscheck-dr-drill")
SCRATCH_ADDRESS = f"http://{HOST}:{PORTS['vault-dr-scratch']}"

POLICY_NAME = "dr-drill"
POLICY = """\
path "secret/data/qsign/*" {
  capabilities = ["read"]
}
"""
# The kinds exported from qsign (deploy/rbac/dr-drill.yaml grants exactly these).
KINDS = ("ConfigMap", "Service", "Deployment", "StatefulSet", "CronJob", "Ingress", "PodDisruptionBudget")
# Written by the server, not part of what is restored.
_SERVER_FIELDS = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink")


def _stamp(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def _newest(directory: Path, pattern: str) -> Path | None:
    found = sorted(directory.glob(pattern), key=lambda p: p.stat().st_mtime) if directory.is_dir() else []
    return found[-1] if found else None


def unseal_key_file(n: int) -> Path:
    return vault.vault_dir() / f"unseal-key-{n}"


# ------------------------------------------------------------------------------ Vault


def ensure_vault_access() -> None:
    """The drill's read policy and token, and the key shares as files."""
    vault.ensure_policy_token(
        POLICY_NAME, POLICY, token_file(), "quarterly DR drill: read qsign secrets after a restore"
    )
    init = vault._init_data()
    for n, key in enumerate((init.get("keys_base64") or init["keys"])[: vault.KEY_THRESHOLD], start=1):
        if not unseal_key_file(n).exists() or unseal_key_file(n).read_text().strip() != key:
            procs.write_private(unseal_key_file(n), key + "\n")


def write_vault_backup() -> Path:
    """Stop OpenBao, pack its data directory, start and unseal it again."""
    vault_backup_dir().mkdir(parents=True, exist_ok=True)
    os.chmod(vault_backup_dir(), 0o700)
    final = vault_backup_dir() / f"openbao-{_stamp(datetime.now(UTC))}.tar.gz"
    partial = final.with_suffix(".partial")
    vault.stop_server()
    try:
        with tarfile.open(partial, "w:gz") as tar:
            for path in sorted(vault.data_dir().iterdir()):
                if path.name != "LOCK":
                    tar.add(path, arcname=path.name)
    finally:
        vault.start_server()
    os.chmod(partial, 0o600)
    os.replace(partial, final)
    return final


def ensure_vault_backup(now: datetime | None = None) -> Path:
    now = now or datetime.now(UTC)
    newest = _newest(vault_backup_dir(), "openbao-*.tar.gz")
    token_made = token_file().stat().st_mtime if token_file().exists() else 0
    if (
        newest is None
        or now - datetime.fromtimestamp(newest.stat().st_mtime, UTC) > BACKUP_EVERY
        or newest.stat().st_mtime < token_made
    ):
        newest = write_vault_backup()
    return newest


# -------------------------------------------------------------------------- manifests


def _exported(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    meta = {k: v for k, v in obj["metadata"].items() if k not in _SERVER_FIELDS}
    annotations = {
        k: v
        for k, v in (meta.get("annotations") or {}).items()
        if k != "kubectl.kubernetes.io/last-applied-configuration"
    }
    meta = (
        {**meta, "annotations": annotations} if annotations else {k: v for k, v in meta.items() if k != "annotations"}
    )
    out = {"apiVersion": api_version(kind), "kind": kind, "metadata": meta}
    out.update({k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata", "status")})
    return out


def write_manifest_backup(extra: list[dict[str, Any]] | None = None) -> Path:
    """The qsign namespace's objects (and `extra` ones) as one multi-document YAML file."""
    api = cluster.DEMO.api
    docs = []
    for kind in KINDS:
        for obj in api.list_(kind, NAMESPACE):
            if kind == "ConfigMap" and obj["metadata"]["name"] == "kube-root-ca.crt":
                continue  # the controller's own, in every namespace
            docs.append(_exported(obj, kind))
    docs.extend(extra or [])
    manifest_backup_dir().mkdir(parents=True, exist_ok=True)
    final = manifest_backup_dir() / f"{NAMESPACE}-manifests-{_stamp(datetime.now(UTC))}.yaml"
    final.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return final


def ensure_manifest_backup(now: datetime | None = None) -> Path:
    now = now or datetime.now(UTC)
    newest = _newest(manifest_backup_dir(), f"{NAMESPACE}-manifests-*.yaml")
    if newest is None or now - datetime.fromtimestamp(newest.stat().st_mtime, UTC) > BACKUP_EVERY:
        newest = write_manifest_backup()
    return newest


def ensure_identity() -> None:
    """deploy/rbac/dr-drill.yaml applied and a kubeconfig with a token of its ServiceAccount."""
    t = cluster.DEMO
    for obj in [d for d in yaml.safe_load_all(RBAC.read_text()) if d]:
        t.api.apply(obj)
    cluster.wait_for(lambda: t.api.get("ServiceAccount", *SA) is not None, 30, "ServiceAccount opscheck-dr-drill")
    # A fresh token and the cluster's current CA at every `up`: a cluster made again (after
    # `make down`) has a new CA, which an old kubeconfig's TLS check refuses.
    tr = t.api.request(
        "POST",
        cluster.api_path("ServiceAccount", SA[0], SA[1], "token"),
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": cluster.READER_TOKEN_SECONDS},
        },
    )
    cluster._write_kubeconfig(t, kubeconfig(), "opscheck-dr-drill", {"token": tr["status"]["token"]})


# ----------------------------------------------------------------------------- public


def ensure_bao_link() -> None:
    """bin/bao -> the venv's `bao`: the profile names the server binary the drill runs."""
    link = bao_link()
    link.parent.mkdir(parents=True, exist_ok=True)
    target = vault.bao_binary()
    if not link.is_symlink() or os.readlink(link) != target:
        link.unlink(missing_ok=True)
        link.symlink_to(target)


def up() -> dict[str, Any]:
    ensure_bao_link()
    ensure_identity()
    ensure_vault_access()
    return {**status(), "vault_backup": str(ensure_vault_backup()), "manifest_backup": str(ensure_manifest_backup())}


def down() -> None:
    """Nothing runs: the backups and the identity stay for the next up()."""


def status() -> dict[str, Any]:
    """ "running": what up() provides is there (nothing of the drill runs between checks)."""
    ready = (
        kubeconfig().exists()
        and token_file().exists()
        and _newest(vault_backup_dir(), "openbao-*.tar.gz") is not None
        and _newest(manifest_backup_dir(), f"{NAMESPACE}-manifests-*.yaml") is not None
    )
    return {
        "running": ready,
        "vault_backups": len(list(vault_backup_dir().glob("openbao-*.tar.gz"))) if vault_backup_dir().is_dir() else 0,
        "manifest_backups": len(list(manifest_backup_dir().glob("*.yaml"))) if manifest_backup_dir().is_dir() else 0,
        "kubeconfig": str(kubeconfig()),
        "scratch_address": SCRATCH_ADDRESS,
    }


# ------------------------------------------------------------------------------ faults


@contextlib.contextmanager
def corrupt_vault_backup() -> Iterator[Path]:
    """The newest Vault backup is a truncated copy of the real one (an interrupted upload)."""
    real = ensure_vault_backup()
    broken = vault_backup_dir() / f"openbao-{_stamp(datetime.now(UTC) + timedelta(seconds=1))}.tar.gz"
    data = real.read_bytes()
    broken.write_bytes(data[: len(data) // 3])
    try:
        yield broken
    finally:
        broken.unlink(missing_ok=True)


@contextlib.contextmanager
def vault_backups_missing() -> Iterator[None]:
    """No Vault backup at all (the directory moved aside)."""
    aside = vault_backup_dir().with_name("vault.aside")
    shutil.rmtree(aside, ignore_errors=True)
    os.replace(vault_backup_dir(), aside)
    try:
        yield
    finally:
        os.replace(aside, vault_backup_dir())


REFUSED_NAME = "dr-drill-refused"


@contextlib.contextmanager
def refused_manifest() -> Iterator[str]:
    """The newest manifest backup holds a Service the API server refuses (an unknown type)."""
    bad = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": REFUSED_NAME, "namespace": NAMESPACE},
        "spec": {"type": "Bogus", "ports": [{"port": 80}]},
    }
    path = write_manifest_backup([bad])
    try:
        yield f"Service {NAMESPACE}/{REFUSED_NAME}"
    finally:
        path.unlink(missing_ok=True)
