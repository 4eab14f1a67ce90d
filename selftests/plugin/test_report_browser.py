"""The HTML report as a person sees it: headless Chromium (pytester)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from selftests.jsonserver import serving_json
from selftests.pluginsuite import only_run_folder, run, verify

pytest_plugins = ["pytester"]


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium(*args: str, profile_dir: Path) -> subprocess.CompletedProcess[str]:
    """Debian's Chromium, headless, with no network chatter (testenv/install-system-packages.sh installs it)."""
    binary = shutil.which("chromium")
    assert binary, "chromium is not installed: run testenv/install-system-packages.sh"
    return subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", *args], capture_output=True, text=True, timeout=120
    )


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
    # A screenshot for a person to review, kept outside the run: the seal covers every file in it.
    shot = tmp_path / "review" / "report.png"
    shot.parent.mkdir()
    chromium("--window-size=1400,2400", f"--screenshot={shot}", uri, profile_dir=tmp_path / "chromium2")
    assert shot.stat().st_size > 20_000
    assert verify(folder.parent).returncode == 0


# -- hostile strings: shown, never run ---------------------------------------------------------
def hostile(field: str) -> str:
    """Markup that, if the report ran it, would leave an element with id `pwned-<field>...` in
    the DOM and change the page title: a script, an image's onerror, a javascript: link, and a
    `</td>` that would close the cell around it."""
    return (
        f"<script>document.title='PWNED {field}'</script>"
        f"<img src=x onerror=\"this.id='pwned-{field}';document.title='PWNED {field}'\">"
        f'</td></tr></table><b id="pwned-{field}-markup">x</b>'
        f'<a id="pwned-{field}-link" href="javascript:document.title=\'PWNED {field}\'">click</a>'
    )


# Hostile strings in every field a check or the environment can put in the report, and control
# characters in the message the terminal prints.
HOSTILE_CHECKS = f'''
import pytest
from opscheck.check import check

@check(id="daily.hostile", severity="critical", covers=["000.daily.pvc-bound"])
def test_hostile(cluster, evidence):
    """{hostile("title")}

    {hostile("remediation")}
    """
    evidence.note({hostile("note")!r})
    evidence.table([{{"object": {hostile("row")!r}, {hostile("column")!r}: {hostile("cell")!r}}}])
    evidence.fail({hostile("message")!r} + "\\x1b[2J\\x1b[31m\\rOVERWRITTEN\\x9b")

@check(id="daily.hostile-skip", title="skips", severity="low", covers=["000.daily.hsm-connected"], remediation="none")
def test_hostile_skip(evidence):
    pytest.skip({hostile("skip")!r})
'''

HOSTILE_CONFTEST = """
import pytest
from opscheck.sources.kube import KubeCluster

@pytest.fixture
def cluster(request, profile, run_cache):
    config = next(c for c in profile.clusters if c.name == request.param)
    kube = KubeCluster(config, run_cache)
    kube.version()
    return kube
"""


@pytest.fixture
def hostile_api_server():
    """An API server whose /version answers a hostile gitVersion (a real HTTP server)."""
    with serving_json({"major": "1", "minor": "33", "gitVersion": hostile("version")}) as url:
        yield url


def test_hostile_strings_in_every_field_are_shown_as_text_and_never_run(
    pytester, hostile_api_server, monkeypatch, tmp_path
):
    context = "<img src=x onerror=this.id='pwned-context'>"
    kubeconfig = pytester.path / "kc.kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": hostile_api_server}}],
                "users": [{"name": "u", "user": {"token": "not-a-real-token"}}],
                "contexts": [{"name": context, "context": {"cluster": "c", "user": "u"}}],
                "current-context": context,
            }
        )
    )
    # The profile's name is a plain word (validated); its file name is not: it is shown too.
    profile = pytester.path / "<img src=x onerror=this.id='pwned-profile'>.yaml"
    profile.write_text(
        f'name: hostile\nclusters:\n  - name: one\n    kubeconfig: {kubeconfig}\n    context: "{context}"\n'
        "namespaces: [qsign]\n"
    )
    pytester.makepyprojecttoml('[tool.pytest.ini_options]\naddopts = ["--strict-markers"]\n')
    pytester.makeconftest(HOSTILE_CONFTEST)
    (pytester.mkdir("tests_daily") / "test_hostile.py").write_text(HOSTILE_CHECKS)
    monkeypatch.setenv("CI_COMMIT_REF_NAME", hostile("ci"))  # pytest-metadata shows it in Environment

    from selftests.pluginsuite import run_checked

    result = run_checked(pytester, f"--env={profile}", "--report-dir=reports", "-m", "daily")
    assert result.ret == 1, result.stdout.str()
    folder = only_run_folder(pytester)
    data = json.loads((folder / "results.json").read_text())
    assert data["run"]["clusters"]["one"]["server_version"] == hostile("version")
    check = next(c for c in data["checks"] if c["id"] == "daily.hostile")
    assert check["outcome"] == "failed" and check["message"].startswith(hostile("message"))
    # The terminal shows the control characters, they do not act.
    terminal = result.stdout.str() + result.stderr.str()
    assert "\\x1b[2J\\x1b[31m\\x0dOVERWRITTEN\\x9b" in terminal
    assert "\x1b[2J" not in terminal and "\rOVERWRITTEN" not in terminal and "\x9b" not in terminal

    dom = chromium(
        "--virtual-time-budget=3000", "--dump-dom", (folder / "report.html").as_uri(), profile_dir=tmp_path / "c"
    ).stdout
    assert "</html>" in dom and "daily.hostile" in dom
    fields = ["title", "remediation", "note", "row", "column", "cell", "message", "skip", "ci", "version"]
    fields += ["profile", "context"]
    # Every hostile string reached the page (as text: its id appears only inside the text)...
    assert [f for f in fields if f"pwned-{f}" not in dom] == []
    # ... and none ran or became markup: no element of theirs, no javascript: link, the title kept.
    elements = ElementsOf()
    elements.feed(dom)
    assert [i for i in elements.ids if i.startswith("pwned-")] == []
    assert [h for h in elements.hrefs if h.strip().lower().startswith("javascript:")] == []
    assert elements.title.startswith("opscheck") and "PWNED" not in elements.title


class ElementsOf(HTMLParser):
    """The ids and links of a dumped DOM's elements, and its title (text inside them is not an element)."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.hrefs: list[str] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.ids.append(attributes.get("id") or "")
        self.hrefs.append(attributes.get("href") or "")
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
