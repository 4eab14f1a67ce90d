"""The pytest plugin, tested with pytester on small generated suites (no cluster needed)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from selftests.harness import validate_results
from selftests.pluginsuite import only_run_folder, run, run_checked, write_passing_check

pytest_plugins = ["pytester"]


def test_directory_gives_the_primary_cadence_and_also_adds_more(suite):
    daily = run(suite, "-m", "daily", "--no-report")
    daily.assert_outcomes(passed=1, failed=1, errors=1, skipped=1)  # the error is an error, not a failure
    weekly = run(suite, "-m", "weekly", "--no-report")
    weekly.assert_outcomes(passed=1)
    post = run(suite, "-m", "postdeploy", "--no-report")
    post.assert_outcomes(passed=1)


def test_run_folder_holds_the_three_files_and_the_results(suite):
    result = run(suite, "-m", "daily")
    assert result.ret == 1
    folder = only_run_folder(suite)
    assert re.fullmatch(r"\d{8}T\d{6}Z-daily-unit", folder.name)
    assert sorted(p.name for p in folder.iterdir()) == ["junit.xml", "manifest.json", "report.html", "results.json"]
    data = json.loads((folder / "results.json").read_text())
    validate_results(data)
    outcomes = {c["id"]: c["outcome"] for c in data["checks"]}
    assert outcomes == {
        "daily.passes": "passed",
        "daily.fails": "failed",
        "daily.not-applicable": "not applicable",
        "daily.errors": "error",
    }
    failed = next(c for c in data["checks"] if c["id"] == "daily.fails")
    assert failed["message"] == "2 PVCs not Bound: qsign/data-x (Pending), qsign/data-y (Lost)"
    assert failed["evidence"]["rows"] == [["qsign/data-x", "Pending"], ["qsign/data-y", "Lost"]]
    assert failed["runbook"] == [
        {"key": "000.daily.pvc-bound", "text": "PV/PVC 상태 확인", "runbook": "QSIGN daily operations"}
    ]
    errored = next(c for c in data["checks"] if c["id"] == "daily.errors")
    assert errored["message"] == "could not evaluate: Vault at http://127.0.0.1:1 unreachable: connection refused"
    assert data["summary"]["outcomes"] == {
        "passed": 1,
        "failed": 1,
        "waived": 0,
        "error": 1,
        "not applicable": 1,
        "attested": 0,
    }
    assert data["run"]["profile"]["name"] == "unit" and data["run"]["cadences"] == ["daily"]
    # The terminal shows the concise message, not a traceback.
    result.stdout.fnmatch_lines(["*2 PVCs not Bound: qsign/data-x (Pending)*"])
    assert "Traceback" not in result.stdout.str()


def test_html_report_shows_evidence_and_runbook_text_inline(suite):
    run(suite, "-m", "daily")
    page = (only_run_folder(suite) / "report.html").read_text()
    # pytest-html embeds the rows as JSON in the page; the evidence table and texts are in it.
    assert "opscheck-evidence" in page
    assert "qsign/data-x" in page and "PV/PVC" in page
    assert "kubectl describe pvc" in page
    assert "Profile" in page and "unit" in page


def test_a_test_without_check_in_a_check_directory_is_refused(suite):
    (suite.path / "tests_daily" / "test_plain.py").write_text("def test_plain():\n    pass\n")
    result = run(suite, "-m", "daily")
    assert result.ret == 4
    result.stderr.fnmatch_lines(
        ["ERROR: tests_daily/test_plain.py::test_plain: a test under tests_* must be declared with @check(...)"]
    )
    assert not (suite.path / "reports").exists() or not any((suite.path / "reports").iterdir())


def test_an_unknown_runbook_key_is_refused(suite):
    write_passing_check(suite.path / "tests_daily" / "test_bad.py", "daily.bad", "bad", "999.no.such-key")
    result = run(suite, "-m", "daily")
    assert result.ret == 4
    result.stderr.fnmatch_lines(
        ["*check daily.bad covers unknown runbook key(s) 999.no.such-key: not an item of */runbooks/*.yaml"]
    )


def test_checks_without_a_profile_are_refused(suite):
    result = run_checked(suite, "-m", "daily")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: no environment profile: pass --env PATH or set OPSCHECK_ENV"])


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("name: x\nclusters: [{name: a}]\nbogus: 1\n", "bogus: unknown key"),
        ("name: x\nclusters: []\n", "clusters: List should have at least 1 item after validation, not 0"),
        ("name: x\nclusters:\n  - kubeconfig: /nope\n", "clusters[0].name: required key is missing"),
        (
            "name: x\nclusters: [{name: a, kubeconfig: /nope}]\nthresholds: {cpu_percent: lots}\n",
            "thresholds.cpu_percent: Input should be a valid number, unable to parse string as a number",
        ),
        (
            "name: x\nclusters: [{name: a}]\nvault: {address: http://v, token: s.abcdef}\n",
            "vault.token: must be {env: NAME} or {file: PATH}; secret values never go in a profile",
        ),
        (
            "name: x\nclusters: [{name: a, kubeconfig: /does/not/exist}]\n",
            "clusters[0].kubeconfig: /does/not/exist does not exist",
        ),
        ("name: x\nclusters: [{name: a\n", "line 3, column 1: malformed YAML"),
    ],
)
def test_a_bad_profile_stops_the_run_with_one_line(suite, content, expected):
    (suite.path / "bad.yaml").write_text(content)
    result = run_checked(suite, f"--env={suite.path / 'bad.yaml'}", "-m", "daily")
    assert result.ret == 4
    errors = [ln for ln in result.stderr.lines if ln.strip()]
    assert len(errors) == 1, result.stderr.lines
    assert errors[0].startswith(f"ERROR: {suite.path / 'bad.yaml'}: ")
    assert expected in errors[0]
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_unknown_context_is_named(suite):
    (suite.path / "ctx.yaml").write_text(
        f"name: x\nclusters: [{{name: a, kubeconfig: {suite.path / 'kc.kubeconfig'}, context: prod}}]\n"
    )
    result = run_checked(suite, f"--env={suite.path / 'ctx.yaml'}", "-m", "daily")
    assert result.ret == 4
    assert "clusters[0].context: 'prod' is not in " in result.stderr.str()
    assert "kc.kubeconfig (contexts: ctx)" in result.stderr.str()


def test_profile_from_environment_variable(suite, monkeypatch):
    monkeypatch.setenv("OPSCHECK_ENV", str(suite.path / "profile.yaml"))
    result = run_checked(suite, "-m", "weekly", "--no-report")
    result.assert_outcomes(passed=1)


def test_catalog_lists_every_check_without_a_profile(suite):
    out = subprocess.run(
        [sys.executable, "-m", "opscheck", "catalog", "--format", "json", "--root", str(suite.path)],
        capture_output=True,
        text=True,
        check=True,
    )
    entries = json.loads(out.stdout)
    by_id = {e["id"]: e for e in entries}
    assert set(by_id) == {"daily.passes", "daily.fails", "daily.not-applicable", "daily.errors", "weekly.only"}
    assert by_id["daily.passes"]["cadences"] == ["daily", "postdeploy"]
    assert by_id["daily.passes"]["nodeid"] == "tests_daily/test_checks.py::test_passes"
    assert by_id["daily.fails"]["covers"] == ["000.daily.pvc-bound"]
    assert by_id["weekly.only"]["cadences"] == ["weekly"]


def test_catalog_refuses_duplicate_ids(suite):
    write_passing_check(suite.path / "tests_weekly" / "test_dup.py", "weekly.only", "dup", "000.weekly.latency-7d")
    out = subprocess.run(
        [sys.executable, "-m", "opscheck", "catalog", "--root", str(suite.path)], capture_output=True, text=True
    )
    assert out.returncode != 0
    assert "duplicate check id weekly.only" in out.stderr


def test_xdist_workers_share_one_fetch_per_key(suite):
    """Four checks on two workers read the same key: it is fetched exactly once."""
    counter = suite.path / "fetches.log"
    (suite.path / "tests_weekly" / "test_shared.py").write_text(
        textwrap.dedent(f"""
        import pytest
        from opscheck.check import check

        def fetch():
            with open({str(counter)!r}, "a") as f:
                f.write("fetch\\n")
            return {{"items": [1, 2, 3]}}

        @pytest.mark.parametrize("n", range(4))
        @check(id="weekly.shared", title="shared", severity="low", covers=["000.weekly.latency-7d"], remediation="x")
        def test_shared(run_cache, evidence, n):
            assert run_cache.get("cluster/list/pods", fetch) == {{"items": [1, 2, 3]}}
        """)
    )
    result = run(suite, "-m", "weekly", "-n", "2", "--no-report")
    result.assert_outcomes(passed=5)
    assert counter.read_text().count("fetch") == 1


def test_hosts_from_the_profile_are_testinfra_hosts(suite, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[2]))  # the repo's fixtures/
    (suite.path / "hosts.yaml").write_text(
        f"name: h\nclusters: [{{name: a, kubeconfig: {suite.path / 'kc.kubeconfig'}, context: ctx}}]\n"
        "hosts:\n  - {name: backup-1, uri: 'local://', roles: [backup]}\n"
    )
    (suite.path / "conftest.py").write_text('pytest_plugins = ["fixtures.hosts"]\n')
    (suite.path / "dump.sql").write_text("-- a dump\n")
    (suite.path / "tests_weekly" / "test_host.py").write_text(
        textwrap.dedent(f"""
        from opscheck.check import check

        @check(id="weekly.host-file", title="dump exists", severity="low", covers=["002.backup.dump-files"], remediation="x")
        def test_host_file(hosts_with_role, evidence):
            (host,) = hosts_with_role("backup")
            assert host.file({str(suite.path / "dump.sql")!r}).size > 0

        @check(id="weekly.no-etcd-host", title="n/a", severity="low", covers=["004.backup.etcd-snapshot"], remediation="x")
        def test_no_role(hosts_with_role, evidence):
            hosts_with_role("control-plane")
        """)
    )
    result = run_checked(
        suite, f"--env={suite.path / 'hosts.yaml'}", "-m", "weekly", "--no-report", "-k", "host_file or no_role"
    )
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.no_fnmatch_line("*Traceback*")


def test_an_absent_component_is_not_applicable_unless_the_profile_requires_it(suite):
    (suite.path / "tests_weekly" / "test_component.py").write_text(
        textwrap.dedent("""
        import pytest
        from opscheck.check import check, component_absent

        @pytest.fixture
        def velero(profile):
            component_absent(profile.required, "velero", "no Velero Backup CRD in cluster one")

        @check(id="weekly.velero", title="velero", severity="high", covers=["002.daily.velero-backups"], remediation="x")
        def test_velero(velero, evidence):
            pass
        """)
    )
    run(suite, "-m", "weekly", "-k", "velero", "--report-dir=optional")
    data = json.loads(next((suite.path / "optional").glob("*/results.json")).read_text())
    assert [(c["outcome"], c["message"]) for c in data["checks"]] == [
        ("not applicable", "not applicable: no Velero Backup CRD in cluster one")
    ]
    required = suite.path / "required.yaml"
    required.write_text((suite.path / "profile.yaml").read_text().rstrip() + "\nrequired: [velero]\n")
    result = run_checked(suite, f"--env={required}", "--report-dir=required", "-m", "weekly", "-k", "velero")
    assert result.ret == 1
    data = json.loads(next((suite.path / "required").glob("*/results.json")).read_text())
    assert [(c["outcome"], c["message"]) for c in data["checks"]] == [
        ("failed", "velero is required by the profile but absent: no Velero Backup CRD in cluster one")
    ]


def test_a_bad_schedule_duration_is_named(suite):
    bad = suite.path / "bad-schedule.yaml"
    bad.write_text((suite.path / "profile.yaml").read_text().rstrip() + "\nschedule:\n  max_age: {weekly: 8 days}\n")
    result = run_checked(suite, f"--env={bad}", "-m", "daily")
    assert result.ret == 4
    result.stderr.fnmatch_lines(
        ["ERROR: *bad-schedule.yaml: schedule.max_age: weekly: '8 days' is not a duration like 90m, 26h, 8d or 2w"]
    )
