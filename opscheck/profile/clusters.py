"""The clusters and hosts a profile monitors, its workloads, thresholds and log rules."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from opscheck.profile.common import Regex, Strict, expand_path
from opscheck.profile.services import VaultConfig

# Where a pod's ServiceAccount token, cluster CA and namespace are mounted; the variable
# points elsewhere (a self-test's directory laid out the same way).
SERVICEACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
SERVICEACCOUNT_DIR_VAR = "OPSCHECK_SERVICEACCOUNT_DIR"
# kubectl's default when neither the profile nor $KUBECONFIG names a kubeconfig.
DEFAULT_KUBECONFIG = "~/.kube/config"


def serviceaccount_dir() -> Path:
    return Path(os.environ.get(SERVICEACCOUNT_DIR_VAR) or SERVICEACCOUNT_DIR)


class ClusterConfig(Strict):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    # Unset: $KUBECONFIG (one file or several, joined with ':'), then ~/.kube/config, as kubectl.
    kubeconfig: str | None = None
    context: str | None = None
    # Running in a pod: the ServiceAccount token and CA of the standard mount (or
    # $OPSCHECK_SERVICEACCOUNT_DIR), the API server at $KUBERNETES_SERVICE_HOST:PORT.
    in_cluster: bool = False
    # Seconds to wait for the API server before the cluster's checks become errors.
    timeout_seconds: Annotated[float, Field(gt=0)] = 15
    # What differs between the clusters of one system (runbook 004: the platform in mgmt,
    # the application in app1/app2). Set, they replace the profile's `namespaces` and
    # `vault` for this cluster's checks (Profile.for_cluster), so a namespace missing from
    # one cluster fails there instead of hiding in a union; unset, the profile's apply.
    namespaces: list[str] | None = None
    vault: VaultConfig | None = None

    @model_validator(mode="after")
    def _one_way_in(self) -> ClusterConfig:
        if self.in_cluster and (self.kubeconfig is not None or self.context is not None):
            given = " and ".join(k for k in ("kubeconfig", "context") if getattr(self, k) is not None)
            raise ValueError(
                f"in_cluster: true reads the pod's ServiceAccount, so {given} cannot be set too: give one or the other"
            )
        return self

    @property
    def kubeconfig_files(self) -> list[Path]:
        """The kubeconfig files of this cluster, merged in this order by the client (kubectl's
        rule: the profile's path, else every file of $KUBECONFIG, else ~/.kube/config)."""
        if self.kubeconfig is not None:
            return [expand_path(self.kubeconfig)]
        listed = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
        return [expand_path(p) for p in listed] or [expand_path(DEFAULT_KUBECONFIG)]

    @property
    def kubeconfig_origin(self) -> str:
        """Where the kubeconfig came from, for messages: the key, $KUBECONFIG or the default."""
        if self.kubeconfig is not None:
            return "kubeconfig"
        return (
            "kubeconfig (from $KUBECONFIG)"
            if os.environ.get("KUBECONFIG")
            else f"kubeconfig (default {DEFAULT_KUBECONFIG})"
        )

    def access(self) -> str:
        """How this cluster is reached, as results.json records it."""
        if self.in_cluster:
            return f"in-cluster ServiceAccount ({serviceaccount_dir()})"
        return os.pathsep.join(map(str, self.kubeconfig_files))


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
