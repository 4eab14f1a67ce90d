"""Unit tests of the library's pure logic (the checks' behaviour on live systems is in
selftests/faults/)."""

from __future__ import annotations

import base64
import threading
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from opscheck.check import CheckFailure, Evidence, check, describe_rows
from opscheck.errors import DependencyError
from opscheck.profile import expand_path
from opscheck.rules.backups import backup_problems, daily_history, schedule_problems
from opscheck.rules.certs import secret_leaf_certificate
from opscheck.rules.resources import container_usage, top_pods
from opscheck.rules.workloads import pod_problem
from opscheck.sources import runcache
from opscheck.sources.kube import project
from opscheck.sources.packed import PackedList
from opscheck.sources.runcache import RunCache

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def test_failure_message_names_objects_and_counts_the_rest():
    rows = [{"object": f"qsign/p{i}", "detail": "Pending"} for i in range(12)]
    assert describe_rows(rows).endswith("qsign/p9 (Pending) and 2 more")
    ev = Evidence()
    with pytest.raises(CheckFailure, match=r"^12 pods not Running: qsign/p0 \(Pending\), "):
        ev.expect_none(rows, "pods not Running")
    assert ev.measured == 12 and ev.threshold == 0 and len(ev.rows) == 12


def test_threshold_message_has_value_unit_and_threshold():
    ev = Evidence()
    with pytest.raises(CheckFailure) as exc:
        ev.expect_at_most(
            87.25, 70, what="highest node CPU usage", unit="%", offenders=[{"object": "node-1", "detail": "87.2% used"}]
        )
    assert str(exc.value) == "highest node CPU usage 87.2% is over the threshold 70%: node-1 (87.2% used)"


def test_examined_notes_the_subject_and_fails_when_it_is_empty():
    ev = Evidence()
    pods = [{"name": "p0"}]
    assert ev.examined(pods, "1 pods in qsign", empty="no pods") is pods
    with pytest.raises(CheckFailure, match="^no pods at all in qsign$"):
        ev.examined([], "0 pods in qsign", empty="no pods at all in qsign")
    assert ev.notes == ["1 pods in qsign", "0 pods in qsign"]


def test_check_declaration_mistakes_fail_at_import():
    with pytest.raises(ValueError, match="severity 'urgent'"):
        check(id="daily.x", title="x", severity="urgent", covers=["k"], remediation="r")
    with pytest.raises(ValueError, match="unknown cadence"):
        check(id="daily.x", title="x", severity="low", covers=["k"], remediation="r", also=["hourly"])
    with pytest.raises(ValueError, match="remediation text is empty"):
        check(id="daily.x", title="x", severity="low", covers=["k"], remediation=" ")(lambda: None)

    def titled_only():
        """A title and no remediation."""

    with pytest.raises(ValueError, match="check daily.x: remediation text is empty"):
        check("daily.x", severity="low", covers=["k"])(titled_only)


def test_a_check_reads_its_title_and_remediation_from_the_docstring():
    @check("daily.x", severity="low", covers=["k"])
    def test_x():
        """No pod is
        Pending.

        kubectl get pods -A
          indented detail
        """

    spec = test_x.__opscheck__
    assert (spec.title, spec.remediation) == ("No pod is Pending.", "kubectl get pods -A\n  indented detail")
    assert (
        check("daily.x", severity="low", covers=["k"], remediation="shared")(test_x).__opscheck__.remediation
        == "shared"
    )


def test_secrets_keep_only_public_certificates():
    secret = {
        "metadata": {
            "name": "s",
            "namespace": "n",
            "managedFields": [{}],
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": '{"data":{"password":"x"}}'},
        },
        "type": "Opaque",
        "data": {"password": "c2VjcmV0", "tls.crt": "Y2VydA=="},
        "stringData": {"k": "v"},
    }
    out = project("secrets", secret)
    assert out["data"] == {"tls.crt": "Y2VydA=="}
    assert "stringData" not in out and "managedFields" not in out["metadata"]
    assert out["metadata"]["annotations"] == {}


def test_expand_path_defaults(monkeypatch):
    monkeypatch.delenv("OPSCHECK_X", raising=False)
    assert str(expand_path("${OPSCHECK_X:-/opt/a}/b")) == "/opt/a/b"
    monkeypatch.setenv("OPSCHECK_X", "/srv")
    assert str(expand_path("${OPSCHECK_X:-/opt/a}/b")) == "/srv/b"


@pytest.mark.parametrize("shared", [True, False])
def test_run_cache_caches_errors(tmp_path, shared):
    cache = RunCache(tmp_path, shared=shared)
    calls = []

    def down():
        calls.append(1)
        raise DependencyError("cluster x unreachable: connection refused")

    for _ in range(3):
        with pytest.raises(DependencyError, match="connection refused"):
            cache.get("x/version", down)
    assert calls == [1]


@pytest.mark.parametrize("shared", [True, False])
def test_run_cache_hands_a_read_ahead_error_to_the_first_asker_as_its_own(tmp_path, shared):
    cache = RunCache(tmp_path, shared=shared)

    def down():
        raise DependencyError("cluster x unreachable: connection refused")

    with pytest.raises(DependencyError):
        cache.get("x/version", down, ahead=True)
    with pytest.raises(DependencyError) as first:
        cache.get("x/version", down)
    assert str(first.value) == "cluster x unreachable: connection refused"
    with pytest.raises(DependencyError, match=r"refused \(cached error from the first attempt in this run\)$"):
        cache.get("x/version", down)


@pytest.mark.parametrize("shared", [True, False])
def test_a_thread_waiting_for_another_threads_fetch_is_not_polling_the_file_lock(tmp_path, shared, monkeypatch):
    """A check waiting for a read ahead (another thread) of the same key waits on a lock of
    this process, woken when the fetch is done: one fetch, and the file lock (polled every
    50 ms, for other processes) is taken by the fetching thread only."""
    takers: list[str] = []

    class WatchedFileLock(runcache.FileLock):
        def __enter__(self):
            takers.append(threading.current_thread().name)
            return super().__enter__()

    monkeypatch.setattr(runcache, "FileLock", WatchedFileLock)
    cache = RunCache(tmp_path, shared=shared)
    fetching, finish, calls = threading.Event(), threading.Event(), []

    def slow_fetch() -> list[str]:
        calls.append(1)
        fetching.set()
        finish.wait(5)
        return ["pod"]

    ahead = threading.Thread(target=cache.get, args=("x/list/pods", slow_fetch, True), name="ahead")
    ahead.start()
    fetching.wait(5)
    threading.Timer(0.1, finish.set).start()
    value = cache.get("x/list/pods", lambda: pytest.fail("fetched twice"))
    ahead.join()
    assert value == ["pod"] and calls == [1]
    assert takers == ["ahead"]


def test_run_cache_parses_a_value_once_per_process(tmp_path):
    fetched = RunCache(tmp_path).get("x/list/pods", lambda: [{"metadata": {"name": "p"}}])
    reader = RunCache(tmp_path)
    first = reader.get("x/list/pods", lambda: pytest.fail("fetched twice"))
    assert first == fetched and reader.get("x/list/pods", lambda: []) is first


def test_a_list_crosses_processes_one_item_a_line(tmp_path):
    """A worker reads another's small LIST item by item (no whole-file string)."""
    pods = [{"metadata": {"name": f"p{i}"}} for i in range(3)]
    RunCache(tmp_path).get("x/list/pods", lambda: pods)
    (written,) = tmp_path.glob("*.json")
    assert len(written.read_bytes().splitlines()) == 1 + len(pods)
    assert RunCache(tmp_path).get("x/list/pods", lambda: pytest.fail("fetched twice")) == pods


def test_a_packed_list_crosses_processes_as_its_compressed_chunks(tmp_path):
    """A big LIST goes to the file as its chunks and comes back packed, not decoded; a file
    cut short is an error naming it, never a shorter list."""
    pods = [{"metadata": {"name": f"p{i}", "namespace": f"ns{i % 3}"}} for i in range(150)]
    RunCache(tmp_path).get("x/list/pods", lambda: PackedList.pack(pods))
    back = RunCache(tmp_path).get("x/list/pods", lambda: pytest.fail("fetched twice"))
    assert isinstance(back, PackedList) and back == pods
    assert list(back.in_namespaces(["ns1"])) == [p for p in pods if p["metadata"]["namespace"] == "ns1"]
    (written,) = tmp_path.glob("*.json")
    written.write_bytes(written.read_bytes()[:-10])
    with pytest.raises(DependencyError, match=f"{written.name} does not hold the chunks its header lists"):
        RunCache(tmp_path).get("x/list/pods", lambda: pytest.fail("fetched twice"))


def test_an_unshared_run_cache_fetches_once_and_writes_no_value_file(tmp_path):
    """-n 0: no worker reads the cache's files, so a value is not encoded into one."""
    cache = RunCache(tmp_path, shared=False)
    first = cache.get("x/list/pods", lambda: [{"metadata": {"name": "p"}}])
    assert cache.get("x/list/pods", lambda: pytest.fail("fetched twice")) is first
    assert not list(tmp_path.glob("*.json"))


def _job(name, uid, created, outcome, finished=None):
    cond = {"Complete": "Complete", "Failed": "Failed"}.get(outcome)
    return {
        "metadata": {
            "name": name,
            "creationTimestamp": created.isoformat(),
            "ownerReferences": [{"kind": "CronJob", "uid": uid}],
        },
        "status": {
            "conditions": [
                {
                    "type": cond,
                    "status": "True",
                    "reason": "BackoffLimitExceeded" if cond == "Failed" else "",
                    "lastTransitionTime": (finished or created).isoformat(),
                }
            ]
            if cond
            else [],
            "completionTime": (finished or created).isoformat() if cond == "Complete" else None,
        },
    }


def test_backup_problems():
    cj = {"metadata": {"uid": "u1"}, "spec": {"schedule": "0 2 * * *"}, "status": {}}
    ok = _job("b-1", "u1", NOW - timedelta(hours=7), "Complete")
    failed = _job("b-2", "u1", NOW - timedelta(hours=1), "Failed")
    other = _job("x-1", "u2", NOW, "Complete")
    assert backup_problems(cj, [ok, other], timedelta(hours=26), NOW) == []
    assert backup_problems(cj, [ok, failed], timedelta(hours=26), NOW) == ["last job b-2 failed (BackoffLimitExceeded)"]
    assert backup_problems(cj, [ok], timedelta(hours=6), NOW) == ["last success 7.0 h ago, over 6.0 h"]
    assert backup_problems(cj | {"spec": {"suspend": True}}, [], timedelta(hours=26), NOW) == [
        "CronJob is suspended",
        "no successful job found",
    ]


def test_daily_history_wants_a_successful_run_for_every_fire_of_the_week():
    """Runbook 003 weekly 데이터베이스 백업 확인: one successful Job per scheduled day, read
    from the CronJob controller's scheduled-timestamp annotation (a manual run: its start)."""
    cj = {
        "metadata": {"uid": "u1", "namespace": "titanium-prod", "name": "postgres-backup"},
        "spec": {"schedule": "0 2 * * *", "successfulJobsHistoryLimit": 10},
    }
    fires = [datetime(2026, 11, d, 2, 0, tzinfo=UTC) for d in range(16, 23)]  # NOW: 2026-11-22 09:00

    def run(fire, outcome="Complete", scheduled=True):
        job = _job(f"postgres-backup-{int(fire.timestamp()) // 60}", "u1", NOW, outcome)
        if scheduled:
            job["metadata"]["annotations"] = {"batch.kubernetes.io/cronjob-scheduled-timestamp": fire.isoformat()}
        else:
            job["status"]["startTime"] = (fire + timedelta(hours=3)).isoformat()
        return job

    rows, offenders = daily_history(cj, [run(f) for f in fires], NOW, 7)
    assert [r["run"] for r in rows] == ["succeeded"] * 7 and offenders == []
    week = [run(f) for f in fires if f.day not in (18, 20)] + [run(fires[4], "Failed")]
    week[0] = run(fires[0], scheduled=False)  # a manual run that day counts
    _, offenders = daily_history(cj, week, NOW, 7)
    assert offenders == [
        {
            "object": "titanium-prod/postgres-backup 2026-11-18 02:00Z",
            "detail": "no run: no Job for this schedule fire",
        },
        {
            "object": "titanium-prod/postgres-backup 2026-11-20 02:00Z",
            "detail": f"failed: postgres-backup-{int(fires[4].timestamp()) // 60} (BackoffLimitExceeded)",
        },
    ]
    short = cj | {"spec": {"schedule": "0 2 * * *"}}  # the API's default keeps 3 successful Jobs
    assert daily_history(short, [run(f) for f in fires], NOW, 7)[1] == [
        {
            "object": "titanium-prod/postgres-backup",
            "detail": "successfulJobsHistoryLimit 3 keeps fewer Jobs than the 7 runs of 7 days: raise it to at least 7",
        }
    ]
    # The newest fire has time to finish before it is missed.
    _, offenders = daily_history(cj, [run(f) for f in fires[:-1]], fires[-1] + timedelta(minutes=5), 7)
    assert offenders == []


def test_schedule_problems():
    cj = {"spec": {"schedule": "0 2 * * *"}, "status": {"lastScheduleTime": "2026-11-22T02:00:00Z"}}
    assert schedule_problems(cj, NOW) == []
    late = {"spec": {"schedule": "0 2 * * *"}, "status": {"lastScheduleTime": "2026-11-21T02:00:00Z"}}
    assert schedule_problems(late, NOW) == [
        "lastScheduleTime 2026-11-21T02:00:00Z missed the run due at 2026-11-22T02:00:00Z (schedule '0 2 * * *')"
    ]
    assert schedule_problems({"spec": {"schedule": "*/5 * * * *"}, "status": {}}, NOW) == [
        "never scheduled (no lastScheduleTime)"
    ]


def test_pod_problem_reasons():
    running = {
        "metadata": {"name": "p"},
        "status": {"phase": "Running", "containerStatuses": [{"name": "c", "ready": True}]},
    }
    assert pod_problem(running) is None
    crash = {
        "metadata": {"name": "p"},
        "status": {
            "phase": "Running",
            "containerStatuses": [{"name": "c", "ready": False, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}],
        },
    }
    assert pod_problem(crash) == "CrashLoopBackOff"
    pending = {
        "metadata": {"name": "p"},
        "status": {
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}],
        },
    }
    assert pod_problem(pending) == "Pending, Unschedulable"
    job_pod_failed = {"metadata": {"name": "p", "ownerReferences": [{"kind": "Job"}]}, "status": {"phase": "Failed"}}
    assert pod_problem(job_pod_failed) is None


def test_certificate_metadata_from_a_tls_secret():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "api-server.qsign.svc")])
    not_after = datetime.now(UTC).replace(microsecond=0) + timedelta(days=10)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(42)
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    from cryptography.hazmat.primitives.serialization import Encoding

    secret = {"data": {"tls.crt": base64.b64encode(cert.public_bytes(Encoding.PEM)).decode()}}
    info = secret_leaf_certificate(secret)
    assert info.subject == "api-server.qsign.svc" and info.serial == "2a"
    assert 9.9 < info.days_left() <= 10


def test_cadence_status_measures_gaps_and_never_run_cadences():
    from datetime import timedelta

    from opscheck.record.schedule import cadence_status
    from opscheck.timeutil import parse_duration, utc_now

    now = utc_now()
    limits = {c: parse_duration(v) for c, v in {"daily": "26h", "weekly": "8d", "monthly": "35d"}.items()}
    runs = [(now - timedelta(days=40), ["daily"]), (now - timedelta(hours=30), ["daily"])]
    status = {s.cadence: s for s in cadence_status(runs, limits, now, current=["daily"])}
    assert status["daily"].missed and status["daily"].describe().startswith("daily: previous run ")
    assert status["weekly"].missed and "never run since the first recorded run" in status["weekly"].describe()
    assert status["monthly"].missed  # 40 days since the ledger began, limit 35
    fresh = {s.cadence: s for s in cadence_status([], limits, now, current=["weekly"])}
    assert not any(s.missed for s in fresh.values())
    assert fresh["weekly"].describe() == "weekly: first recorded run of this cadence (limit 8.0 days)"


@pytest.mark.parametrize("text", ["26", "h", "-1d", "1y", "zero"])
def test_durations_must_say_their_unit(text):
    from opscheck.timeutil import parse_duration

    with pytest.raises(ValueError, match="is not a duration like 90m, 26h, 8d or 2w"):
        parse_duration(text)


def test_maintenance_window_in_its_time_zone_and_past_midnight():
    from datetime import datetime

    from opscheck.rules.maintenance import window_contains

    sunday_3am_kst = datetime(2026, 11, 21, 18, 0, tzinfo=UTC)  # Sat 18:00 UTC = Sun 03:00 KST
    assert window_contains(["sun"], "02:00", "06:00", "Asia/Seoul", sunday_3am_kst)
    assert not window_contains(["sun"], "02:00", "06:00", "UTC", sunday_3am_kst)
    late = datetime(2026, 11, 22, 1, 30, tzinfo=UTC)  # Sunday 01:30 UTC
    assert window_contains(["sat"], "22:00", "04:00", "UTC", late)  # opened Saturday, closes Sunday 04:00
    assert not window_contains(["sun"], "22:00", "04:00", "UTC", late)


def test_junit_totals_come_from_the_test_cases(tmp_path):
    from opscheck.errors import OpscheckError
    from opscheck.sources.release import read_junit

    (tmp_path / "a.xml").write_text(
        '<testsuite tests="99"><testcase classname="c" name="ok"/>'
        '<testcase classname="c" name="bad"><failure/></testcase>'
        '<testcase classname="c" name="skip"><skipped/></testcase></testsuite>'
    )
    totals = read_junit([tmp_path / "a.xml"])
    assert (totals.tests, totals.failures, totals.skipped) == (3, 1, 1)
    assert totals.failed_cases == [{"object": "c.bad", "detail": "failure", "file": "a.xml"}]
    (tmp_path / "b.xml").write_text("<html/>")
    with pytest.raises(OpscheckError, match="not a JUnit XML file"):
        read_junit([tmp_path / "b.xml"])


def test_missing_namespaces_are_the_listed_ones_absent_or_terminating():
    from opscheck.rules.objects import missing_namespaces

    present = [
        {"metadata": {"name": "app"}, "status": {"phase": "Active"}},
        {"metadata": {"name": "velero"}, "status": {"phase": "Terminating"}},
        {"metadata": {"name": "kube-system"}},
    ]
    assert missing_namespaces(["app", "velero", "ingress-nginx", "kube-system"], present) == ["velero", "ingress-nginx"]


def _limited_pod(ns: str, name: str, **limits: dict[str, str]) -> dict:
    """A pod whose containers (name -> their limits) have those limits."""
    containers = [{"name": c, "resources": {"limits": lim} if lim else {}} for c, lim in limits.items()]
    return {"metadata": {"namespace": ns, "name": name}, "spec": {"containers": containers}}


def _pod_usage(ns: str, name: str, **usage: tuple[str, str]) -> dict:
    containers = [{"name": c, "usage": {"cpu": cpu, "memory": memory}} for c, (cpu, memory) in usage.items()]
    return {"metadata": {"namespace": ns, "name": name}, "containers": containers}


def test_container_usage_keeps_a_row_per_namespace_and_names_every_offender():
    pods = [
        _limited_pod("a", "p1", app={"cpu": "500m", "memory": "256Mi"}, side={}),
        _limited_pod("a", "p2", app={"cpu": "1", "memory": "1Gi"}),
        _limited_pod("b", "p3", app={"memory": "100Mi"}),
        _limited_pod("c", "no-sample", app={"cpu": "1"}),
    ]
    metrics = [
        _pod_usage("a", "p1", app=("450m", "100Mi"), side=("5m", "10Mi")),  # CPU 90% of 500m
        _pod_usage("a", "p2", app=("100m", "900Mi")),  # memory 87.9% of 1Gi
        _pod_usage("b", "p3", app=("2", "50Mi")),  # no CPU limit: judged on memory only
        _pod_usage("d", "no-spec", app=("1", "1Mi")),  # not among the pods: not judged
    ]
    usage = container_usage(metrics, pods, cpu_percent=70, memory_percent=80)
    assert (usage.containers, usage.judged) == (4, 3)
    assert usage.offenders == [
        {"object": "a/p1/app", "detail": "CPU 90% of limit 500m"},
        {"object": "a/p2/app", "detail": "memory 88% of limit 1024Mi"},
    ]
    assert usage.rows() == [
        {
            "object": "a",
            "pods": 2,
            "containers": 3,
            "no limit": 1,
            "highest cpu % of limit": 90.0,
            "highest cpu in": "p1/app",
            "highest memory % of limit": 87.9,
            "highest memory in": "p2/app",
            "over threshold": "p1/app (CPU 90% of limit 500m); p2/app (memory 88% of limit 1024Mi)",
        },
        {
            "object": "b",
            "pods": 1,
            "containers": 1,
            "no limit": 0,
            "highest cpu % of limit": None,
            "highest cpu in": "",
            "highest memory % of limit": 50.0,
            "highest memory in": "p3/app",
            "over threshold": "",
        },
    ]
    # containers without any limit have nothing to be judged against
    bare = container_usage([_pod_usage("a", "p", app=("1", "1Mi"))], [_limited_pod("a", "p", app={})], 70, 80)
    assert (bare.containers, bare.judged, bare.offenders) == (1, 0, [])


def test_top_pods_are_the_heaviest_by_memory_in_the_metrics_order_on_ties():
    pods = [_limited_pod("a", f"p{i}", app={"cpu": "1", "memory": "1Gi"}) for i in range(5)]
    sizes = {"p0": "100Mi", "p1": "300Mi", "p2": "300Mi", "p3": "50Mi", "p4": "900Mi"}
    metrics = [_pod_usage("a", name, app=("100m", size)) for name, size in sizes.items()]
    top = top_pods(metrics, pods, 3)
    assert [r["object"] for r in top] == ["a/p4", "a/p1", "a/p2"]
    assert top[0] == {
        "object": "a/p4",
        "cpu": "100m",
        "cpu_limit": "1000m",
        "cpu_percent": 10.0,
        "memory": "900Mi",
        "memory_limit": "1024Mi",
        "memory_percent": 87.9,
    }
    # a pod the pod LIST does not have: usage without a limit
    assert top_pods([_pod_usage("z", "gone", app=("1", "1Mi"))], pods, 3)[0]["memory_limit"] == "none"
