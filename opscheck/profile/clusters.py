"""The clusters and hosts a profile monitors, its workloads, thresholds and log rules."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator

from opscheck.profile.common import Regex, Strict, expand_path
from opscheck.profile.services import VaultConfig


class ClusterConfig(Strict):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    kubeconfig: str = "~/.kube/config"
    context: str | None = None
    # Seconds to wait for the API server before the cluster's checks become errors.
    timeout_seconds: Annotated[float, Field(gt=0)] = 15
    # What differs between the clusters of one system (runbook 004: the platform in mgmt,
    # the application in app1/app2). Set, they replace the profile's `namespaces` and
    # `vault` for this cluster's checks (Profile.for_cluster), so a namespace missing from
    # one cluster fails there instead of hiding in a union; unset, the profile's apply.
    namespaces: list[str] | None = None
    vault: VaultConfig | None = None

    @property
    def kubeconfig_path(self) -> Path:
        return expand_path(self.kubeconfig)


class Workload(Strict):
    kind: Literal["Deployment", "StatefulSet", "DaemonSet"]
    namespace: str
    name: str
    min_replicas: Annotated[int, Field(ge=0)] = 2


class HostConfig(Strict):
    """A machine read through pytest-testinfra (backup host, control-plane node)."""

    name: str
    # A testinfra backend URI: "local://", "ssh://ops@10.0.0.5", "ssh://ops@host?ssh_config=..."
    uri: str = "local://"
    roles: list[str] = []

    @field_validator("uri")
    @classmethod
    def _backend(cls, v: str) -> str:
        if not re.match(r"^(local|ssh|paramiko|docker|podman|kubectl|ansible)://", v):
            raise ValueError("must be a testinfra backend URI such as local:// or ssh://user@host")
        return v


class Thresholds(Strict):
    cpu_percent: Annotated[float, Field(gt=0, le=100)] = 70
    memory_percent: Annotated[float, Field(gt=0, le=100)] = 80
    disk_percent: Annotated[float, Field(gt=0, le=100)] = 80
    cert_days: Annotated[int, Field(ge=0)] = 30
    api_latency_ms: Annotated[float, Field(gt=0)] = 200
    signature_latency_ms: Annotated[float, Field(gt=0)] = 500
    error_lines: Annotated[int, Field(ge=0)] = 10
    warning_events: Annotated[int, Field(ge=0)] = 0
    # Look-back windows cover at least the daily interval (schedule.every.daily).
    warning_events_window_minutes: Annotated[int, Field(gt=0)] = 1440
    signature_failure_ratio: Annotated[float, Field(ge=0, le=1)] = 0.01
    abnormal_access: Annotated[int, Field(ge=0)] = 20
    backup_max_age_hours: Annotated[float, Field(gt=0)] = 26
    audit_log_max_age_minutes: Annotated[float, Field(gt=0)] = 60
    max_restarts: Annotated[int, Field(ge=0)] = 5
    http_timeout_seconds: Annotated[float, Field(gt=0)] = 10
    # kubectl top pods -A --sort-by=memory | head -10 (002, 004): how many pods are listed.
    top_pods: Annotated[int, Field(ge=1)] = 10


class LogRules(Strict):
    """What the runbooks grep for in pod logs, and over which window."""

    # Apps (pod label `app_label`=name) whose logs are scanned for errors.
    apps: list[str] = []
    app_label: str = "app"
    error_pattern: Regex = "ERROR"
    error_window_minutes: Annotated[int, Field(gt=0)] = 1440
    # thresholds.error_lines counts per this many minutes (the runbook's `--since=1h`): the
    # window is cut into such intervals and the worst is judged. None: per whole window.
    error_count_minutes: Annotated[int, Field(gt=0)] | None = None
    # Abnormal access attempts (401/403, failed logins) in the apps' logs.
    access_pattern: Regex = r"(?i)(unauthorized|forbidden|authentication failed|access denied)"
    access_window_minutes: Annotated[int, Field(gt=0)] = 1440
    # Apps whose logs are scanned for access attempts (002: oauth2-server's security events);
    # default: `apps`.
    access_apps: list[str] | None = None
    # Weekly error patterns (003 로그 검토): error lines of `apps` over the window, grouped by
    # message with the numbers and ids taken out; a pattern seen more often fails.
    pattern_window_days: Annotated[float, Field(gt=0)] = 7
    pattern_max_count: Annotated[int, Field(ge=0)] = 100
    pattern_top: Annotated[int, Field(ge=1)] = 10
    # How recent a pod's last log line must be after a deployment (postdeploy.logs-recorded).
    recent_minutes: Annotated[float, Field(gt=0)] = 10
    # Signature statistics (seed 000 log-analysis.sh).
    signature_app: str | None = None
    signature_window_minutes: Annotated[int, Field(gt=0)] = 1440
    signature_requested: str = "Signature request received"
    signature_completed: str = "Signature completed"
    signature_failed: str = "Signature failed"
