"""How the self-tests share the one test environment when run in parallel.

`make test` (selftests/phases.py) runs two phases, each of pytest processes side by side:
1. the unit and pytester tests, beside the "whole environment" tests one at a time: the
   whole-checklist runs (selftests/runs/) and the few fault tests that break something
   every other test observes; beside them, the runs against worlds of their own
   ("separate world": the multi-cluster system's clusters, the empty world), which read
   nothing the demo cluster's runs break or count (the demo API server's audit log);
2. the other fault tests in three streams side by side. A stream never breaks what another
   observes:
   - "apps": the QSIGN sample services and what they depend on or are measured by: their
     processes, answers and log files, Vault, PostgreSQL, Prometheus and Alertmanager (a
     sealed Vault or a stopped database makes the apps unhealthy, which the SLO, latency
     and availability checks over Prometheus then see);
   - "hosts": what stands apart from the QSIGN apps and the cluster objects: Redis,
     CoreDNS, the SmartSensor and Titanium services and their logs, the control-plane
     host's files (etcd snapshots, the node filesystem), the log index, the release's
     artifacts, attestations and the ledger; the multi-cluster system's own clusters,
     which no other stream reads;
   - "kubernetes" (every other fault test): breaks and reads only Kubernetes objects in
     the demo cluster (workloads, kwok pods and their usage, CRD objects, RBAC, namespaces);
     the usage faults stay here: the usage checks read every monitored namespace's pods.
A fault test put in the wrong stream shows as a flaky failure of another stream: when a
new test breaks something shared, list it here.
"""

from __future__ import annotations

import pytest

# Fault tests that break what both streams observe: one at a time, in phase 1.
WHOLE_ENVIRONMENT_TESTS = {
    "test_pods_all_namespaces_fails_on_a_broken_pod_anywhere",  # watches every namespace
    "test_nodes_ready_fails_when_a_node_goes_not_ready",  # every pod on the node, metrics
    "test_kube_system_fails_on_a_broken_system_pod",  # kube-system: DNS, the CNI
    "test_logs_recorded_fails_when_an_application_goes_silent",  # hsm-adapter's pods and its figures
}
# Whole-checklist runs against worlds of their own: beside the other runs in phase 1.
SEPARATE_WORLD_FILES = {"test_multicluster_report.py", "test_empty_world.py"}
APPS_FILES = {"test_prometheus.py", "test_services.py", "test_database.py", "test_dr_drill.py"}
APPS_TESTS = {
    # faults/test_cluster.py: the QSIGN apps' log files
    "test_error_logs_fail_when_an_app_logs_errors",
    "test_abnormal_access_fails_on_a_burst_of_unauthorized_requests",
    "test_signature_stats_fail_when_signatures_fail",
    # faults/test_systems.py, test_platform.py: Vault (the apps' health reads it)
    "test_vault_pods_fails_when_vault_is_sealed",
    "test_failed_auth_fails_on_a_burst_of_rejected_tokens",
    "test_vault_audit_review_fails_on_denials_and_root_token_use",
    "test_externalsecrets_fails_when_the_vault_secret_is_removed",
    # faults/test_deploy.py: the apps' answers
    "test_api_smoke_fails_when_the_api_is_not_ready",
    "test_api_smoke_fails_when_the_api_answers_errors",
}
# (and the multi-cluster system's own clusters, which no other stream reads)
HOSTS_FILES = {"test_logindex.py", "test_attestations.py", "test_ledger.py", "test_multicluster.py"}
HOSTS_TESTS = {
    # faults/test_systems.py: Redis, CoreDNS, the SmartSensor/Titanium services, the control-plane host
    "test_redis_ping_fails_when_redis_is_down",
    "test_system_service_checks_fail",
    # faults/test_deploy.py: the release's files
    "test_release_artifact_checks_fail",
    "test_perf_test_errors_on_a_file_that_is_not_a_k6_summary",
    "test_release_gates_check_the_release_named_on_the_command_line",
    "test_maintenance_window_fails_outside_the_window",
    # faults/test_prometheus.py: a synthetic node's series in node-exporter's textfile
    # directory; the capacity checks it runs read nothing an apps fault breaks
    "test_growing_node_memory_fails_the_resource_trend_and_capacity_forecast",
}
STREAMS = ("apps", "hosts", "kubernetes")


def group_of(item: pytest.Item) -> str | None:
    """ "separate_world", "whole_environment", a stream of STREAMS, or None: needs no test
    environment."""
    kind = item.path.parent.name
    if kind == "runs" and item.path.name in SEPARATE_WORLD_FILES:
        return "separate_world"
    if kind == "runs" or item.originalname in WHOLE_ENVIRONMENT_TESTS:
        return "whole_environment"
    if kind != "faults":
        return None
    if item.originalname in HOSTS_TESTS:  # named one by one: before their file's stream
        return "hosts"
    if item.path.name in APPS_FILES or item.originalname in APPS_TESTS:
        return "apps"
    if item.path.name in HOSTS_FILES:
        return "hosts"
    return "kubernetes"


def pytest_configure(config: pytest.Config) -> None:
    for marker, what in (
        ("whole_environment", "needs the whole test environment to itself (phase 1, one at a time)"),
        ("separate_world", "a whole-checklist run against a world of its own (phase 1, beside the others)"),
        ("fault_stream", "a fault test run beside the other streams (phase 2)"),
        *((f"stream_{name}", f"fault test of the {name} stream") for name in STREAMS),
    ):
        config.addinivalue_line("markers", f"{marker}: {what}")


# First: pytest's -m deselection runs in this same hook.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        group = group_of(item)
        if group in ("whole_environment", "separate_world"):
            item.add_marker(getattr(pytest.mark, group))
        elif group is not None:
            item.add_marker(pytest.mark.fault_stream)
            item.add_marker(getattr(pytest.mark, f"stream_{group}"))
