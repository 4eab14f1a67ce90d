"""The components a profile may list under `required:`.

A check whose component is absent from the environment is "not applicable", unless the
profile requires the component: then its absence fails the check. These are the names the
checks pass to `component_absent`/`configured` (opscheck/check.py); a profile section's
component is named like the section (`log_indices`, `redis`), a component without a
section of its own is named like the tool (`velero`, `cert-manager`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BeforeValidator

Component = Literal[
    # Profile sections.
    "attestations",
    "cluster_dns",
    "data_quality",
    "data_retention",
    "dr_drill",
    "database_backups",
    "backups",
    "etcd_backups",
    "hosts",
    "inactive_accounts",
    "log_indices",
    "log_pipeline",
    "node_disk",
    "postgres",
    "prometheus",
    "redis",
    "restore_drill",
    "services",
    "vault",
    # Settings inside a section: logs.apps, platform.*, release.*, security.*, smoke_requests.
    "certificates",
    "ci",
    "cni",
    "cost",
    "hpa",
    "hsm",
    "kube-bench",
    "load-test",
    "logs",
    "maintenance-window",
    "node-patches",
    "rbac-review",
    "schedule",  # an earlier run in the ledger, to judge the checklists' schedule against
    "volumes",  # PersistentVolumeClaims in the monitored namespaces
    "release-tests",
    "smoke-requests",
    "trivy",
    # Found in the environment (a CRD, an API, an extension), not configured.
    "argocd",
    "cert-manager",
    "external-secrets",
    "helm",
    "istio",
    "pg_stat_statements",
    "velero",
]
COMPONENTS: tuple[str, ...] = get_args(Component)


def known_component(name: Any) -> Any:
    """`name` when it is a component; otherwise a ValueError naming it and the allowed ones."""
    if isinstance(name, str) and name not in COMPONENTS:
        raise ValueError(f"unknown component {name!r} (known: {', '.join(sorted(COMPONENTS))})")
    return name


# A `required:` entry: the unknown-name message above instead of pydantic's long Literal one.
RequiredComponent = Annotated[Component, BeforeValidator(known_component)]
