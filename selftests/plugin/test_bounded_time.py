"""Bounded time, measured against real servers that hold a client (selftests/slowservers.py):
a black hole (accepts, never answers) and a slow drip (headers, then a byte a second)
standing in for the Kubernetes API server, Prometheus, Vault and a service's health endpoint.

Each call ends within its timeout and a margin, on one connection (no retry); a run of many
checks against one dead dependency costs about one timeout, not one per check; the run-cache
lock, host commands and the run as a whole have their limits too.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import testinfra
from filelock import FileLock

from opscheck.errors import DependencyError
from opscheck.profile import ClusterConfig, PrometheusConfig, VaultConfig
from opscheck.sources.hostcommands import bounded
from opscheck.sources.http import new_session
from opscheck.sources.kube import KubeCluster
from opscheck.sources.prometheus import PrometheusReader
from opscheck.sources.runcache import CACHED_NOTE, RunCache
from opscheck.sources.vault import VaultReader
from selftests.pluginsuite import only_run_folder, run_checked
from selftests.slowservers import Server, black_hole, slow_drip, timed

pytest_plugins = ["pytester"]

TIMEOUT = 2.0
# Room for thread scheduling on a loaded machine (the self-tests run two at a time).
MARGIN = 1.0


def kubeconfig(url: str, directory: Path) -> str:
    path = directory / "kubeconfig"
    path.write_text(
        textwrap.dedent(f"""\
        apiVersion: v1
        kind: Config
        clusters: [{{name: c, cluster: {{server: "{url}"}}}}]
        users: [{{name: u, user: {{token: not-a-real-token}}}}]
        contexts: [{{name: ctx, context: {{cluster: c, user: u}}}}]
        current-context: ctx
        """)
    )
    return str(path)


def caller(dependency: str, server: Server, directory: Path) -> Callable[[], Any]:
    """One read of `dependency` served by `server`, as the checks make it."""
    cache = RunCache(directory)
    if dependency == "kubernetes":
        config = ClusterConfig(name="c", kubeconfig=kubeconfig(server.url, directory), timeout_seconds=TIMEOUT)
        return KubeCluster(config, cache).version
    if dependency == "prometheus":
        reader = PrometheusReader(PrometheusConfig(url=server.url, timeout_seconds=TIMEOUT), new_session())
        return lambda: reader.query("up")
    if dependency == "vault":
        return VaultReader(VaultConfig(address=server.url, timeout_seconds=TIMEOUT)).health
    session = new_session()

    def probe() -> None:
        answer = session.probe(server.url + "/health", TIMEOUT)
        raise DependencyError(answer.error)  # a probe never raises: its error is the outcome here

    return probe


DEPENDENCIES = ["kubernetes", "prometheus", "vault", "health"]


def assert_bounded(call: Callable[[], Any], server: Server, expected: str) -> float:
    with timed() as took, pytest.raises(DependencyError) as raised:
        call()
    print(f"{server.url}: {took[0]:.2f} s: {raised.value}")
    assert expected in str(raised.value)
    assert TIMEOUT - 0.1 <= took[0] <= TIMEOUT + MARGIN, f"took {took[0]:.2f} s at a {TIMEOUT:g} s timeout"
    assert server.accepted == 1, f"{server.accepted} connections: a retry"
    return took[0]


@pytest.mark.parametrize("dependency", DEPENDENCIES)
def test_a_black_hole_costs_one_timeout_and_one_connection(dependency, tmp_path):
    with black_hole() as server:
        assert_bounded(caller(dependency, server, tmp_path), server, f"within {TIMEOUT:g}s")


@pytest.mark.parametrize("dependency", DEPENDENCIES)
def test_a_slow_drip_cannot_hold_a_call_beyond_its_timeout(dependency, tmp_path):
    # a byte a second: each read is quick, the answer would take minutes
    with slow_drip() as server:
        assert_bounded(caller(dependency, server, tmp_path), server, f"no complete answer within {TIMEOUT:g}s")


@pytest.mark.parametrize("dependency", ["kubernetes", "prometheus"])
def test_a_slow_drip_of_the_headers_too(dependency, tmp_path):
    with slow_drip(drip_headers=True) as server:
        assert_bounded(caller(dependency, server, tmp_path), server, f"no complete answer within {TIMEOUT:g}s")


def test_once_kubernetes_gave_no_answer_every_other_read_fails_at_once(tmp_path):
    with black_hole() as server:
        path = kubeconfig(server.url, tmp_path)
        cluster = KubeCluster(ClusterConfig(name="c", kubeconfig=path, timeout_seconds=TIMEOUT), RunCache(tmp_path))
        with timed() as took:
            errors = []
            for read in (cluster.version, lambda: cluster.list("pods"), lambda: cluster.list("nodes")):
                with pytest.raises(DependencyError) as raised:
                    read()
                errors.append(str(raised.value))
            # another worker: a fresh process's cache over the same run directory
            other = KubeCluster(cluster.config, RunCache(tmp_path))
            with pytest.raises(DependencyError) as raised:
                other.list("deployments")
            errors.append(str(raised.value))
        assert took[0] <= TIMEOUT + MARGIN, f"4 reads took {took[0]:.2f} s"
        assert server.accepted == 1
    assert CACHED_NOTE not in errors[0] and "unreachable" in errors[0]
    assert all(e == f"{errors[0]} ({CACHED_NOTE})" for e in errors[1:]), errors


def test_once_a_service_gave_no_answer_its_other_requests_fail_at_once(tmp_path):
    cache = RunCache(tmp_path)
    with slow_drip() as server, timed() as took:
        reader = PrometheusReader(PrometheusConfig(url=server.url, timeout_seconds=TIMEOUT), new_session(outages=cache))
        errors = []
        for read in (lambda: reader.query("up"), reader.rules, reader.targets, reader.alerts):
            with pytest.raises(DependencyError) as raised:
                read()
            errors.append(str(raised.value))
        # Vault is another dependency: it is still asked (and answers, here: a drip too)
        with pytest.raises(DependencyError, match="Vault at"):
            VaultReader(
                VaultConfig(address=f"http://localhost:{server.url.rsplit(':', 1)[1]}", timeout_seconds=TIMEOUT), cache
            ).health()
        assert server.accepted == 2
    assert took[0] <= 2 * TIMEOUT + MARGIN
    assert all(CACHED_NOTE in e and "Prometheus at" in e for e in errors[1:]), errors


def test_the_run_cache_lock_times_out_with_a_clear_error(tmp_path):
    cache = RunCache(tmp_path, lock_timeout=0.5)
    _, lock_path = cache._paths("one/list/pods")
    with FileLock(str(lock_path)), timed() as took, pytest.raises(DependencyError) as raised:
        # the holder is this thread's other FileLock object: not reentrant, so it waits
        cache.get("one/list/pods", lambda: [])
    assert took[0] < 2
    assert "one/list/pods still being fetched by another check after 0.5 s" in str(raised.value)


def test_host_commands_are_stopped_at_their_timeout():
    host = testinfra.get_host("local://")
    with timed() as took:
        result = host.run(bounded("sleep %s", 1), "30")
    assert result.rc == 124
    assert took[0] < 1 + MARGIN


# -- whole runs ----------------------------------------------------------------------------------
DEAD_DEPENDENCY_CHECKS = """
from opscheck.check import check

@check(id="daily.kube-{n}", title="k", severity="high", covers=["000.daily.pods-running"], remediation="x")
def test_kube_{n}(cluster, evidence):
    evidence.examined(len(cluster.list("pods")), "pods")

@check(id="daily.prom-{n}", title="p", severity="high", covers=["000.daily.vault-unsealed"], remediation="x")
def test_prom_{n}(prometheus, evidence):
    evidence.examined(len(prometheus.query("up")), "series")
"""


def test_a_run_against_dead_dependencies_pays_about_one_timeout_each(pytester, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[2]))  # the repo's fixtures/
    checks = 6
    with black_hole() as server:
        pytester.makeconftest('pytest_plugins = ["fixtures.k8s", "fixtures.services", "fixtures.monitoring"]')
        pytester.makefile(
            ".yaml",
            profile=textwrap.dedent(f"""\
            name: dead
            clusters:
              - name: one
                kubeconfig: {kubeconfig(server.url, tmp_path)}
                timeout_seconds: {TIMEOUT}
            prometheus: {{url: "{server.url}", timeout_seconds: {TIMEOUT}}}
            """),
        )
        daily = pytester.mkdir("tests_daily")
        (daily / "test_dead.py").write_text("".join(DEAD_DEPENDENCY_CHECKS.format(n=n) for n in range(checks)))
        result = run_checked(pytester, "--env=profile.yaml", "--report-dir=reports", "-n", "2")
        accepted = server.accepted
    results = json.loads((only_run_folder(pytester) / "results.json").read_text())
    outcomes = [c["outcome"] for c in results["checks"]]
    assert outcomes == ["error"] * (2 * checks), result.stdout.str()
    spent = sum(c["duration_seconds"] for c in results["checks"])
    print(f"{2 * checks} checks, {accepted} connections, {spent:.1f} s of check time")
    # Each worker may pay each dependency's timeout once (they start together), no more.
    assert accepted <= 4
    assert spent <= 4 * (TIMEOUT + MARGIN), f"{spent:.1f} s for {2 * checks} checks"
    cached = [c for c in results["checks"] if c["duration_seconds"] < 1]
    assert len(cached) >= 2 * checks - 4
    assert all(CACHED_NOTE in c["message"] for c in cached), [c["message"] for c in cached]


SLOW_CHECKS = """
import time
from opscheck.check import check

@check(id="daily.slow", title="slow", severity="high", covers=["000.daily.pods-running"], remediation="x")
def test_slow(evidence):
    time.sleep(600)  # far past any busy machine's slowness: only the deadline ends it

@check(id="daily.later", title="later", severity="high", covers=["000.daily.pvc-bound"], remediation="x")
def test_later(evidence):
    evidence.expect_none([], "nothing")
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one process", "xdist"])
def test_the_run_deadline_ends_the_run_with_errors_every_record_agrees_on(suite, workers):
    (suite.path / "tests_daily" / "test_checks.py").write_text(SLOW_CHECKS)
    with timed() as took:
        result = run_checked(
            suite, f"--env={suite.path / 'profile.yaml'}", "--report-dir=reports", "--deadline=2", *workers
        )
    results = json.loads((only_run_folder(suite) / "results.json").read_text())
    by_id = {c["id"]: c for c in results["checks"]}
    assert by_id["daily.slow"]["outcome"] == "error"
    assert "run deadline of 2 s reached" in by_id["daily.slow"]["message"]
    if not workers:  # in one process, the next check starts after the deadline: not run
        assert by_id["daily.later"]["outcome"] == "error"
        assert "run deadline of 2 s reached" in by_id["daily.later"]["message"]
    assert by_id["daily.slow"]["duration_seconds"] < 2 + MARGIN
    assert result.ret == 1
    # Not a speed target: a run that waited for the check would take its 600 s.
    assert took[0] < 300, "the slow check was not interrupted"


def test_the_profile_sets_the_run_deadline(suite):
    profile = suite.path / "profile.yaml"
    profile.write_text(profile.read_text().rstrip("\n") + "\nrun: {deadline: 1}\n")
    (suite.path / "tests_daily" / "test_checks.py").write_text(SLOW_CHECKS)
    run_checked(suite, f"--env={profile}", "--report-dir=reports")
    results = json.loads((only_run_folder(suite) / "results.json").read_text())
    assert {c["outcome"] for c in results["checks"]} == {"error"}
    assert all("run deadline of 1 s reached" in c["message"] for c in results["checks"])


def test_an_outage_is_one_dependency_s_not_its_neighbours(tmp_path):
    # hosts and API groups hold dots: each key keeps its own file
    cache = RunCache(tmp_path)
    cache.record_outage("kubernetes http://127.0.0.1:16445", "cluster app1 unreachable: connection refused")
    assert RunCache(tmp_path).known_outage("kubernetes http://127.0.0.1:16446") is None
    assert cache.get("one/discovery/apis/cert-manager.io/v1", lambda: 1) == 1
    assert cache.get("one/discovery/apis/cert-manager.io/v2", lambda: 2) == 2
    with black_hole() as dead, slow_drip(interval=0.001) as alive:
        directory = tmp_path / "kube"
        directory.mkdir()
        config = ClusterConfig(name="dead", kubeconfig=kubeconfig(dead.url, directory), timeout_seconds=TIMEOUT)
        first = KubeCluster(config, cache)
        with pytest.raises(DependencyError):
            first.version()
        other = tmp_path / "other"
        other.mkdir()
        second = KubeCluster(ClusterConfig(name="alive", kubeconfig=kubeconfig(alive.url, other)), cache)
        assert second.version()["status"] == "success"  # the drip's body, at a byte a millisecond
