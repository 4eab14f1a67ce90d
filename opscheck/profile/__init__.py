"""The environment profile: everything that differs between environments.

Checks read names, endpoints and thresholds from here, never from code, so one suite
serves every system. A profile is validated when the run starts; any problem stops the
run with one line naming the file, the key path and what is wrong.

Secrets never appear in a profile: a token or password is a `SecretRef` naming an
environment variable or a file to read it from when it is needed.

The sections live in the modules of this package (common, clusters, services, database,
backups, monitoring, security, systems, deploy, reporting, platform; the whole in model,
reading it in loader); every public name is re-exported here: `from opscheck.profile import X`.
"""

from __future__ import annotations

from opscheck.profile.backups import (
    BackupFiles,
    Backups,
    CronJobBackup,
    DrDrill,
    DumpFiles,
    EtcdBackups,
    ManifestRestore,
    VaultRestore,
)
from opscheck.profile.clusters import (
    ClusterConfig,
    HostConfig,
    LogRules,
    Thresholds,
    Workload,
    serviceaccount_dir,
)
from opscheck.profile.common import (
    HttpAccess,
    Regex,
    SecretRef,
    Strict,
    expand_path,
    expand_vars,
    valid_regex,
)
from opscheck.profile.components import (
    COMPONENTS,
    Component,
    RequiredComponent,
    known_component,
)
from opscheck.profile.database import (
    QUALIFIED_TABLE,
    DataQualityRule,
    DrillTable,
    InactiveAccounts,
    PostgresAccountPolicy,
    PostgresConfig,
    PostgresThresholds,
    RestoreDrill,
    RetentionRule,
)
from opscheck.profile.deploy import (
    CiPipeline,
    LoadTestThresholds,
    MaintenanceWindow,
    ReleaseConfig,
    SmokeRequest,
)
from opscheck.profile.loader import ENV_VAR, check_secrets, load_profile
from opscheck.profile.model import Profile
from opscheck.profile.monitoring import (
    SLO_TIER_OBJECTIVES,
    AlertingConfig,
    CapacityConfig,
    DashboardQuery,
    Forecast,
    Percent,
    PromDuration,
    PrometheusConfig,
    PrometheusWindows,
    ServiceQueries,
    SlaConfig,
    SloTier,
    SlowResponses,
)
from opscheck.profile.platform import PlatformConfig
from opscheck.profile.reporting import (
    Attestations,
    AttestedItem,
    ExportConfig,
    PushgatewayConfig,
    Reporting,
    RunSettings,
    Schedule,
    Signing,
)
from opscheck.profile.security import (
    AcceptedFinding,
    CisBenchmark,
    HsmCertificate,
    MeshConfig,
    PlaintextCredentials,
    PodSecurityLabels,
    RbacPolicy,
    ReviewedSubject,
    SecurityConfig,
    VulnerabilityScans,
)
from opscheck.profile.services import (
    HttpService,
    VaultAuditReview,
    VaultConfig,
    VaultKubernetes,
)
from opscheck.profile.systems import (
    ClusterDns,
    LogIndices,
    LogPipeline,
    NodeDisk,
    RedisConfig,
)
from opscheck.profile.yamlfile import first_error, key_path, load_model, read_yaml

__all__ = [
    "serviceaccount_dir",
    "AcceptedFinding",
    "AlertingConfig",
    "Attestations",
    "AttestedItem",
    "Backups",
    "COMPONENTS",
    "CapacityConfig",
    "CisBenchmark",
    "ClusterConfig",
    "ClusterDns",
    "Component",
    "CronJobBackup",
    "DashboardQuery",
    "DataQualityRule",
    "DrillTable",
    "DumpFiles",
    "ENV_VAR",
    "EtcdBackups",
    "ExportConfig",
    "Reporting",
    "Forecast",
    "HostConfig",
    "HsmCertificate",
    "HttpService",
    "InactiveAccounts",
    "LoadTestThresholds",
    "LogIndices",
    "LogPipeline",
    "LogRules",
    "MaintenanceWindow",
    "MeshConfig",
    "NodeDisk",
    "Percent",
    "PlaintextCredentials",
    "PlatformConfig",
    "PodSecurityLabels",
    "PostgresAccountPolicy",
    "PostgresConfig",
    "PostgresThresholds",
    "Profile",
    "PromDuration",
    "PrometheusConfig",
    "PrometheusWindows",
    "PushgatewayConfig",
    "QUALIFIED_TABLE",
    "RbacPolicy",
    "RedisConfig",
    "Regex",
    "ReleaseConfig",
    "CiPipeline",
    "RequiredComponent",
    "RestoreDrill",
    "DrDrill",
    "BackupFiles",
    "ManifestRestore",
    "VaultRestore",
    "RetentionRule",
    "ReviewedSubject",
    "SLO_TIER_OBJECTIVES",
    "RunSettings",
    "Schedule",
    "Signing",
    "HttpAccess",
    "SecretRef",
    "SecurityConfig",
    "ServiceQueries",
    "SlaConfig",
    "SloTier",
    "SlowResponses",
    "SmokeRequest",
    "Strict",
    "Thresholds",
    "VaultAuditReview",
    "VaultConfig",
    "VaultKubernetes",
    "VulnerabilityScans",
    "Workload",
    "expand_path",
    "expand_vars",
    "first_error",
    "key_path",
    "known_component",
    "load_model",
    "check_secrets",
    "load_profile",
    "read_yaml",
    "valid_regex",
]
