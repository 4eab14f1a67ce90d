"""Backups the checks judge: CronJob runs, database dump files, etcd snapshots, and the
quarterly DR drill that restores the newest of them."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from opscheck.profile.common import SecretRef, Strict, expand_path


class CronJobBackup(Strict):
    namespace: str
    name: str
    max_age_hours: Annotated[float, Field(gt=0)] | None = None  # default: thresholds.backup_max_age_hours
    # The weekly history (runbook 003 데이터베이스 백업 확인): every schedule fire of the last
    # N days has a successful Job; unset: the CronJob's history is not read.
    history_days: Annotated[int, Field(gt=0)] | None = None


class Backups(Strict):
    postgres_cronjob: CronJobBackup | None = None
    vault_cronjob: CronJobBackup | None = None


class HostDirectory(Strict):
    """Files in a `directory` on the hosts with a role. Each subclass declares the
    `directory` field itself: its own default, its own place among its fields."""

    @property
    def path(self) -> str:
        """The directory with `${VAR}` and ~ expanded (where opscheck runs)."""
        return str(expand_path(self.directory))

    def path_on(self, host: str) -> str:
        """The directory on `host`: `{host}` in it is the host's name (hosts that share one
        machine, as the test environment's control-plane hosts do, each keep their own)."""
        return self.path.replace("{host}", host)


class DumpFiles(HostDirectory):
    """Database dump files on the hosts with `host_role` (002 PostgreSQL backup script)."""

    host_role: str = "backup"
    directory: str
    pattern: str = "*.dump"
    retention_days: Annotated[float, Field(gt=0)] = 30
    max_age_hours: Annotated[float, Field(gt=0)] | None = None  # default: thresholds.backup_max_age_hours
    min_size_bytes: Annotated[int, Field(ge=1)] = 1
    # Weekly: a dump in every stretch of max_age_hours over the last history_days.
    history_days: Annotated[int, Field(ge=1)] = 7
    # Predeploy: how fresh the verified dump must be (default: max_age_hours).
    verified_max_age_hours: Annotated[float, Field(gt=0)] | None = None
    # pg_restore on the backup host, used to read archives through (never to restore there).
    pg_restore: str = "pg_restore"
    verify_timeout_minutes: Annotated[float, Field(gt=0)] = 30


class EtcdBackups(HostDirectory):
    """etcd snapshot files on the hosts with `host_role` (004 etcd-snapshot.sh), read with
    testinfra; `etcdutl snapshot status` runs on the host (read-only) to validate them."""

    host_role: str = "control-plane"
    directory: str = "/var/backups/etcd"
    pattern: str = "etcd-snapshot-*.db"
    max_age_hours: Annotated[float, Field(gt=0)] = 24
    retention_days: Annotated[float, Field(gt=0)] = 7
    min_size_bytes: Annotated[int, Field(ge=1)] = 1
    # Before an upgrade (predeploy.etcd-backup): the newest snapshot must be this fresh.
    predeploy_max_age_hours: Annotated[float, Field(gt=0)] = 24
    etcdutl: str = "etcdutl"

    @property
    def etcdutl_command(self) -> str:
        return str(expand_path(self.etcdutl)) if "/" in self.etcdutl or "$" in self.etcdutl else self.etcdutl


class BackupFiles(HostDirectory):
    """Backup files of one kind on the hosts with `host_role`, the newest of which a drill restores."""

    host_role: str = "backup"
    directory: str
    pattern: str


class VaultRestore(Strict):
    """The drill's Vault step: the newest backup of OpenBao's storage (a tar.gz of its
    PebbleDB data directory, taken with the server stopped: PebbleDB has no online snapshot)
    is unpacked into a temporary directory and served by a throwaway `bao server` listening on
    `scratch_address` (never the monitored Vault's), unsealed with the key shares given here,
    then `secret_paths` are read with `token` (a token that exists in the backup)."""

    backups: BackupFiles
    scratch_address: Annotated[str, Field(pattern=r"^http://(127\.0\.0\.1|localhost|\[::1\]):\d+$")]
    bao: str = "bao"  # run where opscheck runs
    unseal_keys: Annotated[list[SecretRef], Field(min_length=1)]
    token: SecretRef
    secret_paths: Annotated[list[str], Field(min_length=1)]
    start_timeout_seconds: Annotated[float, Field(gt=0)] = 30

    @property
    def bao_command(self) -> str:
        return str(expand_path(self.bao)) if "/" in self.bao or "$" in self.bao else self.bao


class ManifestRestore(Strict):
    """The drill's manifest step: every object of the newest manifest backup (multi-document
    YAML) sent to the API server as a server-side apply with dryRun=All, as the identity of
    `kubeconfig`/`context`: the server validates and admits each one and writes nothing.
    A dry run needs the same RBAC verbs as the write it simulates, so this is an identity of
    its own (deploy/rbac/dr-drill.yaml), never the read-only one the checks run as."""

    backups: BackupFiles
    kubeconfig: str
    context: str | None = None
    timeout_seconds: Annotated[float, Field(gt=0)] = 15


class DrDrill(Strict):
    """Opt-in quarterly DR drill: the database (restore_drill), Vault and the manifests
    restored from their newest backups, the total timed against the RTO, the backups' ages
    against the RPO."""

    enabled: bool = False
    rto_minutes: Annotated[float, Field(gt=0)] = 60
    rpo_hours: Annotated[float, Field(gt=0)] = 26
    vault: VaultRestore | None = None
    manifests: ManifestRestore | None = None

    @model_validator(mode="after")
    def _complete_when_enabled(self) -> DrDrill:
        if self.enabled and (self.vault is None or self.manifests is None):
            raise ValueError("enabled: give both vault (the scratch OpenBao) and manifests (the dry-run identity)")
        return self
