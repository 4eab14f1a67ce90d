"""The whole daily checklist against the healthy test environment.

- every daily check passes, and every count it reports about the cluster (pods, nodes,
  Services, workloads, events, ... in results.json) equals a straightforward count over the
  raw LISTs (bench/verify.py, which the bench runs at 10k pods and more), with LISTs held
  the way a big cluster's are (packed, the last page streamed);
- the run makes the same Kubernetes requests with -n 0 and -n 4 (one LIST per kind per
  run, shared by the workers), all of them reads, counted in the apiserver's audit log.
(Canary secrets: selftests/runs/test_canaries.py.)
"""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest

from bench import verify
from opscheck.profile import load_profile
from opscheck.sources.kube import STREAM_MIN_BYTES_VAR
from opscheck.sources.packed import PACK_MIN_OBJECTS_VAR
from opscheck.sources.runcache import CACHED_NOTE
from selftests.harness import validate_results
from testenv import cluster

pytestmark = pytest.mark.usefixtures("testenv_up")

READER = "system:serviceaccount:opscheck-system:opscheck"


def run_daily(checks, *args: str, env: dict[str, str] | None = None):
    proc, reports = checks.run_pytest("-m", "daily", *args, env=env)
    folders = sorted(p for p in reports.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert len(folders) == 1, (proc.stdout[-2000:], proc.stderr[-2000:])
    return proc, folders[0]


def test_every_daily_check_passes_on_the_healthy_environment(checks):
    # raw LISTs before and after: a count is right if it is a count over either (a live
    # cluster may change during the run)
    before = verify.raw_lists(cluster.DEMO)
    # every LIST kept packed and its last page decoded object by object, as on a big
    # cluster (the demo's LISTs are below both thresholds; every other run covers those)
    proc, folder = run_daily(checks, env={PACK_MIN_OBJECTS_VAR: "0", STREAM_MIN_BYTES_VAR: "0"})
    after = verify.raw_lists(cluster.DEMO)
    data = json.loads((folder / "results.json").read_text())
    validate_results(data)
    not_passed = {c["id"]: f"{c['outcome']}: {c['message']}" for c in data["checks"] if c["outcome"] != "passed"}
    # A fresh reports directory has no earlier run to judge the schedule against.
    assert not_passed == {
        "daily.checklists-on-schedule": "not applicable: not applicable: no earlier run of a scheduled checklist "
        "in the ledger "
        "yet: the schedule starts with this run"
    }
    assert proc.returncode == 0
    assert data["summary"]["outcomes"]["passed"] == len(data["checks"]) - 1 >= 28
    assert data["run"]["clusters"]["demo"]["server_version"] == "v1.33.13"
    assert sorted(p.name for p in folder.iterdir()) == ["junit.xml", "manifest.json", "report.html", "results.json"]
    profile = load_profile(checks.profile)
    compared, wrong = verify.verify(folder / "results.json", [before, after], profile, "demo")
    assert (compared, wrong) == (19, [])


def audit_entries_since(offset: int) -> list[dict]:
    with open(cluster.audit_log(), "rb") as f:
        f.seek(offset)
        lines = f.read().decode("utf-8", "replace").splitlines()
    return [json.loads(ln) for ln in lines if ln.strip()]


def reader_requests(checks, *args: str) -> Counter:
    """(verb, resource-ish URI) of every request the suite's identity sent during a run."""
    offset = cluster.audit_log().stat().st_size
    run_daily(checks, *args)
    time.sleep(1)  # the audit backend writes asynchronously in batches
    seen: Counter = Counter()
    for e in audit_entries_since(offset):
        if e.get("user", {}).get("username") != READER or e.get("stage") != "ResponseComplete":
            continue
        uri, _, query = e["requestURI"].partition("?")
        if "continue=" in query:
            continue  # the next page of a paginated LIST (a busy cluster has > 500 events)
        seen[(e["verb"], uri)] += 1
    return seen


def test_requests_do_not_grow_with_workers_and_never_write(checks):
    serial = reader_requests(checks, "-n", "0")
    parallel = reader_requests(checks, "-n", "4")
    print(f"audit: -n 0 made {sum(serial.values())} requests, -n 4 made {sum(parallel.values())}")
    assert serial == parallel
    verbs = {verb for verb, _ in serial}
    assert verbs <= {"get", "list"}, verbs
    # One LIST per resource kind per run, whatever the number of checks reading it.
    lists = [uri for (verb, uri), n in serial.items() if verb == "list" for _ in range(n)]
    assert len(lists) == len(set(lists)), Counter(lists).most_common(3)


def test_an_unreachable_cluster_errors_within_bounded_time_and_the_run_goes_on(checks, tmp_path):
    """All Kubernetes checks become errors with the same one-line reason (except the node
    check, which watches the cluster answering: it fails with that reason); the other
    checks still run and the report is written."""
    kubeconfig = cluster.reader_kubeconfig()
    broken_kc = tmp_path / "kubeconfig"
    broken_kc.write_text(kubeconfig.read_text().replace("127.0.0.1:16443", "127.0.0.1:1"))
    profile = tmp_path / "down.yaml"
    profile.write_text(
        checks.profile.read_text().replace(
            "${OPSCHECK_TESTENV_HOME:-~/.local/state/opscheck/testenv}/kubeconfig-reader", str(broken_kc)
        )
    )
    start = time.monotonic()
    proc, reports = checks.run_pytest("-m", "daily", profile=profile)
    elapsed = time.monotonic() - start
    data = json.loads(next(reports.glob("*/results.json")).read_text())
    by_outcome = Counter(c["outcome"] for c in data["checks"])
    reason = "cluster demo (https://127.0.0.1:1) unreachable: connection refused"
    k8s = [c for c in data["checks"] if c["cluster"] == "demo" and c["id"] != "daily.nodes-ready"]
    assert k8s and all(c["outcome"] == "error" for c in k8s)
    # the first attempt's reason; every later check gets it at once, saying it is cached
    cached = f"{reason} ({CACHED_NOTE})"
    assert {c["message"] for c in k8s} <= {f"could not evaluate: {reason}", f"could not evaluate: {cached}"}
    assert any(CACHED_NOTE in c["message"] for c in k8s)
    nodes = [(c["outcome"], c["message"]) for c in data["checks"] if c["id"] == "daily.nodes-ready"]
    assert nodes in ([("failed", reason)], [("failed", cached)])
    assert by_outcome["passed"] >= 8  # the health, Vault, PostgreSQL and Prometheus checks
    assert proc.returncode == 1
    assert elapsed < 60
