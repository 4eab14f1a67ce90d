"""The pytest plugin, tested with pytester on small generated suites (no cluster needed)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from selftests.harness import validate_results

pytest_plugins = ["pytester"]

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:9", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: not-a-real-token}}]
contexts: [{name: ctx, context: {cluster: c, user: u}}]
current-context: ctx
"""

CHECKS = '''
from opscheck.check import check
from opscheck.errors import DependencyError

@check(id="daily.passes", title="passes", severity="low", covers=["000.daily.pods-running"],
       remediation="nothing", also=["postdeploy"])
def test_passes(evidence):
    evidence.expect_none([], "pods not Running")

@check(id="daily.fails", title="fails", severity="critical", covers=["000.daily.pvc-bound"],
       remediation="kubectl describe pvc")
def test_fails(evidence):
    evidence.expect_none([{"object": "qsign/data-x", "detail": "Pending"},
                          {"object": "qsign/data-y", "detail": "Lost"}], "PVCs not Bound")

@check(id="daily.not-applicable", title="n/a", severity="medium", covers=["000.daily.hsm-connected"],
       remediation="none")
def test_not_applicable(evidence):
    import pytest
    pytest.skip("not applicable: no hsm_service in this profile")

@check(id="daily.errors", title="errors", severity="high", covers=["000.daily.vault-unsealed"],
       remediation="none")
def test_errors(evidence):
    raise DependencyError("Vault at http://127.0.0.1:1 unreachable: connection refused")
'''


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """A minimal suite: a profile, a kubeconfig, daily and weekly checks."""
    pytester.makefile(".kubeconfig", kc=KUBECONFIG)
    pytester.makefile(".yaml", profile=textwrap.dedent(f"""\
        name: unit
        clusters:
          - name: one
            kubeconfig: {pytester.path / 'kc.kubeconfig'}
            context: ctx
        namespaces: [qsign]
        """))
    pytester.makepyprojecttoml('[tool.pytest.ini_options]\naddopts = ["--strict-markers"]\n')
    daily = pytester.mkdir("tests_daily")
    (daily / "test_checks.py").write_text(CHECKS)
    weekly = pytester.mkdir("tests_weekly")
    (weekly / "test_weekly.py").write_text(textwrap.dedent('''
        from opscheck.check import check

        @check(id="weekly.only", title="weekly", severity="low", covers=["000.weekly.latency-7d"], remediation="x")
        def test_weekly(evidence):
            pass
        '''))
    return pytester


def run(suite: pytest.Pytester, *args: str) -> pytest.RunResult:
    return suite.runpytest_subprocess(f"--env={suite.path / 'profile.yaml'}", "--report-dir=reports", *args)


def only_run_folder(suite: pytest.Pytester) -> Path:
    folders = [p for p in (suite.path / "reports").iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert len(folders) == 1, folders
    return folders[0]


def test_directory_gives_the_primary_cadence_and_also_adds_more(suite):
    daily = run(suite, "-m", "daily", "--no-report")
    daily.assert_outcomes(passed=1, failed=2, skipped=1)
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
    assert outcomes == {"daily.passes": "passed", "daily.fails": "failed",
                        "daily.not-applicable": "not applicable", "daily.errors": "error"}
    failed = next(c for c in data["checks"] if c["id"] == "daily.fails")
    assert failed["message"] == "2 PVCs not Bound: qsign/data-x (Pending), qsign/data-y (Lost)"
    assert failed["evidence"]["rows"] == [["qsign/data-x", "Pending"], ["qsign/data-y", "Lost"]]
    assert failed["runbook"] == [{"key": "000.daily.pvc-bound", "text": "PV/PVC 상태 확인",
                                  "runbook": "QSIGN daily operations"}]
    errored = next(c for c in data["checks"] if c["id"] == "daily.errors")
    assert errored["message"] == "could not evaluate: Vault at http://127.0.0.1:1 unreachable: connection refused"
    assert data["summary"]["outcomes"] == {"passed": 1, "failed": 1, "waived": 0, "error": 1, "not applicable": 1}
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
    result.stderr.fnmatch_lines(["ERROR: tests_daily/test_plain.py::test_plain: a test under tests_* must be declared with @check(...)"])
    assert not (suite.path / "reports").exists() or not any((suite.path / "reports").iterdir())


def test_an_unknown_runbook_key_is_refused(suite):
    (suite.path / "tests_daily" / "test_bad.py").write_text(textwrap.dedent('''
        from opscheck.check import check

        @check(id="daily.bad", title="bad", severity="low", covers=["999.no.such-key"], remediation="x")
        def test_bad(evidence):
            pass
        '''))
    result = run(suite, "-m", "daily")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*check daily.bad covers unknown runbook key(s): 999.no.such-key"])


def test_checks_without_a_profile_are_refused(suite):
    result = suite.runpytest_subprocess("-m", "daily")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: no environment profile: pass --env PATH or set OPSCHECK_ENV"])


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("name: x\nclusters: [{name: a}]\nbogus: 1\n", "bogus: unknown key"),
        ("name: x\nclusters: []\n", "clusters: List should have at least 1 item after validation, not 0"),
        ("name: x\nclusters:\n  - kubeconfig: /nope\n", "clusters[0].name: required key is missing"),
        ("name: x\nclusters: [{name: a, kubeconfig: /nope}]\nthresholds: {cpu_percent: lots}\n",
         "thresholds.cpu_percent: Input should be a valid number, unable to parse string as a number"),
        ("name: x\nclusters: [{name: a}]\nvault: {address: http://v, token: s.abcdef}\n",
         "vault.token: must be {env: NAME} or {file: PATH}; secret values never go in a profile"),
        ("name: x\nclusters: [{name: a, kubeconfig: /does/not/exist}]\n",
         "clusters[0].kubeconfig: /does/not/exist does not exist"),
        ("name: x\nclusters: [{name: a\n", "line 3, column 1: malformed YAML"),
    ],
)
def test_a_bad_profile_stops_the_run_with_one_line(suite, content, expected):
    (suite.path / "bad.yaml").write_text(content)
    result = suite.runpytest_subprocess(f"--env={suite.path / 'bad.yaml'}", "-m", "daily")
    assert result.ret == 4
    errors = [ln for ln in result.stderr.lines if ln.strip()]
    assert len(errors) == 1, result.stderr.lines
    assert errors[0].startswith(f"ERROR: {suite.path / 'bad.yaml'}: ")
    assert expected in errors[0]
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_unknown_context_is_named(suite):
    (suite.path / "ctx.yaml").write_text(
        f"name: x\nclusters: [{{name: a, kubeconfig: {suite.path / 'kc.kubeconfig'}, context: prod}}]\n")
    result = suite.runpytest_subprocess(f"--env={suite.path / 'ctx.yaml'}", "-m", "daily")
    assert result.ret == 4
    assert "clusters[0].context: 'prod' is not in " in result.stderr.str()
    assert "kc.kubeconfig (contexts: ctx)" in result.stderr.str()


def test_profile_from_environment_variable(suite, monkeypatch):
    monkeypatch.setenv("OPSCHECK_ENV", str(suite.path / "profile.yaml"))
    result = suite.runpytest_subprocess("-m", "weekly", "--no-report")
    result.assert_outcomes(passed=1)


def test_catalog_lists_every_check_without_a_profile(suite):
    out = subprocess.run([sys.executable, "-m", "opscheck", "catalog", "--format", "json", "--root", str(suite.path)],
                         capture_output=True, text=True, check=True)
    entries = json.loads(out.stdout)
    by_id = {e["id"]: e for e in entries}
    assert set(by_id) == {"daily.passes", "daily.fails", "daily.not-applicable", "daily.errors", "weekly.only"}
    assert by_id["daily.passes"]["cadences"] == ["daily", "postdeploy"]
    assert by_id["daily.passes"]["nodeid"] == "tests_daily/test_checks.py::test_passes"
    assert by_id["daily.fails"]["covers"] == ["000.daily.pvc-bound"]
    assert by_id["weekly.only"]["cadences"] == ["weekly"]


def test_catalog_refuses_duplicate_ids(suite):
    (suite.path / "tests_weekly" / "test_dup.py").write_text(textwrap.dedent('''
        from opscheck.check import check

        @check(id="weekly.only", title="dup", severity="low", covers=["000.weekly.latency-7d"], remediation="x")
        def test_dup(evidence):
            pass
        '''))
    out = subprocess.run([sys.executable, "-m", "opscheck", "catalog", "--root", str(suite.path)],
                         capture_output=True, text=True)
    assert out.returncode != 0
    assert "duplicate check id weekly.only" in out.stderr


def test_xdist_workers_share_one_fetch_per_key(suite):
    """Four checks on two workers read the same key: it is fetched exactly once."""
    counter = suite.path / "fetches.log"
    (suite.path / "tests_weekly" / "test_shared.py").write_text(textwrap.dedent(f'''
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
        '''))
    result = run(suite, "-m", "weekly", "-n", "2", "--no-report")
    result.assert_outcomes(passed=5)
    assert counter.read_text().count("fetch") == 1


def test_hosts_from_the_profile_are_testinfra_hosts(suite, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[1]))  # the repo's fixtures/
    (suite.path / "hosts.yaml").write_text(
        f"name: h\nclusters: [{{name: a, kubeconfig: {suite.path / 'kc.kubeconfig'}, context: ctx}}]\n"
        "hosts:\n  - {name: backup-1, uri: 'local://', roles: [backup]}\n")
    (suite.path / "conftest.py").write_text('pytest_plugins = ["fixtures.hosts"]\n')
    (suite.path / "dump.sql").write_text("-- a dump\n")
    (suite.path / "tests_weekly" / "test_host.py").write_text(textwrap.dedent(f'''
        from opscheck.check import check

        @check(id="weekly.host-file", title="dump exists", severity="low", covers=["002.backup.dump-files"], remediation="x")
        def test_host_file(hosts_with_role, evidence):
            (host,) = hosts_with_role("backup")
            assert host.file({str(suite.path / 'dump.sql')!r}).size > 0

        @check(id="weekly.no-etcd-host", title="n/a", severity="low", covers=["004.backup.etcd-snapshot"], remediation="x")
        def test_no_role(hosts_with_role, evidence):
            hosts_with_role("control-plane")
        '''))
    result = suite.runpytest_subprocess(f"--env={suite.path / 'hosts.yaml'}", "-m", "weekly", "--no-report",
                                        "-k", "host_file or no_role")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.no_fnmatch_line("*Traceback*")


LOW_FAILURE = '''
from opscheck.check import check

@check(id="daily.low-fails", title="low", severity="low", covers=["000.daily.warning-events"], remediation="x")
def test_low(evidence):
    evidence.fail("1 Warning event")
'''


def test_fail_on_reports_lower_severities_without_failing_the_run(suite):
    (suite.path / "tests_daily" / "test_low.py").write_text(LOW_FAILURE)
    assert run(suite, "-m", "daily", "-k", "passes or low").ret == 1
    result = run(suite, "-m", "daily", "-k", "passes or low", "--fail-on=medium", "--report-dir=gated")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["opscheck: not failing the run (--fail-on=medium): daily.low-fails"])
    data = json.loads(next((suite.path / "gated").glob("*/results.json")).read_text())
    assert data["gate"] == {"fail_on": "medium", "allow_errors": False, "failing": [], "not_gating": ["daily.low-fails"]}
    low = next(c for c in data["checks"] if c["id"] == "daily.low-fails")
    assert low["outcome"] == "failed"  # reported as failed, never as passed
    # A critical failure still fails the run whatever --fail-on says.
    assert run(suite, "-m", "daily", "-k", "fails and not low", "--fail-on=critical", "--no-report").ret == 1


def test_errors_fail_the_run_unless_allowed(suite):
    assert run(suite, "-m", "daily", "-k", "passes or errors", "--no-report").ret == 1
    assert run(suite, "-m", "daily", "-k", "passes or errors", "--no-report", "--allow-errors").ret == 0


def verify(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "opscheck", "verify", str(path)], capture_output=True, text=True)


@pytest.fixture
def three_runs(suite) -> list[Path]:
    """Three sealed runs in one reports directory, oldest first."""
    for _ in range(3):
        run(suite, "-m", "weekly")
    reports = suite.path / "reports"
    runs = sorted((p for p in reports.iterdir() if p.is_dir()),
                  key=lambda p: json.loads((p / "manifest.json").read_text())["seq"])
    assert [json.loads((p / "manifest.json").read_text())["seq"] for p in runs] == [1, 2, 3]
    ok = verify(reports)
    assert ok.returncode == 0, ok.stdout
    assert "3 run(s)" in ok.stdout and "chain intact" in ok.stdout
    return runs


def test_verify_names_a_changed_file(three_runs):
    results = three_runs[1] / "results.json"
    results.write_text(results.read_text().replace('"passed"', '"failed"', 1))
    out = verify(three_runs[0].parent)
    assert out.returncode == 1
    assert f"BROKEN {three_runs[1].name}: results.json changed" in out.stdout


def test_verify_names_a_removed_run(three_runs):
    import shutil

    shutil.rmtree(three_runs[1])
    out = verify(three_runs[0].parent)
    assert out.returncode == 1
    assert f"BROKEN {three_runs[2].name}: run(s) with seq 2 removed before this one (seq 3)" in out.stdout


def test_verify_notices_the_newest_run_removed(three_runs):
    import shutil

    shutil.rmtree(three_runs[2])
    out = verify(three_runs[0].parent)
    assert out.returncode == 1
    assert f"BROKEN {three_runs[2].name}: newest run (seq 3) removed" in out.stdout


def test_verify_notices_an_inserted_or_reordered_run(three_runs):
    # Forge a run between 1 and 2: a copy of run 1 with the next sequence number.
    import shutil

    forged = three_runs[0].parent / (three_runs[0].name + "-forged")
    shutil.copytree(three_runs[0], forged)
    m = json.loads((forged / "manifest.json").read_text())
    m.update(run=forged.name, seq=2, previous={"run": three_runs[0].name, "manifest_sha256": "0" * 64})
    (forged / "manifest.json").write_text(json.dumps(m))
    out = verify(three_runs[0].parent)
    assert out.returncode == 1
    assert "seq 2 repeats or goes back: run inserted or reordered" in out.stdout
    assert "link to the previous run does not match" in out.stdout


def test_verify_names_a_file_added_to_a_sealed_run(three_runs):
    (three_runs[0] / "notes.txt").write_text("added later")
    out = verify(three_runs[0].parent)
    assert f"BROKEN {three_runs[0].name}: notes.txt added after the run was sealed" in out.stdout


def test_an_interrupted_run_leaves_no_folder_that_verifies(three_runs, suite):
    """A partial folder of an interrupted run is hidden and never sealed."""
    (three_runs[0].parent / ".partial-20991231T000000Z-weekly-unit-x").mkdir()
    assert verify(three_runs[0].parent).returncode == 0
    (three_runs[0].parent / "20991231T000000Z-weekly-unit").mkdir()
    out = verify(three_runs[0].parent)
    assert "20991231T000000Z-weekly-unit: no manifest.json: not a sealed run" in out.stdout


def test_each_result_says_what_changed_since_the_previous_run(suite):
    (suite.path / "tests_daily" / "test_flag.py").write_text(textwrap.dedent(f'''
        from pathlib import Path
        from opscheck.check import check

        @check(id="daily.flag", title="flag", severity="high", covers=["000.daily.pvc-bound"], remediation="x")
        def test_flag(evidence):
            if Path({str(suite.path / "broken.flag")!r}).exists():
                evidence.fail("the flag is set")
        '''))
    flag = suite.path / "broken.flag"

    def change() -> dict:
        run(suite, "-m", "daily", "-k", "flag")
        folders = sorted((p for p in (suite.path / "reports").iterdir() if (p / "manifest.json").exists()),
                         key=lambda p: json.loads((p / "manifest.json").read_text())["seq"])
        data = json.loads((folders[-1] / "results.json").read_text())
        validate_results(data)
        return data["run"]["started"], data["checks"][0]["change"]

    flag.touch()
    first_started, first = change()
    assert first["status"] == "first run" and first["failing_since"] == first_started
    _, second = change()
    assert second["status"] == "still failing" and second["failing_since"] == first_started
    assert second["previous_outcome"] == "failed"
    _, third = change()
    assert third["failing_since"] == first_started  # carried over the whole streak
    flag.unlink()
    _, fixed = change()
    assert fixed["status"] == "fixed" and fixed["failing_since"] is None
    flag.touch()
    started, again = change()
    assert again["status"] == "newly failing" and again["failing_since"] == started


def test_trace_maps_runbook_items_to_checks_and_their_latest_outcome(suite):
    run(suite, "-m", "daily")
    out = subprocess.run([sys.executable, "-m", "opscheck", "trace", "--format", "json", "--root", str(suite.path),
                          "--reports", str(suite.path / "reports")], capture_output=True, text=True, check=True)
    rows = {r["key"]: r for r in json.loads(out.stdout)}
    assert rows["000.daily.pvc-bound"]["checks"][0]["id"] == "daily.fails"
    assert rows["000.daily.pvc-bound"]["checks"][0]["outcome"] == "failed"
    assert rows["000.daily.pvc-bound"]["text"] == "PV/PVC 상태 확인"
    assert rows["000.weekly.latency-7d"]["checks"] == [{"id": "weekly.only", "outcome": None, "run": None, "profile": None}]
    assert rows["002.daily.redis-ping"]["gap"] is True
    text = subprocess.run([sys.executable, "-m", "opscheck", "trace", "--root", str(suite.path),
                           "--reports", str(suite.path / "reports")], capture_output=True, text=True, check=True).stdout
    assert "002.daily.redis-ping" in text and "GAP: no check" in text
    assert text.strip().endswith("150 runbook items, 5 covered, 145 gaps")
    page = (only_run_folder(suite) / "report.html").read_text()
    assert "Traceability matrix" in page and "145 gaps" in page


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium(*args: str, profile_dir: Path) -> subprocess.CompletedProcess[str]:
    """Debian's Chromium, headless, with no network chatter (testenv/install-system-packages.sh installs it)."""
    binary = shutil.which("chromium")
    assert binary, "chromium is not installed: run testenv/install-system-packages.sh"
    return subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", *args],
                          capture_output=True, text=True, timeout=120)


def test_the_html_report_renders_in_a_browser_as_results_json_says(suite, tmp_path):
    run(suite, "-m", "daily")
    folder = only_run_folder(suite)
    outcomes = json.loads((folder / "results.json").read_text())["summary"]["outcomes"]
    uri = (folder / "report.html").as_uri()
    dom = chromium("--dump-dom", uri, profile_dir=tmp_path / "chromium").stdout
    counts = {cls: int(n) for cls, n in re.findall(r'<span class="(passed|failed|skipped|error)">(\d+) ', dom)}
    assert counts["passed"] == outcomes["passed"]
    assert counts["skipped"] == outcomes["not applicable"]
    assert counts["failed"] + counts["error"] == outcomes["failed"] + outcomes["error"]
    # The failed check's row is expanded and shows its evidence table and runbook text.
    # One chunk per result row (the evidence table has a <tbody> of its own, so split, not match).
    rows = dom.split('<tbody class="results-table-row')[1:]
    failed_row = next(r for r in rows if r.startswith(' failed"') and "daily.fails" in r)
    assert "col-result collapsed" not in failed_row
    assert 'class="opscheck-rows"' in failed_row and "qsign/data-x" in failed_row and "PV/PVC" in failed_row
    # A screenshot for a person to review, kept beside the run (a subfolder: the seal covers the run's files).
    shot = folder / "review" / "report.png"
    shot.parent.mkdir()
    chromium("--window-size=1400,2400", f"--screenshot={shot}", uri, profile_dir=tmp_path / "chromium2")
    assert shot.stat().st_size > 20_000
    assert verify(folder.parent).returncode == 0


def waivers_suite(suite, body: str) -> Path:
    (suite.path / "waivers.yaml").write_text(textwrap.dedent(body))
    profile = suite.path / "waived.yaml"
    profile.write_text((suite.path / "profile.yaml").read_text().rstrip() + "\nwaivers: waivers.yaml\n")
    return profile


def test_a_waiver_turns_a_failure_into_waived_and_the_run_passes(suite):
    profile = waivers_suite(suite, """\
        waivers:
          - check: daily.fails
            objects: [qsign/data-x, qsign/data-y]
            justification: storage migration in progress, PVCs recreated after the cutover
            approver: jane.doe (tech_lead)
            ticket: OPS-1234
            expires: 2999-01-31
        """)
    result = suite.runpytest_subprocess(f"--env={profile}", "--report-dir=reports", "-m", "daily", "-k", "fails or passes")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["opscheck: waived: daily.fails (OPS-1234, approved by jane.doe (tech_lead), until 2999-01-31)"])
    data = json.loads((only_run_folder(suite) / "results.json").read_text())
    validate_results(data)
    fails = next(c for c in data["checks"] if c["id"] == "daily.fails")
    assert fails["outcome"] == "waived"  # never "passed"
    assert fails["message"].startswith("2 PVCs not Bound")
    assert fails["waiver"]["ticket"] == "OPS-1234" and fails["waiver"]["state"] == "in force"
    assert data["summary"]["outcomes"]["waived"] == 1 and data["summary"]["outcomes"]["passed"] == 1
    page = (only_run_folder(suite) / "report.html").read_text()
    assert "storage migration in progress" in page


def test_a_waiver_for_some_objects_does_not_hide_a_new_one(suite):
    profile = waivers_suite(suite, """\
        waivers:
          - {check: daily.fails, objects: [qsign/data-x], justification: known, approver: a, ticket: T-1, expires: 2999-01-01}
        """)
    result = suite.runpytest_subprocess(f"--env={profile}", "--no-report", "-m", "daily", "-k", "fails")
    assert result.ret == 1  # qsign/data-y is not covered


def test_an_expired_waiver_no_longer_applies_and_is_flagged(suite):
    profile = waivers_suite(suite, """\
        waivers:
          - {check: daily.fails, justification: old, approver: a, ticket: T-2, expires: 2020-01-01}
        """)
    result = suite.runpytest_subprocess(f"--env={profile}", "--report-dir=reports", "-m", "daily", "-k", "fails")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["opscheck: waiver for daily.fails (T-2) EXPIRED, no longer applies: 2020-01-01"])
    data = json.loads((only_run_folder(suite) / "results.json").read_text())
    assert next(c for c in data["checks"] if c["id"] == "daily.fails")["outcome"] == "failed"
    assert data["waivers"][0]["state"] == "expired"


def test_a_waiver_expiring_within_14_days_is_flagged(suite):
    from datetime import date, timedelta

    soon = (date.today() + timedelta(days=5)).isoformat()
    profile = waivers_suite(suite, f"""\
        waivers:
          - {{check: daily.fails, justification: short, approver: a, ticket: T-3, expires: {soon}}}
        """)
    result = suite.runpytest_subprocess(f"--env={profile}", "--no-report", "-m", "daily", "-k", "fails")
    assert result.ret == 0
    result.stdout.fnmatch_lines([f"opscheck: waiver for daily.fails (T-3) expires soon: {soon}"])


@pytest.mark.parametrize(("body", "expected"), [
    ("waivers:\n  - {check: daily.fails, approver: a, ticket: T, expires: 2999-01-01}\n",
     "waivers[0].justification: required key is missing"),
    ("waivers:\n  - {check: daily.fails, justification: j, approver: a, ticket: T}\n",
     "waivers[0].expires: required key is missing"),
    ("waivers:\n  - {check: daily.fails, justification: '  ', approver: a, ticket: T, expires: 2999-01-01}\n",
     "waivers[0].justification: String should have at least 1 character"),
    ("waivers:\n  - {check: daily.nope, justification: j, approver: a, ticket: T, expires: 2999-01-01}\n",
     "waiver for unknown check id 'daily.nope'"),
    ("waivers: [{check: daily.fails\n", "malformed YAML"),
])
def test_a_bad_waivers_file_stops_the_run(suite, body, expected):
    profile = waivers_suite(suite, body)
    result = suite.runpytest_subprocess(f"--env={profile}", "--report-dir=reports", "-m", "daily")
    assert result.ret == 4
    errors = [ln for ln in result.stderr.lines if ln.strip()]
    assert len(errors) == 1 and expected in errors[0] and "waivers.yaml" in errors[0], errors
    assert not (suite.path / "reports").exists() or not [p for p in (suite.path / "reports").iterdir() if p.is_dir() and not p.name.startswith(".")]
