"""How the self-tests share the one test environment when run in parallel.

`make test` (selftests/phases.py) runs two phases, each of pytest processes side by side:
1. the unit and pytester tests, beside the "whole environment" tests one at a time: the
   whole-checklist runs (selftests/runs/) and the few fault tests that break something
   every other test observes;
2. the other fault tests in two streams side by side. A stream never breaks what the
   other observes:
   - "services": breaks or reads the processes behind the cluster: the QSIGN apps and the
     log files their pods show, Vault, PostgreSQL, Prometheus and Alertmanager, Redis,
     CoreDNS, OpenSearch, the control-plane host's files, the release's artifacts,
     attestations and the ledger;
   - "kubernetes" (every other fault test): breaks and reads only Kubernetes objects in
     the demo cluster (workloads, kwok pods and their usage, CRD objects, RBAC, namespaces)
     and the multi-cluster system's own clusters.
A fault test put in the wrong stream shows as a flaky failure of the other stream: when a
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
SERVICES_FILES = {
    "test_prometheus.py",
    "test_services.py",
    "test_database.py",
    "test_logindex.py",
    "test_attestations.py",
    "test_ledger.py",
}
SERVICES_TESTS = {
    # faults/test_cluster.py: checks over the QSIGN apps' log files, which the apps write
    "test_error_logs_fail_when_an_app_logs_errors",
    "test_abnormal_access_fails_on_a_burst_of_unauthorized_requests",
    "test_signature_stats_fail_when_signatures_fail",
    # faults/test_systems.py: Redis, CoreDNS, the control-plane host, Vault, the systems' logs
    "test_top_usage_fails_when_a_pod_nears_its_memory_limit",
    "test_redis_ping_fails_when_redis_is_down",
    "test_redis_memory_fails_when_the_cache_fills",
    "test_redis_memory_fails_when_the_hit_rate_drops",
    "test_health_endpoints_fail_when_the_smartsensor_api_is_down",
    "test_error_logs_fail_on_a_day_of_api_server_errors",
    "test_security_events_fail_on_blocked_logins",
    "test_error_patterns_fail_on_a_recurring_error",
    "test_node_disk_fails_when_the_image_filesystem_fills",
    "test_cluster_dns_fails_when_dns_stops_answering",
    "test_cluster_dns_fails_when_the_dns_service_has_no_endpoints",
    "test_etcd_snapshot_checks_fail",
    "test_vault_pods_fails_when_vault_is_sealed",
    "test_failed_auth_fails_on_a_burst_of_rejected_tokens",
    "test_vault_audit_review_fails_on_denials_and_root_token_use",
    # faults/test_platform.py: the External Secrets operator reads Vault (sealed by the above)
    "test_externalsecrets_fails_when_the_vault_secret_is_removed",
    # faults/test_deploy.py: the release's files and the apps' answers
    "test_tests_passed_fails_on_a_failed_e2e_test_and_on_missing_results",
    "test_perf_test_fails_when_the_load_test_is_too_slow",
    "test_perf_test_errors_on_a_file_that_is_not_a_k6_summary",
    "test_tests_passed_fails_on_last_releases_results_and_on_results_past_the_window",
    "test_release_gates_check_the_release_named_on_the_command_line",
    "test_perf_test_fails_on_a_load_test_past_the_window_and_without_a_release",
    "test_maintenance_window_fails_outside_the_window",
    "test_api_smoke_fails_when_the_api_is_not_ready",
}


def group_of(item: pytest.Item) -> str | None:
    """ "whole_environment", "services", "kubernetes", or None: needs no test environment."""
    kind = item.path.parent.name
    if kind == "runs" or item.originalname in WHOLE_ENVIRONMENT_TESTS:
        return "whole_environment"
    if kind != "faults":
        return None
    if item.path.name in SERVICES_FILES or item.originalname in SERVICES_TESTS:
        return "services"
    return "kubernetes"


def pytest_configure(config: pytest.Config) -> None:
    for marker, what in (
        ("whole_environment", "needs the whole test environment to itself (phase 1, one at a time)"),
        ("fault_stream", "a fault test run beside the other stream (phase 2)"),
        ("stream_services", "fault test of the services stream"),
        ("stream_kubernetes", "fault test of the kubernetes stream"),
    ):
        config.addinivalue_line("markers", f"{marker}: {what}")


# First: pytest's -m deselection runs in this same hook.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        group = group_of(item)
        if group == "whole_environment":
            item.add_marker(pytest.mark.whole_environment)
        elif group is not None:
            item.add_marker(pytest.mark.fault_stream)
            item.add_marker(getattr(pytest.mark, f"stream_{group}"))
