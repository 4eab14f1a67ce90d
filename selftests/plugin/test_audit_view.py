"""The auditor's view in a browser: a run's report.html as the runbook, and a month's audit pack.

One month (November 2026) of real, sealed runs of a three-check suite, each run at its own
date under libfaketime: the checks read a state file that says what is broken that day.
Built once for the module; every test reads it and none writes into its reports directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from datetime import date, timedelta
from pathlib import Path

import pytest
from filelock import FileLock

from selftests.browser import Browser
from selftests.conftest import REPO
from selftests.forkserver import ForkServer
from selftests.pluginsuite import KUBECONFIG

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
MONTH = "2026-11"
MISSED_DAY = date(2026, 11, 12)
MONDAYS = {date(2026, 11, d) for d in (2, 9, 16, 23, 30)}  # the weekly checklist runs too


def broken_on(day: date) -> list[str]:
    """What is broken on `day`: pods on the 5th-7th (repaired on the 8th), the PVC from the
    20th to the month's end (still failing), the weekly latency on the 16th (fixed on the 23rd)."""
    broken = []
    if 5 <= day.day <= 7:
        broken.append("pods")
    if day.day >= 20:
        broken.append("pvc")
    if day.day == 16:
        broken.append("latency")
    return broken


CHECKS = '''
import json
from pathlib import Path
from opscheck.check import check

def broken(name):
    return name in json.loads(Path("state.json").read_text())["broken"]

@check(id="daily.pods", severity="critical", covers=["000.daily.pods-running"])
def test_pods(evidence):
    """Pods are Running

    kubectl -n qsign describe pod qsign-api; fix the crash, then roll the Deployment out.
    """
    rows = [{"object": "qsign/qsign-api-7d9", "detail": "CrashLoopBackOff"}] if broken("pods") else []
    evidence.expect_none(rows, "pods not Running")

@check(id="daily.pvc", severity="high", covers=["000.daily.pvc-bound"])
def test_pvc(evidence):
    """PVCs are Bound

    kubectl -n qsign describe pvc data-x; provision the volume.
    """
    rows = [{"object": "qsign/data-x", "detail": "Pending"}] if broken("pvc") else []
    evidence.expect_none(rows, "PVCs not Bound")
'''

WEEKLY = '''
import json
from pathlib import Path
from opscheck.check import check

@check(id="weekly.latency", severity="low", covers=["000.weekly.latency-7d"])
def test_latency(evidence):
    """p99 latency over 7 days under 500 ms

    Look at the slowest endpoints in the dashboard.
    """
    slow = "latency" in json.loads(Path("state.json").read_text())["broken"]
    evidence.expect_at_most(812 if slow else 140, 500, what="p99 latency", unit="ms")
'''


def days_of_month() -> list[date]:
    first = date(2026, 11, 1)
    return [first + timedelta(days=n) for n in range(30)]


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The suite whose reports/ holds November 2026's sealed runs (daily at 07:00 UTC, but the 12th)."""
    if not LIBFAKETIME.exists():
        pytest.fail(f"{LIBFAKETIME} is missing: run testenv/install-system-packages.sh")
    # Built once per session, by whichever xdist worker comes first (the workers' base temp
    # dirs share the session's as their parent; without xdist, the session's own).
    base = tmp_path_factory.getbasetemp()
    suite = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "audit-month"
    with FileLock(f"{suite}.lock"):
        if not (suite / "built").is_file():
            shutil.rmtree(suite, ignore_errors=True)
            build_month(suite)
            (suite / "built").write_text("")
    return suite


def build_month(suite: Path) -> None:
    suite.mkdir()
    (suite / "runbooks").symlink_to(REPO / "runbooks")
    (suite / "kc.kubeconfig").write_text(KUBECONFIG)
    (suite / "profile.yaml").write_text(
        f"name: packdemo\ndescription: the audit pack's month\nclusters:\n"
        f"  - name: one\n    kubeconfig: {suite / 'kc.kubeconfig'}\n    context: ctx\nnamespaces: [qsign]\n"
    )
    (suite / "pyproject.toml").write_text('[tool.pytest.ini_options]\naddopts = ["--strict-markers"]\n')
    (suite / "tests_daily").mkdir()
    (suite / "tests_daily" / "test_state.py").write_text(textwrap.dedent(CHECKS))
    (suite / "tests_weekly").mkdir()
    (suite / "tests_weekly" / "test_latency.py").write_text(textwrap.dedent(WEEKLY))
    # One fork server under libfaketime: each run is a fork of it (no import cost per run),
    # at the date the timestamp file says when the run starts (re-read on every clock call).
    clock = suite / "faketime"
    clock.write_text("@2026-11-01 07:00:00\n")
    fake = {"LD_PRELOAD": str(LIBFAKETIME), "FAKETIME_TIMESTAMP_FILE": str(clock), "FAKETIME_NO_CACHE": "1"}
    env = os.environ | {"PYTHONPATH": str(REPO)} | fake
    server = ForkServer(env)
    try:
        for day in days_of_month():
            if day == MISSED_DAY:
                continue
            (suite / "state.json").write_text(json.dumps({"broken": broken_on(day)}))
            clock.write_text(f"@{day} 07:00:00\n")
            marks = "daily or weekly" if day in MONDAYS else "daily"
            out = server.run(
                ["-q", "-p", "no:cacheprovider", "-m", marks, "--env=profile.yaml", "--report-dir=reports"],
                cwd=suite,
                env=env,
                timeout=120,
            )
            assert out.returncode in (0, 1) and "report written to" in out.stdout, out.stdout + out.stderr
    finally:
        server.close()


def ledger_bytes(reports: Path) -> dict[str, str]:
    return {
        str(p.relative_to(reports)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(reports.rglob("*"))
        if p.is_file()
    }


def pack(suite: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opscheck", "pack", "--reports", "reports", *args],
        cwd=suite,
        env=os.environ | {"PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def review(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go for a person to look at (outside the sealed runs)."""
    return tmp_path_factory.mktemp("review")


def test_a_failed_runs_report_opens_on_the_runbook_checklist_as_results_json_says(month, review, tmp_path):
    (folder,) = (month / "reports").glob("20261130T*-daily+weekly-packdemo")
    results = json.loads((folder / "results.json").read_text())
    with Browser(tmp_path / "chromium") as browser:
        browser.open(folder / "report.html")
        page = browser.evaluate(
            """(() => {
            const cover = document.getElementById("opscheck-cover");
            const top = cover.getBoundingClientRect().top;
            const counts = {};
            cover.querySelectorAll("#opscheck-outcome-counts [data-outcome]").forEach(
                (b) => { counts[b.dataset.outcome] = Number(b.dataset.count); });
            const items = [...cover.querySelectorAll("tbody.oc-item")].map((t) => ({
                key: t.dataset.key, outcome: t.dataset.outcome,
                shown: [...t.querySelectorAll(".oc-evidence")].filter((d) => d.open).map((d) => d.innerText).join("\\n")}));
            return {top, height: window.innerHeight, counts, items,
                    verdict: document.getElementById("opscheck-verdict").innerText,
                    env: document.getElementById("environment").getBoundingClientRect().top};
        })()"""
        )
        browser.screenshot(review / "report.png")
        # The first screen is the cover and the checklist; pytest-html's Environment comes after.
        assert page["top"] < page["height"] / 3 and page["env"] > page["top"]
        assert page["counts"] == {o: n for o, n in results["summary"]["outcomes"].items() if n}
        assert page["verdict"].startswith("FAILED") and "daily.pvc" in page["verdict"]
        # The runbooks' order, each item with the worst outcome of its checks.
        assert [(i["key"], i["outcome"]) for i in page["items"]] == [
            ("000.daily.pods-running", "passed"),
            ("000.daily.pvc-bound", "failed"),
            ("000.weekly.latency-7d", "passed"),
        ]
        # The failed item's evidence and remediation are open on the screen.
        failed = page["items"][1]["shown"]
        assert "qsign/data-x" in failed and "Pending" in failed and "provision the volume" in failed
        # Printed: every evidence block open, no table row cut across a page.
        browser.media("print")
        printed = browser.evaluate(
            """(() => ({
            closedHidden: [...document.querySelectorAll(".oc-evidence:not([open])")].filter(
                (d) => d.querySelector(".opscheck-rows, p, div") && !d.querySelector(".opscheck-rows, p, div").checkVisibility()).length,
            uncut: [...document.querySelectorAll(".oc-page tr, tbody.oc-item")].every(
                (e) => getComputedStyle(e).breakInside === "avoid"),
        }))()"""
        )
        assert printed == {"closedHidden": 0, "uncut": True}
        browser.screenshot(review / "report-print.png")


def test_the_months_pack_shows_the_grid_missed_runs_and_streaks_the_runs_had(month, review, tmp_path):
    reports = month / "reports"
    before = ledger_bytes(reports)
    out = pack(month, "--month", MONTH, "--profile", "packdemo", "-o", str(tmp_path / "pack.html"))
    assert out.returncode == 0, out.stderr
    assert "29 run(s) of 2026-11-01 to 2026-11-30, ledger intact" in out.stdout
    assert ledger_bytes(reports) == before  # pure reading: no file of the ledger or the reports changed
    with Browser(tmp_path / "chromium") as browser:
        browser.open(tmp_path / "pack.html")
        seen = browser.evaluate(
            """(() => ({
            verdict: document.getElementById("pack-verdict").innerText,
            grid: Object.fromEntries([...document.querySelectorAll("table.oc-grid tr[data-key]")].map(
                (r) => [r.dataset.key, [...r.querySelectorAll("td[data-outcome]")].map((c) => c.dataset.outcome)])),
            missed: Object.fromEntries([...document.querySelectorAll("#missed ~ table tr[data-cadence]")].map(
                (r) => [r.dataset.cadence, r.dataset.missedDays])),
            streaks: [...document.querySelectorAll("tr[data-check]")].map((r) => [r.dataset.check, Number(r.dataset.runs), r.lastElementChild.innerText]),
            mttf: document.querySelector("#streaks + p").innerText,
            plotted: document.querySelectorAll("svg circle").length,
            external: [...document.querySelectorAll("link, script[src], img[src]")].length,
        }))()"""
        )
        browser.screenshot(review / "pack.png")
    assert seen["verdict"].startswith("INTACT")
    expected_daily = {
        "000.daily.pods-running": [
            "missed" if d == MISSED_DAY else "failed" if "pods" in broken_on(d) else "passed" for d in days_of_month()
        ],
        "000.daily.pvc-bound": [
            "missed" if d == MISSED_DAY else "failed" if "pvc" in broken_on(d) else "passed" for d in days_of_month()
        ],
    }
    assert {k: v for k, v in seen["grid"].items() if k in expected_daily} == expected_daily
    assert seen["grid"]["000.weekly.latency-7d"] == ["passed", "passed", "failed", "passed", "passed"]
    assert seen["missed"]["daily"] == "2026-11-12" and seen["missed"]["weekly"] == ""
    # Longest first: the PVC (11 runs, the 20th to the 30th, still failing), the pods (3 runs,
    # fixed on the 8th: 3 days), the latency (one weekly run, fixed a week later).
    assert [s[:2] for s in seen["streaks"]] == [["daily.pvc", 11], ["daily.pods", 3], ["weekly.latency", 1]]
    assert "still failing" in seen["streaks"][0][2] and "2026-11-08 07:00" in seen["streaks"][1][2]
    assert "Mean time to fix: 5.0 days" in seen["mttf"] and "over 2 fixed" in seen["mttf"]
    assert seen["plotted"] == 29 and seen["external"] == 0


def test_the_pack_refuses_bad_input_in_one_line(month, tmp_path):
    for args, code, says in [
        (["--month", "2026-13"], 2, "--month 2026-13: not a month (YYYY-MM)"),
        (["--month", "2026-10"], 2, "no sealed run of profile packdemo in"),
        (["--month", MONTH, "-o", "reports/pack.html"], 2, "refused inside the reports directory"),
    ]:
        out = pack(month, *args, "--profile", "packdemo")
        assert (out.returncode, out.stdout) == (code, ""), out.stderr
        assert out.stderr.count("\n") == 1 and says in out.stderr, out.stderr


def test_a_tampered_ledger_is_said_in_one_line_and_on_the_pack_first(month, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(month / "reports", copy / "reports", symlinks=True)
    (run,) = (copy / "reports").glob("20261115T*")
    (run / "results.json").write_text((run / "results.json").read_text().replace('"failed"', '"passed"'))
    out = pack(copy, "--month", MONTH, "-o", str(tmp_path / "pack.html"))
    assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr
    assert f"ledger BROKEN (1 problem(s), first: {run.name}: results.json changed)" in out.stderr
    assert "BROKEN: 1 problem(s)" in (tmp_path / "pack.html").read_text()
