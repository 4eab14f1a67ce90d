"""Backups the checks judge: CronJob runs, database dump files and etcd snapshots."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from opscheck.profile.common import Strict, expand_path


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
