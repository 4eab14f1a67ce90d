"""The quarterly DR drill's Vault and manifest restores (the database restores through
opscheck/sources/restore_drill.py).

Vault: OpenBao's PebbleDB storage has no online snapshot (no `bao operator raft snapshot`
outside raft; the OpenBao project says the data directory is copied with the server
stopped), so a Vault backup here is a tar.gz of that data directory. The closest real
restore is to serve that storage again: it is unpacked into a temporary directory, a
throwaway `bao server` serves it on the profile's scratch address (loopback only, never the
monitored Vault's), is unsealed with the key shares the profile names, and must answer the
listed secret paths with the drill's token; then it is stopped and the copy deleted. With
raft storage the same step would POST the snapshot to a scratch server instead.

Manifests: every object of the newest manifest backup is sent as a server-side apply with
dryRun=All: the API server decodes, defaults, validates and admits it (admission webhooks
included) and persists nothing. Kubernetes authorises a dry run like the write it
simulates, so it runs as an identity of its own, never the read-only one.
"""

from __future__ import annotations

import socket
import subprocess
import tarfile
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
import yaml
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import DynamicApiError, ResourceNotFoundError

from opscheck.errors import DependencyError, ProfileError
from opscheck.profile import BackupFiles, ManifestRestore, VaultRestore, expand_path
from opscheck.sources.dumps import DumpFile, list_dumps
from opscheck.sources.kube import UNREAD_METADATA
from opscheck.sources.restore_drill import DrillResult, local_copy

FIELD_MANAGER = "opscheck-dr-drill"
HTTP_TIMEOUT = 5.0


@dataclass
class StepResult:
    """One restore of the drill: what it restored, from which backup, how long, what went wrong."""

    step: str
    restored: str = ""
    backup: DumpFile | None = None
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)  # per secret path or object


def newest_backup(host: Any, host_name: str, backups: BackupFiles) -> DumpFile | None:
    """The newest file of `backups` on the host, None when there is none (or no directory)."""
    found = list_dumps(host, host_name, backups.path, backups.pattern)
    return found[-1] if found else None


# ------------------------------------------------------------------------------ Vault


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _unpack(archive: Path, target: Path) -> str | None:
    """Unpack the storage copy; the problem when it is not a readable archive of one."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(target, filter="data")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        return f"is not a readable tar.gz of OpenBao's storage ({exc})"
    if not (target / "CURRENT").is_file():
        return "holds no PebbleDB storage (no CURRENT file at its top)"
    return None


def _server_config(storage: Path, address: str) -> str:
    netloc = urlsplit(address).netloc
    return (
        f'storage "pebbledb" {{\n  path = "{storage}"\n}}\n'
        f'listener "tcp" {{\n  address = "{netloc}"\n  tls_disable = true\n}}\n'
        f'api_addr = "{address}"\nlog_level = "warn"\n'
    )


def _last_line(log: Path) -> str:
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


class _ScratchBao:
    """A throwaway `bao server` over a copy of the storage, always stopped on exit."""

    def __init__(self, cfg: VaultRestore, storage: Path, workdir: Path) -> None:
        self.cfg = cfg
        self.address = cfg.scratch_address.rstrip("/")
        self.log = workdir / "bao.log"
        config = workdir / "scratch.hcl"
        config.write_text(_server_config(storage, self.address))
        parts = urlsplit(self.address)
        if _listening(parts.hostname or "127.0.0.1", parts.port or 8200):
            raise ProfileError(
                f"dr_drill.vault.scratch_address: something already listens on {self.address}; "
                "the drill starts its own throwaway OpenBao there"
            )
        with self.log.open("wb") as out:
            try:
                self.proc = subprocess.Popen(
                    [cfg.bao_command, "server", f"-config={config}"],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=workdir,
                    start_new_session=True,
                )
            except OSError as exc:
                raise DependencyError(f"dr_drill.vault.bao: cannot run {cfg.bao_command}: {exc.strerror}") from None

    def api(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = {"X-Vault-Token": token} if token else {}
        return requests.request(method, f"{self.address}/v1/{path}", headers=headers, timeout=HTTP_TIMEOUT, **kwargs)

    def wait(self, ready: Any, seconds: float) -> bool:
        """Poll `ready()` until true, the process exits, or `seconds` pass."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if ready():
                    return True
            except requests.RequestException:
                pass
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def restore_vault(cfg: VaultRestore, host: Any, backup: DumpFile, result: StepResult) -> None:
    """Serve the backed-up storage with a throwaway OpenBao, unseal it, read the secret paths
    (timed from fetching the backup to the last read)."""
    _timed(_restore_vault, cfg, host, backup, result)


def _timed(step: Any, cfg: Any, host: Any, backup: DumpFile, result: StepResult) -> None:
    """Run a restore step; its seconds, failed or not, are the step's time."""
    start = time.monotonic()
    try:
        step(cfg, host, backup, result)
    finally:
        result.seconds = time.monotonic() - start


def _restore_vault(cfg: VaultRestore, host: Any, backup: DumpFile, result: StepResult) -> None:
    with tempfile.TemporaryDirectory(prefix="opscheck-dr-vault-") as tmp:
        workdir = Path(tmp)
        storage = workdir / "data"
        archive = local_copy(host, backup, workdir, "DR drill (Vault)")
        problem = _unpack(archive, storage)
        if problem:
            result.problems.append(f"backup {backup.name} {problem}")
            return
        scratch = _ScratchBao(cfg, storage, workdir)
        try:
            _unseal_and_read(scratch, cfg, backup, result)
        finally:
            scratch.stop()


def _unseal_and_read(scratch: _ScratchBao, cfg: VaultRestore, backup: DumpFile, result: StepResult) -> None:
    if not scratch.wait(lambda: scratch.api("GET", "sys/seal-status").status_code == 200, cfg.start_timeout_seconds):
        exited = scratch.proc.poll() is not None
        result.problems.append(
            f"OpenBao did not start on the storage of {backup.name}"
            f" ({'exited' if exited else f'no answer in {cfg.start_timeout_seconds:g} s'}: {_last_line(scratch.log)})"
        )
        return
    status = scratch.api("GET", "sys/seal-status").json()
    if not status.get("initialized"):
        result.problems.append(f"the storage of {backup.name} is not an initialised OpenBao")
        return
    for key in cfg.unseal_keys:
        if not status.get("sealed"):
            break
        answer = scratch.api("PUT", "sys/unseal", json={"key": key.read()})
        if answer.status_code != 200:
            errors = "; ".join(answer.json().get("errors", [])) if answer.content else answer.reason
            result.problems.append(f"unsealing the restored OpenBao failed: {errors}")
            return
        status = answer.json()
    if status.get("sealed"):
        result.problems.append(
            f"the restored OpenBao is still sealed after {len(cfg.unseal_keys)} key shares "
            f"(threshold {status.get('t')})"
        )
        return
    if not scratch.wait(lambda: scratch.api("GET", "sys/health").status_code == 200, cfg.start_timeout_seconds):
        result.problems.append(f"the restored OpenBao did not become active: {_last_line(scratch.log)}")
        return
    token = cfg.token.read()
    for path in cfg.secret_paths:
        answer = scratch.api("GET", path.strip("/"), token)
        data = (answer.json().get("data") or {}) if answer.status_code == 200 else {}
        keys = sorted((data.get("data") if isinstance(data.get("data"), dict) else data) or {})
        readable = answer.status_code == 200 and bool(keys)
        result.rows.append({"object": path, "status": answer.status_code, "keys": len(keys)})
        if not readable:
            why = (
                "missing"
                if answer.status_code == 404
                else f"HTTP {answer.status_code}"
                if answer.status_code != 200
                else "empty"
            )
            result.problems.append(f"secret {path} {why} after the restore")


# -------------------------------------------------------------------------- manifests


def _documents(text: str) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for doc in yaml.safe_load_all(text):
        if not doc:
            continue
        if not isinstance(doc, dict):
            raise ValueError(f"a document is a {type(doc).__name__}, not an object")
        objects.extend(doc.get("items") or [] if str(doc.get("kind", "")).endswith("List") else [doc])
    return objects


def _refusal(exc: Exception) -> str:
    body = getattr(exc, "body", None) or ""
    try:
        message = yaml.safe_load(body).get("message", "") if body else ""
    except (yaml.YAMLError, AttributeError):
        message = ""
    status = getattr(exc, "status", "")
    return f"HTTP {status} {message or getattr(exc, 'reason', '') or exc}".strip()


def dry_run_manifests(cfg: ManifestRestore, host: Any, backup: DumpFile, result: StepResult) -> None:
    """Server-side apply of every object in the backup with dryRun=All; a row per object
    (timed from fetching the backup to the last answer)."""
    _timed(_dry_run_manifests, cfg, host, backup, result)


# What the API server assigns when it creates an object: a restore leaves them out (as
# Velero's restore does), else a Service exported from another cluster is refused for its
# clusterIP ("may not change once set").
_ASSIGNED_METADATA = ("uid", "creationTimestamp", "generation", *UNREAD_METADATA)


def restorable(obj: dict[str, Any]) -> dict[str, Any]:
    """`obj` as a restore sends it: without its status and the fields the server assigns."""
    obj = {k: v for k, v in obj.items() if k != "status"}
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _ASSIGNED_METADATA}
    obj["metadata"] = meta
    if obj.get("kind") == "Service" and isinstance(obj.get("spec"), dict):
        spec = dict(obj["spec"])
        if spec.get("clusterIP") != "None":  # headless stays headless
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
        obj["spec"] = spec
    return obj


def _dry_run_manifests(cfg: ManifestRestore, host: Any, backup: DumpFile, result: StepResult) -> None:
    with tempfile.TemporaryDirectory(prefix="opscheck-dr-manifests-") as tmp:
        text = local_copy(host, backup, Path(tmp), "DR drill (manifests)").read_text(errors="replace")
    try:
        objects = _documents(text)
    except (yaml.YAMLError, ValueError) as exc:
        result.problems.append(f"backup {backup.name} is not readable YAML: {str(exc).splitlines()[0]}")
        return
    if not objects:
        result.problems.append(f"backup {backup.name} holds no objects")
        return
    try:
        api = k8s_config.new_client_from_config(config_file=str(expand_path(cfg.kubeconfig)), context=cfg.context)
        dynamic = DynamicClient(api)
    except (k8s_config.ConfigException, OSError) as exc:
        raise ProfileError(f"dr_drill.manifests.kubeconfig: {exc}") from None
    except (ApiException, DynamicApiError, urllib3.exceptions.HTTPError) as exc:
        raise DependencyError(f"DR drill (manifests): API discovery failed: {_refusal(exc)}") from None
    for obj in map(restorable, objects):
        meta = obj.get("metadata") or {}
        name = f"{obj.get('kind')} {meta.get('namespace', '') + '/' if meta.get('namespace') else ''}{meta.get('name')}"
        verdict = "admitted"
        try:
            resource = dynamic.resources.get(api_version=obj.get("apiVersion"), kind=obj.get("kind"))
            dynamic.server_side_apply(
                resource,
                body=obj,
                field_manager=FIELD_MANAGER,
                force_conflicts=True,
                dry_run="All",
                _request_timeout=cfg.timeout_seconds,
            )
        except ResourceNotFoundError:
            verdict = f"refused: {obj.get('apiVersion')} {obj.get('kind')} is not served"
        except (ApiException, DynamicApiError, ValueError) as exc:
            verdict = f"refused: {_refusal(exc)}"
        result.rows.append({"object": name, "result": verdict})
        if verdict != "admitted":
            result.problems.append(f"{name} {verdict}")


# ------------------------------------------------------------------------------ steps


def restore_newest(
    step: str, what: str, host: Any, host_name: str, backups: BackupFiles, restore: Any, cfg: Any
) -> StepResult:
    """The step's newest backup on the host restored with `restore(cfg, host, backup, result)`;
    a problem naming the directory when there is no backup."""
    result = StepResult(step, what)
    result.backup = newest_backup(host, host_name, backups)
    if result.backup is None:
        result.problems.append(f"no backup ({backups.pattern}) in {host_name}:{backups.path}")
        return result
    restore(cfg, host, result.backup, result)
    return result


def vault_step(cfg: VaultRestore, host: Any, host_name: str) -> StepResult:
    what = f"OpenBao storage into a throwaway server at {cfg.scratch_address}"
    return restore_newest("vault", what, host, host_name, cfg.backups, restore_vault, cfg)


def manifests_step(cfg: ManifestRestore, host: Any, host_name: str) -> StepResult:
    what = "manifests, server-side apply with dryRun=All"
    return restore_newest("manifests", what, host, host_name, cfg.backups, dry_run_manifests, cfg)


def database_step(drilled: DrillResult | None, where: str, scratch: str) -> StepResult:
    """The restore drill's result (opscheck/sources/restore_drill.py) as the database step;
    None: there was no dump in `where` to restore."""
    result = StepResult("database", f"newest dump into the scratch database {scratch}")
    if drilled is None:
        result.problems.append(f"no dump to restore in {where}")
        return result
    result.backup, result.seconds = drilled.dump, drilled.seconds
    result.problems.extend(drilled.problems)
    result.rows.extend(drilled.counts)
    return result
