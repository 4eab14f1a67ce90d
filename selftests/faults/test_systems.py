"""Fault injection for the SmartSensor (002), Titanium (003) and multi-cluster (004) items,
each with the profile of its system: break the real thing, see the check fail naming the
fault, repair, see it pass.
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest
import requests
import yaml

from selftests.faults.common import fails_with
from selftests.harness import REPO, broken
from testenv import controlplane, coredns, faults, procs, rediscache, systems, vault

pytestmark = pytest.mark.usefixtures("testenv_up")

SMARTSENSOR = REPO / "environments" / "smartsensor.yaml"
TITANIUM = REPO / "environments" / "titanium.yaml"
QSIGN = REPO / "environments" / "qsign.yaml"
DEMO = REPO / "environments" / "demo.yaml"


def crashloop(namespace: str, deployment: str):
    return faults.template_fault(namespace, deployment, "crashloop")


# ------------------------------------------------------------------------- SmartSensor (002)


def test_top_usage_fails_when_a_pod_nears_its_memory_limit(checks):
    ns, app = "hankook-smartsensor", "sensor-gateway"
    with checks.fails_then_recovers(
        "daily.top-usage",
        broken(lambda: systems.set_pod_memory(ns, app, "480Mi"), lambda: systems.set_pod_memory(ns, app, None)),
        timeout=30,
        profile=SMARTSENSOR,
    ) as r:
        assert re.search(
            r"heavy pods near their memory limit: hankook-smartsensor/sensor-gateway-\S+ "
            r"\(memory 480Mi is 93\.8% of its 512Mi limit\)",
            r.message,
        ), r.message


def test_redis_ping_fails_when_redis_is_down(checks):
    with broken(rediscache.stop_server, rediscache.up):
        r = checks.until("daily.redis-ping", "failed", timeout=30, profile=SMARTSENSOR)
        assert r.message == "Redis at 127.0.0.1:16379 unreachable: connection refused (PING got no PONG)"
    checks.until("daily.redis-ping", "passed", profile=SMARTSENSOR)


def test_redis_memory_fails_when_the_cache_fills(checks):
    with checks.fails_then_recovers(
        "weekly.redis-memory",
        broken(lambda: rediscache.fill_memory(95), rediscache.clear_fill),
        timeout=30,
        profile=SMARTSENSOR,
    ) as r:
        assert re.fullmatch(
            r"Redis 127\.0\.0\.1:16379: used_memory \d+\.\d MiB is 9\d\.\d% of maxmemory 64\.0 MiB, "
            r"over 80%",
            r.message,
        ), r.message


def test_redis_memory_fails_when_the_hit_rate_drops(checks):
    with checks.fails_then_recovers(
        "weekly.redis-memory",
        broken(lambda: rediscache.lookups(hits=0, misses=1500), rediscache.reset_stats),
        timeout=30,
        profile=SMARTSENSOR,
    ) as r:
        assert re.fullmatch(
            r"Redis 127\.0\.0\.1:16379: cache hit rate \d+\.\d% \(\d+ lookups\) is under 80%", r.message
        ), r.message


def test_health_endpoints_fail_when_the_smartsensor_api_is_down(checks):
    with checks.fails_then_recovers(
        "daily.health-endpoints",
        broken(
            lambda: systems.set_endpoint("smartsensor-api", "DOWN"), lambda: systems.set_endpoint("smartsensor-api")
        ),
        timeout=30,
        profile=SMARTSENSOR,
    ) as r:
        assert r.message == "1 health endpoints not UP: api /health (HTTP 503, status DOWN)"


def test_error_logs_fail_on_a_day_of_api_server_errors(checks):
    lines = [
        systems.message(
            "api-server",
            "ERROR",
            f"[http-nio-8000-exec-{i}] c.h.s.api.SensorController: "
            f"sensor batch rejected: DataIntegrityViolationException (vehicle {1000 + i})",
        )
        for i in range(25)
    ]
    with checks.fails_then_recovers(
        "daily.error-logs",
        broken(
            lambda: systems.write_log_lines("smartsensor-api-server.log", lines),
            lambda: systems.rotate_log("smartsensor-api-server.log"),
        ),
        timeout=30,
        profile=SMARTSENSOR,
    ) as r:
        assert re.fullmatch(
            r"1 apps over 20 ERROR lines in the last 1 day, 0:00:00: api-server \(\d+ ERROR lines\)", r.message
        ), r.message


def test_security_events_fail_on_blocked_logins(checks):
    lines = [
        systems.message(
            "oauth2-server",
            "WARN",
            f"login failed user=driver{i} from 198.51.100.{i}: account blocked after 5 attempts",
        )
        for i in range(25)
    ]
    with checks.fails_then_recovers(
        "daily.abnormal-access",
        broken(
            lambda: systems.write_log_lines("smartsensor-oauth2-server.log", lines),
            lambda: systems.rotate_log("smartsensor-oauth2-server.log"),
        ),
        timeout=30,
        profile=SMARTSENSOR,
    ) as r:
        assert r.message.startswith(
            "access attempts matching /(failed|unauthorized|blocked)/ in the last 1 day, 0:00:00 "
        ), r.message
        assert "is over the threshold 20: hankook-security/oauth2-server-0 (25 attempts)" in r.message


def test_pvc_bound_fails_on_a_pending_smartsensor_claim(checks):
    ns = "hankook-smartsensor"
    with checks.fails_then_recovers(
        "daily.pvc-bound", faults.pending_pvc(ns, "opscheck-selftest-pending"), timeout=30, profile=SMARTSENSOR
    ) as r:
        assert r.message == "1 PVCs not Bound: hankook-smartsensor/opscheck-selftest-pending (Pending)"


def test_node_disk_fails_when_the_image_filesystem_fills(checks):
    with checks.fails_then_recovers(
        "daily.node-disk",
        broken(lambda: controlplane.fill_node_fs(90), controlplane.clear_node_fs),
        timeout=30,
        profile=SMARTSENSOR,
    ) as r:
        assert re.fullmatch(
            r"1 node filesystems over 80% used: demo-node:\S+/control-plane/var-lib-containerd "
            r"\(9\d% used\)",
            r.message,
        ), r.message


# ---------------------------------------------------------------------------- Titanium (003)


def test_pods_running_fails_on_a_crashlooping_titanium_pod(checks):
    with checks.fails_then_recovers(
        "daily.pods-running", crashloop("titanium-prod", "prod-user-service-deployment"), profile=TITANIUM
    ) as r:
        assert re.search(
            r"pods not Running: titanium-prod/prod-user-service-deployment-\S+ \(CrashLoopBackOff\)", r.message
        ), r.message


def test_endpoints_ready_fails_when_a_titanium_service_has_no_pod(checks):
    ns, name = "titanium-prod", "prod-blog-service-deployment"
    with checks.fails_then_recovers(
        "daily.endpoints-ready", faults.scaled_down(ns, name), timeout=30, profile=TITANIUM
    ) as r:
        assert r.message == "1 services without ready endpoints: titanium-prod/prod-blog-service (no ready endpoint)"


def test_cluster_dns_fails_when_dns_stops_answering(checks):
    with checks.fails_then_recovers(
        "daily.cluster-dns", broken(coredns.stop_server, coredns.start_server), timeout=30, profile=TITANIUM
    ) as r:
        assert re.fullmatch(
            r"cluster DNS resolver 127\.0\.0\.1:15353: no answer from 127\.0\.0\.1:15353 within 2s "
            r"\(query \S+\.svc\.cluster\.local\)",
            r.message,
        ), r.message


def test_cluster_dns_fails_when_the_dns_service_has_no_endpoints(checks):
    with checks.fails_then_recovers(
        "daily.cluster-dns", faults.scaled_down("kube-system", "coredns"), timeout=30, profile=TITANIUM
    ) as r:
        assert r.message.startswith(
            "1 cluster DNS problems: service/kube-system/kube-dns (cluster DNS Service has no ready endpoint)"
        ), r.message


def test_postgres_backup_fails_when_the_titanium_backup_job_fails(checks):
    ns, name = "titanium-prod", "postgres-backup"
    with checks.fails_then_recovers(
        "daily.postgres-backup", faults.failing_backup(ns, name), timeout=30, profile=TITANIUM
    ) as r:
        assert re.fullmatch(
            r"backup titanium-prod/postgres-backup: last job postgres-backup-manual-\w+ failed "
            r"\(BackoffLimitExceeded\)",
            r.message,
        ), r.message


def test_backup_job_history_fails_when_a_day_of_the_week_has_no_run(checks):
    """Runbook 003 데이터베이스 백업 확인: the week's history of the backup CronJob. The Job of
    the run three days ago is deleted (as if that night's run never happened); the repair
    runs that fire's Job again (testenv/cronjobs.py ensure_daily_history)."""
    from datetime import timedelta

    from croniter import croniter

    from opscheck.timeutil import utc_now
    from testenv import cluster, cronjobs

    ns, name = "titanium-prod", "postgres-backup"
    api = cluster.DEMO.api
    fire = croniter("0 2 * * *", utc_now() - timedelta(days=3)).get_prev(type(utc_now()))
    job = f"{name}-{int(fire.timestamp()) // 60}"
    with checks.fails_then_recovers(
        "weekly.backup-job-history",
        broken(
            lambda: api.delete("Job", ns, job),
            lambda: cronjobs.ensure_daily_history(api, ns, name, systems.BACKUP_HISTORY_DAYS),
        ),
        timeout=30,
        profile=TITANIUM,
    ) as r:
        assert r.message == (
            f"1 backup runs missing or failed over 7 days: titanium-prod/postgres-backup {fire:%Y-%m-%d %H:%M}Z "
            "(no run: no Job for this schedule fire)"
        ), r.message


def test_log_pipeline_fails_when_a_node_has_no_ready_shipper(checks):
    with checks.fails_then_recovers(
        "daily.log-pipeline",
        broken(
            lambda: systems.set_daemonset_fault("monitoring", "promtail", "crashloop"),
            lambda: systems.set_daemonset_fault("monitoring", "promtail", None),
        ),
        timeout=30,
        profile=TITANIUM,
    ) as r:
        assert re.match(
            r"\d log pipeline problems: daemonset/monitoring/promtail \(numberReady [0-2], "
            r"numberAvailable [0-2] of 3 desired\), monitoring/promtail-\w+ \(on kwok-node-\d: "
            r"CrashLoopBackOff\)",
            r.message,
        ), r.message


def test_error_patterns_fail_on_a_recurring_error(checks):
    lines = [
        systems.message(
            "user-service",
            "ERROR",
            f"Database connection timeout after {3000 + i}ms (request {i:06x}) from 10.244.1.{i % 200}",
        )
        for i in range(120)
    ]
    with checks.fails_then_recovers(
        "weekly.error-patterns",
        broken(
            lambda: systems.write_log_lines("titanium-user-service.log", lines),
            lambda: systems.rotate_log("titanium-user-service.log"),
        ),
        timeout=30,
        profile=TITANIUM,
    ) as r:
        # both user-service replicas show the file: each counts its own lines
        assert re.fullmatch(
            r"1 error patterns seen more than 100 times in 7 days: user-service: \[user-service\] "
            r"Database connection timeout after <n>ms \(request <n>\) from <ip> \(240 times\)",
            r.message,
        ), r.message


# --------------------------------------------------------------- multi-cluster items (004)


def snapshots_stopped():
    aged: list[Path] = []
    return broken(lambda: aged.extend(controlplane.stop_snapshots(30)), lambda: controlplane.resume_snapshots(aged))


def snapshot_planted(plant):
    planted: list[Path] = []
    return broken(lambda: planted.append(plant()), lambda: controlplane.remove(planted[0]))


SNAPSHOT = r"etcd-snapshot-\d{8}-\d{6}\.db"
ETCD_FAULTS = {
    "stopped": (
        "daily.etcd-snapshot",
        snapshots_stopped,
        rf"1 etcd snapshot problems: control-plane \(newest snapshot {SNAPSHOT} is 30\.0 h old, over 24\.0 h\)",
    ),
    "corrupt": (
        "daily.etcd-snapshot",
        lambda: snapshot_planted(controlplane.corrupt),
        rf"1 etcd snapshot problems: control-plane \(newest snapshot {SNAPSHOT} "
        r"is not valid: etcdutl snapshot status failed \(exit \d+\): .+\)",
    ),
    "retention not applied": (
        "daily.etcd-snapshot",
        lambda: snapshot_planted(lambda: controlplane.plant_expired(9)),
        rf"1 etcd snapshot problems: control-plane \(1 snapshots kept past the 7-day retention: {SNAPSHOT} "
        r"\(9\.0 days\)\)",
    ),
    "no recent snapshot before an upgrade": (
        "predeploy.etcd-backup",
        snapshots_stopped,
        rf"1 control-plane hosts without a fresh etcd backup: control-plane \(newest snapshot {SNAPSHOT} "
        r"is 30\.0 h old, over 24\.0 h\)",
    ),
}


@pytest.mark.parametrize("case", ETCD_FAULTS)
def test_etcd_snapshot_checks_fail(checks, case):
    fails_with(checks, ETCD_FAULTS[case], timeout=30, profile=DEMO)


def test_vault_pods_fails_when_vault_is_sealed(checks):
    with checks.fails_then_recovers(
        "daily.vault-pods", broken(vault.seal, vault.unseal), timeout=30, profile=QSIGN
    ) as r:
        assert r.message == "1 Vault problems in cluster demo: http://127.0.0.1:18200 (Vault is sealed)"


# ---------------------------------------------------------------- QSIGN weekly Vault review


def rotate_audit_log() -> None:
    """Repair for an audit-log fault: rotate the file as logrotate does (SIGHUP makes
    OpenBao reopen it); the checks read the current file, so the planted entries leave.
    One request afterwards, so the new file is not empty (daily.audit-log reads its age)."""
    path = vault.audit_log()
    os.replace(path, path.with_name(path.name + ".1"))
    os.kill(procs.read_pid(vault.PROC_NAME), signal.SIGHUP)
    procs.wait_for(path.exists, 10, "OpenBao to reopen its audit log")
    vault.generate_audit_traffic(1)


def profile_with(tmp_path: Path, base: Path, **audit_review) -> Path:
    """`base` with other audit-review limits (the counts before the fault, plus a margin)."""
    data = yaml.safe_load(base.read_text())
    data["vault"]["audit_review"] = {**data["vault"].get("audit_review", {}), **audit_review}
    path = tmp_path / base.name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def vault_request(path: str, token: str, n: int) -> None:
    for _ in range(n):
        requests.get(f"{vault.address()}/v1/{path}", headers={"X-Vault-Token": token}, timeout=5)


def test_failed_auth_fails_on_a_burst_of_rejected_tokens(checks, tmp_path):
    before = checks.one("weekly.failed-auth", profile=QSIGN).evidence["measured"]
    profile = profile_with(tmp_path, QSIGN, max_failed_auth=before + 3)
    with checks.fails_then_recovers(
        "weekly.failed-auth",
        broken(lambda: vault_request("auth/token/lookup-self", "s.not-a-real-token", 10), rotate_audit_log),
        timeout=30,
        profile=profile,
    ) as r:
        assert re.fullmatch(
            rf"Vault audit log in the last 7 days: failed authentications \d+ over {before + 3}", r.message
        ), r.message
        assert any(row[0] == "failed-auth (no valid token) auth/token/lookup-self" for row in r.evidence["rows"])


def test_vault_audit_review_fails_on_denials_and_root_token_use(checks, tmp_path):
    before = checks.one("weekly.vault-audit-review", profile=DEMO).evidence["notes"][0]
    denied, root = (int(n) for n in re.findall(r": (\d+) \(limit", before))
    profile = profile_with(tmp_path, QSIGN, max_permission_denied=denied + 2, max_root_token_uses=root + 2)
    opscheck_token = vault.token_file().read_text().strip()

    def fault() -> None:
        vault_request("secret/data/qsign/canary", opscheck_token, 5)  # outside the checker's policy
        vault_request("sys/mounts", vault._root_token(), 5)  # break-glass token used for routine reads

    with checks.fails_then_recovers(
        "weekly.vault-audit-review", broken(fault, rotate_audit_log), timeout=30, profile=profile
    ) as r:
        assert re.fullmatch(
            rf"Vault audit log in the last 7 days: permission denied \d+ over {denied + 2}; "
            rf"root-token requests \d+ over {root + 2}",
            r.message,
        ), r.message
        rows = [row[0] for row in r.evidence["rows"]]
        assert "permission-denied token-opscheck secret/data/qsign/canary" in rows
        assert "root-token root sys/mounts" in rows
