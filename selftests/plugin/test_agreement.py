"""One outcome in every record: results.json, the terminal, junit.xml, report.html, the exit
code agree for every outcome, a dependency that dies mid-run included (pytester)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from opscheck.record.agreement import disagreements
from selftests.harness import validate_junit
from selftests.plugin.test_attestations import APPROVAL, attest_suite, now_iso
from selftests.pluginsuite import only_run_folder, run_checked

pytest_plugins = ["pytester"]

# A dependency that really dies mid-run: a TCP server (its own process) that answers its
# first connection and exits. Checks read it through a fixture; once it is gone a read is
# "could not evaluate" (DependencyError), in the call, in a fixture's setup or its teardown.
DEPENDENCY = '''
import socket, subprocess, sys, time

import pytest

from opscheck.check import component_absent
from opscheck.errors import DependencyError

SERVER = """
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
print(s.getsockname()[1], flush=True)
conn, _ = s.accept(); conn.sendall(b"ok"); conn.close(); s.close()
"""


class Dependency:
    def __init__(self, port):
        self.port = port

    def read(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as conn:
                answer = conn.recv(16).decode()
        except OSError as exc:
            raise DependencyError(f"dependency at 127.0.0.1:{self.port} unreachable: {exc.strerror or exc}") from None
        if answer != "ok":  # accepted by a server on its way out
            raise DependencyError(f"dependency at 127.0.0.1:{self.port} closed the connection")
        return answer


@pytest.fixture(scope="session")
def dependency():
    proc = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())
    yield Dependency(port)
    proc.kill()
    proc.wait()


@pytest.fixture
def read_at_setup(dependency):
    return dependency.read()


@pytest.fixture
def read_at_teardown(dependency):
    yield
    dependency.read()


@pytest.fixture
def hsm(profile):
    component_absent(["hsm"], "hsm", "no hsm_service in this profile")
'''


def generated_check(
    name: str, title: str, body: str, covers: str, fixture: str | None = None, remediation: str = "x"
) -> str:
    """The source of check `daily.<name>`, its test taking `fixture` (if any) and `evidence`."""
    params = f"{fixture}, evidence" if fixture else "evidence"
    return f"""

@check(id="daily.{name}", title="{title}", severity="high", covers=["{covers}"], remediation="{remediation}")
def test_{name.replace("-", "_")}({params}):
    {body}
"""


# The one dependency check that passes: it reads the dependency's first (and only) answer.
FIRST_READ_JUDGED = 'evidence.expect_none([] if dependency.read() == "ok" else [{"object": "x"}], "bad answers")'
MORE_CHECKS = (
    "\nfrom opscheck.check import check\n"
    + generated_check(
        "waived",
        "waived",
        'evidence.expect_none([{"object": "qsign/old-pvc", "detail": "Released"}], "PVCs not Bound")',
        "000.daily.pvc-bound",
    )
    + generated_check("required-absent", "required", "pass", "000.daily.hsm-connected", "hsm", "configure the HSM")
    + "".join(
        generated_check(name, title, body, "000.daily.vault-unsealed", fixture)
        for name, title, fixture, body in [
            ("dep-first", "first read", "dependency", FIRST_READ_JUDGED),
            ("dep-call", "read in the call", "dependency", "dependency.read()"),
            ("dep-setup", "read at setup", "read_at_setup", "pass"),
            ("dep-teardown", "read at teardown", "read_at_teardown", 'evidence.expect_none([], "bad answers")'),
        ]
    )
)

# Within the profile's waivers_max_days (90 by default).
SOON = (date.today() + timedelta(days=60)).isoformat()
WAIVERS = f"""\
waivers:
  - check: daily.waived
    objects: [qsign/old-pvc]
    justification: released PVC kept until the data is archived
    approver: jane.doe (tech_lead)
    ticket: OPS-77
    expires: {SOON}
"""

EXPECTED = {
    "daily.passes": "passed",
    "daily.fails": "failed",
    "daily.not-applicable": "not applicable",
    "daily.errors": "error",
    "daily.waived": "waived",
    "daily.required-absent": "failed",
    "daily.dep-first": "passed",
    "daily.dep-call": "error",
    "daily.dep-setup": "error",
    "daily.dep-teardown": "error",
    "predeploy.approvals": "attested",
    "predeploy.change-documented": "not applicable",
}


def every_outcome_suite(suite: pytest.Pytester) -> Path:
    """The plugin suite plus a waived, an attested, a required-but-absent check and checks
    reading a dependency that dies after its first answer; returns the profile to run."""
    profile = attest_suite(
        suite,
        tl=APPROVAL.format(who="kim", role="tech_lead", when=now_iso(2)),
        so=APPROVAL.format(who="park", role="security_officer", when=now_iso(1)),
    )
    conftest = suite.path / "conftest.py"
    conftest.write_text(conftest.read_text() + DEPENDENCY)
    (suite.path / "tests_daily" / "test_more.py").write_text(MORE_CHECKS)
    (suite.path / "waivers.yaml").write_text(WAIVERS)
    profile.write_text(
        profile.read_text().rstrip() + "\nrequired: [hsm]\nwaivers: waivers.yaml\nexport: {textfile_dir: metrics}\n"
    )
    return profile


def run_every_outcome(suite: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict]:
    profile = every_outcome_suite(suite)
    result = run_checked(suite, f"--env={profile}", "--report-dir=reports", "-m", "daily or predeploy", *args)
    data = json.loads((only_run_folder(suite) / "results.json").read_text())
    return result, data


def test_every_outcome_is_the_same_in_every_record(suite):
    result, data = run_every_outcome(suite)
    outcomes = {c["id"]: c["outcome"] for c in data["checks"]}
    # The order matters for the dependency: it answers the first read only.
    assert outcomes == EXPECTED
    assert result.ret == 1
    # The terminal: what pytest counts and lists is what results.json says.
    result.stdout.fnmatch_lines(["*2 failed, 2 passed, 2 skipped, 1 deselected, 4 errors, 1 waived, 1 attested in *"])
    summary = [ln for ln in result.stdout.lines if ln.startswith(("FAILED ", "ERROR "))]
    assert sorted(ln.split(" ")[0] + " " + ln.split(" ")[1].split("::")[-1] for ln in summary) == [
        "ERROR test_dep_call",
        "ERROR test_dep_setup",
        "ERROR test_dep_teardown",
        "ERROR test_errors",
        "FAILED test_fails",
        "FAILED test_required_absent",
    ]
    folder = only_run_folder(suite)
    metrics = (suite.path / "metrics" / "opscheck-unit-daily-predeploy.prom").read_text()
    assert disagreements(folder, terminal=result.stdout.str(), exit_code=result.ret, metrics=metrics) == []


def test_every_outcome_agrees_across_xdist_workers(suite):
    result, data = run_every_outcome(suite, "-n", "2")
    outcomes = {c["id"]: c["outcome"] for c in data["checks"]}
    # Which check gets the dependency's one answer depends on the workers; the rest do not.
    assert {k: v for k, v in outcomes.items() if not k.startswith("daily.dep-")} == {
        k: v for k, v in EXPECTED.items() if not k.startswith("daily.dep-")
    }
    assert disagreements(only_run_folder(suite), terminal=result.stdout.str(), exit_code=result.ret) == []


def test_the_junit_mapping(suite):
    run_every_outcome(suite)
    junit = only_run_folder(suite) / "junit.xml"
    validate_junit(junit)
    import xml.etree.ElementTree as ET

    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites" and root.get("tests") == "12"
    assert (root.get("failures"), root.get("errors")) == ("2", "4")
    suites = {s.get("name"): s for s in root.iter("testsuite")}

    def props(name: str) -> dict[str, str]:
        return {p.get("name"): p.get("value") for p in suites[name].iterfind("properties/property")}

    def case(name: str) -> ET.Element:
        return suites[name].find("testcase")

    assert list(case("daily.passes")) == []
    assert case("daily.fails").find("failure").get("message").startswith("2 PVCs not Bound")
    assert case("daily.errors").find("error").get("message").startswith("could not evaluate: Vault at")
    skipped = case("daily.not-applicable").find("skipped")
    assert skipped.get("message") == "not applicable: no hsm_service in this profile"
    waived = case("daily.waived").find("skipped")
    assert waived.get("message").startswith(f"waived (OPS-77, by jane.doe (tech_lead), until {SOON}): 1 PVCs")
    waiver = {k: v for k, v in props("daily.waived").items() if k.startswith("opscheck.waiver.")}
    assert waiver == {
        "opscheck.waiver.id": "OPS-77",
        "opscheck.waiver.by": "jane.doe (tech_lead)",
        "opscheck.waiver.until": SOON,
        "opscheck.waiver.reason": "released PVC kept until the data is archived",
        "opscheck.waiver.state": "in force",
        "opscheck.waiver.objects": "qsign/old-pvc",
    }
    assert list(case("predeploy.approvals")) == []
    assert props("predeploy.approvals")["opscheck.attestation"].startswith("tech_lead by kim at ")
    assert case("daily.required-absent").find("failure") is not None  # failed at setup: still a failure


def test_the_html_report_shows_each_outcome_once(suite):
    run_every_outcome(suite)
    from opscheck.record.agreement import html_outcomes

    page = (only_run_folder(suite) / "report.html").read_text()
    shown = {nodeid.split("::")[-1]: outcome for nodeid, outcome in html_outcomes(page).items()}
    assert shown["test_waived"] == "waived" and shown["test_errors"] == "error"
    assert shown["test_required_absent"] == "failed" and shown["test_dep_teardown"] == "error"
    assert shown["test_approvals"] == "attested" and shown["test_not_applicable"] == "not applicable"


def test_the_checker_names_a_disagreement(suite, tmp_path):
    run_every_outcome(suite)
    folder = only_run_folder(suite)
    copy = tmp_path / "run"
    copy.mkdir()
    for name in ("results.json", "junit.xml", "report.html"):
        (copy / name).write_bytes((folder / name).read_bytes())
    data = json.loads((copy / "results.json").read_text())
    waived = next(c for c in data["checks"] if c["id"] == "daily.waived")
    waived["outcome"] = "passed"  # a record that says otherwise
    (copy / "results.json").write_text(json.dumps(data))
    found = disagreements(copy, terminal="== 1 failed in 0.1s ==", exit_code=0)
    text = "\n".join(found)
    assert "junit.xml: tests_daily/test_more.py::test_waived is waived, results.json says passed" in text
    assert "report.html: tests_daily/test_more.py::test_waived is waived, results.json says passed" in text
    assert "results.json: summary counts" in text
    assert "terminal: counts 1 failed, results.json 2" in text
    assert "exit code 0, but results.json's gate says 1" in text
