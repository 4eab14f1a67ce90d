"""Fault injection for the SmartSensor (002), Titanium (003) and multi-cluster (004) items,
each with the profile of its system: break the real thing, see the check fail naming the
fault, repair, see it pass.
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from selftests.faults.common import FaultCase, fails_with
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


def test_redis_ping_fails_when_redis_is_down(checks):
    with broken(rediscache.stop_server, rediscache.up):
        r = checks.until("daily.redis-ping", "failed", timeout=30, profile=SMARTSENSOR)
        assert r.message == "Redis at 127.0.0.1:16379 unreachable: connection refused (PING got no PONG)"
    checks.until("daily.redis-ping", "passed", profile=SMARTSENSOR)


def system_logged(log_file: str, lines: list[str]):
    """`lines` in a system's log file (its pods show them), rotated away on exit."""
    return broken(lambda: systems.write_log_lines(log_file, lines), lambda: systems.rotate_log(log_file))


API_SERVER_ERRORS = [
    systems.message(
        "api-server",
        "ERROR",
        f"[http-nio-8000-exec-{i}] c.h.s.api.SensorController: "
        f"sensor batch rejected: DataIntegrityViolationException (vehicle {1000 + i})",
    )
    for i in range(25)
]
BLOCKED_LOGINS = [
    systems.message(
        "oauth2-server", "WARN", f"login failed user=driver{i} from 198.51.100.{i}: account blocked after 5 attempts"
    )
    for i in range(25)
]
# case -> (check, the fault, the message in full (a regex)), with the SmartSensor profile
SMARTSENSOR_FAULTS = {
    "the cache fills": (
        "weekly.redis-memory",
        lambda: broken(lambda: rediscache.fill_memory(95), rediscache.clear_fill),
        r"Redis 127\.0\.0\.1:16379: used_memory \d+\.\d MiB is 9\d\.\d% of maxmemory 64\.0 MiB, over 80%",
    ),
    "the hit rate drops": (
        "weekly.redis-memory",
        lambda: broken(lambda: rediscache.lookups(hits=0, misses=1500), rediscache.reset_stats),
        r"Redis 127\.0\.0\.1:16379: cache hit rate \d+\.\d% \(\d+ lookups\) is under 80%",
    ),
    "the api is down": (
        "daily.health-endpoints",
        lambda: broken(
            lambda: systems.set_endpoint("smartsensor-api", "DOWN"), lambda: systems.set_endpoint("smartsensor-api")
        ),
        re.escape("1 health endpoints not UP: api /health (HTTP 503, status DOWN)"),
    ),
    "a day of api server errors": (
        "daily.error-logs",
        lambda: system_logged("smartsensor-api-server.log", API_SERVER_ERRORS),
        r"1 apps over 20 ERROR lines in the last 1 day, 0:00:00: api-server \(\d+ ERROR lines\)",
    ),
    "blocked logins": (
        "daily.abnormal-access",
        lambda: system_logged("smartsensor-oauth2-server.log", BLOCKED_LOGINS),
        re.escape("access attempts matching /(failed|unauthorized|blocked)/ in the last 1 day, 0:00:00 ")
        + ".*"
        + re.escape("is over the threshold 20: hankook-security/oauth2-server-0 (25 attempts)")
        + ".*",
    ),
    "the image filesystem fills": (
        "daily.node-disk",
        lambda: broken(lambda: controlplane.fill_node_fs(90), controlplane.clear_node_fs),
        r"1 node filesystems over 80% used: demo-node:\S+/control-plane/var-lib-containerd \(9\d% used\)",
    ),
}


SMARTSENSOR_OBJECT_FAULTS = {
    # Pod usage in the metrics API: beside the kubernetes stream's usage faults, not apart
    # from them (the check reads every monitored namespace's pods, qsign's too).
    "a pod near its memory limit": (
        "daily.top-usage",
        lambda: broken(
            lambda: systems.set_pod_memory("hankook-smartsensor", "sensor-gateway", "480Mi"),
            lambda: systems.set_pod_memory("hankook-smartsensor", "sensor-gateway", None),
        ),
        r".*heavy pods near their memory limit: hankook-smartsensor/sensor-gateway-\S+ "
        r"\(memory 480Mi is 93\.8% of its 512Mi limit\).*",
    ),
    "a pending claim": (
        "daily.pvc-bound",
        lambda: faults.pending_pvc("hankook-smartsensor", "opscheck-selftest-pending"),
        re.escape("1 PVCs not Bound: hankook-smartsensor/opscheck-selftest-pending (Pending)"),
    ),
}


def test_pods_running_fails_on_a_crashlooping_titanium_pod(checks):
    with checks.fails_then_recovers(
        "daily.pods-running", crashloop("titanium-prod", "prod-user-service-deployment"), profile=TITANIUM
    ) as r:
        assert re.search(
            r"pods not Running: titanium-prod/prod-user-service-deployment-\S+ \(CrashLoopBackOff\)", r.message
        ), r.message


USER_SERVICE_TIMEOUTS = [
    systems.message(
        "user-service",
        "ERROR",
        f"Database connection timeout after {3000 + i}ms (request {i:06x}) from 10.244.1.{i % 200}",
    )
    for i in range(120)
]
# case -> (check, the fault, the message in full (a regex)), with the Titanium profile:
# the services behind the cluster (DNS, the apps' log files)
TITANIUM_SERVICE_FAULTS = {
    "dns stops answering": (
        "daily.cluster-dns",
        lambda: broken(coredns.stop_server, coredns.start_server),
        r"cluster DNS resolver 127\.0\.0\.1:15353: no answer from 127\.0\.0\.1:15353 within 2s "
        r"\(query \S+\.svc\.cluster\.local\)",
    ),
    "the dns service has no endpoints": (
        "daily.cluster-dns",
        lambda: faults.scaled_down("kube-system", "coredns"),
        re.escape("1 cluster DNS problems: service/kube-system/kube-dns (cluster DNS Service has no ready endpoint)")
        + ".*",
    ),
    # both user-service replicas show the file: each counts its own lines
    "a recurring error": (
        "weekly.error-patterns",
        lambda: system_logged("titanium-user-service.log", USER_SERVICE_TIMEOUTS),
        r"1 error patterns seen more than 100 times in 7 days: user-service: \[user-service\] "
        r"Database connection timeout after <n>ms \(request <n>\) from <ip> \(240 times\)",
    ),
}


# The Titanium cluster's own objects (the kubernetes stream).
TITANIUM_FAULTS = {
    "a service without a pod": (
        "daily.endpoints-ready",
        lambda: faults.scaled_down("titanium-prod", "prod-blog-service-deployment"),
        re.escape("1 services without ready endpoints: titanium-prod/prod-blog-service (no ready endpoint)"),
    ),
    "the backup job fails": (
        "daily.postgres-backup",
        lambda: faults.failing_backup("titanium-prod", "postgres-backup"),
        r"backup titanium-prod/postgres-backup: last job postgres-backup-manual-\w+ failed \(BackoffLimitExceeded\)",
    ),
    "a node without a ready shipper": (
        "daily.log-pipeline",
        lambda: broken(
            lambda: systems.set_daemonset_fault("monitoring", "promtail", "crashloop"),
            lambda: systems.set_daemonset_fault("monitoring", "promtail", None),
        ),
        r"\d log pipeline problems: daemonset/monitoring/promtail \(numberReady [0-2], "
        r"numberAvailable [0-2] of 3 desired\), monitoring/promtail-\w+ \(on kwok-node-\d: "
        r"CrashLoopBackOff\).*",
    ),
}


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


def by_profile(tables: dict[Path, dict[str, FaultCase]]) -> list[Any]:
    """(profile, case) parameters over tables of fault cases, each run with its system's profile."""
    return [
        pytest.param(profile, case, id=f"{profile.stem}: {case}") for profile, table in tables.items() for case in table
    ]


# The services behind the systems' clusters (the services stream).
SERVICE_FAULTS = {SMARTSENSOR: SMARTSENSOR_FAULTS, TITANIUM: TITANIUM_SERVICE_FAULTS, DEMO: ETCD_FAULTS}


@pytest.mark.parametrize(("profile", "case"), by_profile(SERVICE_FAULTS))
def test_system_service_checks_fail(checks, profile, case):
    fails_with(checks, SERVICE_FAULTS[profile][case], timeout=30, profile=profile)


# The systems' own Kubernetes objects (the kubernetes stream).
OBJECT_FAULTS = {SMARTSENSOR: SMARTSENSOR_OBJECT_FAULTS, TITANIUM: TITANIUM_FAULTS}


@pytest.mark.parametrize(("profile", "case"), by_profile(OBJECT_FAULTS))
def test_system_object_checks_fail(checks, profile, case):
    fails_with(checks, OBJECT_FAULTS[profile][case], timeout=30, profile=profile)


def test_vault_pods_fails_when_vault_is_sealed(checks):
    with checks.fails_then_recovers(
        "daily.vault-pods", broken(vault.seal, vault.unseal), timeout=30, profile=QSIGN
    ) as r:
        assert r.message == "1 Vault problems in cluster demo: http://127.0.0.1:18200 (Vault is sealed)"


# ---------------------------------------------------------------- QSIGN weekly Vault review


def rotate_audit_log() -> None:
    """Repair for an audit-log fault: rotate the file as logrotate does (SIGHUP makes
    OpenBao reopen it); the checks read the current file, so the planted entries leave.
    One request afterwards, so the new file is not empty (daily.audit-log reads its age).
    A break-glass root token the fault generated is revoked first, as after a real one."""
    vault.revoke_break_glass_tokens()
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
