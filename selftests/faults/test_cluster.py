"""Fault injection on the cluster: workloads, nodes, network, volumes, certificates,
backups, events and logs. Each fault goes through the real control plane (a rollout by
the Deployment controller, a Job run by the Job controller, kwok stages playing the
kubelet), and each test repairs what it broke.
"""

from __future__ import annotations

import re

import pytest

from selftests.faults.common import app_logged, fails_with
from selftests.harness import broken
from testenv import apps, faults, security

pytestmark = pytest.mark.usefixtures("testenv_up")

NS = "qsign"


def crashloop(deployment: str, namespace: str = NS):
    return faults.template_fault(namespace, deployment, "crashloop")


def test_pods_running_fails_on_a_crashlooping_pod(checks):
    with checks.fails_then_recovers("daily.pods-running", crashloop("api-server")) as r:
        assert re.search(r"pods not Running: qsign/api-server-[a-z0-9]+-[a-z0-9]+ \(CrashLoopBackOff\)", r.message), (
            r.message
        )


def test_pods_all_namespaces_fails_on_a_broken_pod_anywhere(checks):
    with checks.fails_then_recovers("daily.pods-all-namespaces", crashloop("coredns", "kube-system")) as r:
        assert re.search(r"pods not Running or Completed: kube-system/coredns-\S+ \(CrashLoopBackOff\)", r.message), (
            r.message
        )


def test_kube_system_fails_on_a_broken_system_pod(checks):
    with checks.fails_then_recovers("daily.kube-system", crashloop("coredns", "kube-system")) as r:
        assert "system pods not healthy: kube-system/coredns-" in r.message and "(CrashLoopBackOff)" in r.message


def test_pod_states_fails_on_crashloop(checks):
    with checks.fails_then_recovers("daily.pod-states", crashloop("signature-service")) as r:
        assert re.search(r"qsign/signature-service-\S+ \(CrashLoopBackOff\)", r.message), r.message


def test_oomkilled_fails_on_an_oom_killed_container(checks):
    with checks.fails_then_recovers("daily.oomkilled", faults.template_fault(NS, "hsm-adapter", "oomkilled")) as r:
        assert re.search(
            r"containers OOMKilled in the last 24 h: qsign/hsm-adapter-\S+ \(hsm-adapter OOMKilled at ", r.message
        ), r.message


def test_replicas_fails_when_scaled_to_one(checks):
    with checks.fails_then_recovers("daily.replicas", faults.scaled(NS, "api-server", 1)) as r:
        assert r.message == "1 workloads short of replicas: deployment/qsign/api-server (1 desired, minimum is 2)"


def test_endpoints_ready_fails_when_a_service_has_no_ready_pod(checks):
    with checks.fails_then_recovers("daily.endpoints-ready", faults.scaled_down(NS, "hsm-adapter")) as r:
        assert r.message == "1 services without ready endpoints: qsign/hsm-adapter (no ready endpoint)"


def test_ingress_lb_fails_when_the_ingress_loses_its_address(checks):
    with checks.fails_then_recovers(
        "daily.ingress-lb", faults.load_balancer_address("Ingress", NS, "api-server", None)
    ) as r:
        assert r.message == "1 load balancers or ingresses not serving: ingress/qsign/api-server (no address assigned)"


def test_ingress_lb_fails_when_the_backend_has_no_endpoints(checks):
    with checks.fails_then_recovers("daily.ingress-lb", faults.scaled_down(NS, "api-server")) as r:
        assert "ingress/qsign/api-server (backend service api-server has no ready endpoint)" in r.message


def test_pvc_bound_fails_on_a_pending_claim(checks):
    with checks.fails_then_recovers("daily.pvc-bound", faults.pending_pvc(NS, "opscheck-selftest-pending")) as r:
        assert r.message == "1 PVCs not Bound: qsign/opscheck-selftest-pending (Pending)"


def test_cert_expiry_fails_on_a_certificate_expiring_in_ten_days(checks):
    # cert-manager issues the Secret's certificate: asked for a 10-day one, it writes one
    with checks.fails_then_recovers(
        "daily.cert-expiry",
        broken(lambda: security.short_lived_certificate(NS, "api-server-tls", days=10), security.restore_certificates),
    ) as r:
        assert re.fullmatch(
            r"1 certificates expiring within 30 days: qsign/api-server-tls \(expires in (9|10) days \(\d{4}-\d\d-\d\d\)\)",
            r.message,
        ), r.message


USAGE_FAULTS = {
    "pods burn cpu": (
        "daily.node-cpu",
        lambda: faults.pod_usage(NS, "api-server", cpu="3500m", memory="100Mi"),
        r"highest node CPU usage \d+(\.\d)?% is over the threshold 70%: kwok-node-\d \(\d+(\.\d)?% used\).*",
    ),
    "pods use memory": (
        "daily.node-memory",
        lambda: faults.pod_usage(NS, "signature-service", cpu="50m", memory="7Gi"),
        r"highest node memory usage \d+(\.\d)?% is over the threshold 80%: kwok-node-\d.*",
    ),
    "a container near its limit": (
        "daily.pod-resources",
        lambda: faults.pod_usage(NS, "hsm-adapter", cpu="450m", memory="100Mi"),
        r".*containers over their usage threshold: qsign/hsm-adapter-\S+/hsm-adapter \(CPU 90% of limit 500m\).*",
    ),
}


@pytest.mark.parametrize("case", USAGE_FAULTS)
def test_usage_checks_fail_when_pods_use_much(checks, case):
    fails_with(checks, USAGE_FAULTS[case], timeout=120)


def test_postgres_backup_fails_when_the_last_job_fails(checks):
    with checks.fails_then_recovers("daily.postgres-backup", faults.failing_backup(NS, "postgresql-backup")) as r:
        assert re.match(r"backup qsign/postgresql-backup: last job postgresql-backup-\S+ failed", r.message), r.message


def test_vault_backup_fails_when_the_last_job_fails(checks):
    with checks.fails_then_recovers("daily.vault-backup", faults.failing_backup(NS, "vault-backup")) as r:
        assert re.match(r"backup qsign/vault-backup: last job vault-backup-\S+ failed", r.message), r.message


def test_warning_events_fail_on_a_new_warning(checks):
    with checks.fails_then_recovers(
        "daily.warning-events",
        faults.event(NS, "Deployment", "api-server", "Warning", "FailedCreate", "opscheck self-test: quota exceeded"),
    ) as r:
        assert r.message == (
            "Warning events in the last 1 day, 0:00:00 1 is over the threshold 0: "
            "Deployment/qsign/api-server (FailedCreate: opscheck self-test: quota exceeded)"
        )


def test_error_logs_fail_when_an_app_logs_errors(checks):
    lines = [
        apps.format_message("api-server", "ERROR", f"Database connection timeout after 30000ms (self-test {i})")
        for i in range(12)
    ]
    with checks.fails_then_recovers("daily.error-logs", app_logged("api-server", lines)) as r:
        assert re.fullmatch(
            r"1 apps over 10 ERROR lines per 1:00:00 in the last 1 day, 0:00:00: "
            r"api-server \(\d+ ERROR lines in the hour from \d{4}-\d\d-\d\d \d\d:00 UTC\)",
            r.message,
        ), r.message


def test_abnormal_access_fails_on_a_burst_of_unauthorized_requests(checks):
    lines = [
        apps.format_message(
            "api-server", "WARN", f"Unauthorized access attempt from 203.0.113.{i} path=/api/v1/admin status=401"
        )
        for i in range(25)
    ]
    with checks.fails_then_recovers(
        "daily.abnormal-access",
        app_logged("api-server", lines),
        # the other stream may replace api-server's pods meanwhile ("no pod labelled ..."): wait for this fault
        message=lambda m: "access attempts matching" in m,
    ) as r:
        assert "access attempts matching" in r.message and "is over the threshold 20" in r.message
        assert "qsign/api-server-" in r.message


def test_signature_stats_fail_when_signatures_fail(checks):
    lines = []
    for i in range(300):
        lines.append(apps.format_message("signature-service", "INFO", f"Signature request received id=st{i}"))
        lines.append(apps.format_message("signature-service", "ERROR", f"Signature failed id=st{i} reason=HSM timeout"))
    with checks.fails_then_recovers(
        "daily.signature-stats",
        app_logged("signature-service", lines),
    ) as r:
        assert re.match(r"signature failure ratio \(\d+ failed of \d+\) \S+ is over the threshold 0.01", r.message), (
            r.message
        )


def test_nodes_ready_fails_when_a_node_goes_not_ready(checks):
    with checks.fails_then_recovers("daily.nodes-ready", faults.node_not_ready("kwok-node-2")) as r:
        assert r.message.startswith("1 nodes not Ready: kwok-node-2 (NotReady"), r.message
