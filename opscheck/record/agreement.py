"""Do a run's records agree? results.json is the truth; the others must show the same outcomes.

`disagreements(run_dir, terminal=..., exit_code=..., metrics=...)` reads results.json,
junit.xml and report.html of a run folder (and, when given, the run's terminal output, its
exit code and its metrics textfile) and returns one line per disagreement, empty when
every record tells the same story. No pytest here: the self-tests apply it to every run
they make (selftests/harness.py).
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from opscheck.check import SEVERITIES
from opscheck.record.junit import junit_names, junit_outcomes
from opscheck.record.outcomes import HTML_RESULT, TERMINAL_WORDS
from opscheck.record.results import OUTCOMES

# The closing line: "== 1 failed, 2 passed, 1 waived in 0.31s ==" (or without the = under -q).
CLOSING_LINE = re.compile(r"^=*\s*((?:\d+ [a-z ]+?,? )+)in [\d.]+s\b")
SHORT_SUMMARY_LINE = re.compile(r"^(FAILED|ERROR) (\S+)")
HTML_LABELS = {label: outcome for outcome, (_, label) in HTML_RESULT.items()}
METRIC_LINE = re.compile(r"^opscheck_check_status\{(?P<labels>[^}]*)\} (?P<value>\S+)$")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def disagreements(
    run_dir: Path, *, terminal: str | None = None, exit_code: int | None = None, metrics: str | None = None
) -> list[str]:
    """Every way the run's records differ from its results.json (empty: they agree)."""
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    checks = results["checks"]
    truth = {c["nodeid"]: c["outcome"] for c in checks}
    found = summary_problems(results)
    found += gate_problems(results)
    junit = run_dir / "junit.xml"
    if junit.exists():
        found += compare("junit.xml", truth, junit_by_nodeid(junit.read_bytes(), truth))
    else:
        found.append("junit.xml missing")
    page = run_dir / "report.html"
    if page.exists():
        found += compare("report.html", truth, html_outcomes(page.read_text(encoding="utf-8")))
        found += html_count_problems(page.read_text(encoding="utf-8"), Counter(truth.values()))
    if terminal is not None:
        found += terminal_problems(terminal, checks)
    if exit_code is not None:
        expected = 1 if results["gate"]["failing"] else 0
        if exit_code != expected:
            found.append(f"exit code {exit_code}, but results.json's gate says {expected} ({results['gate']})")
    if metrics is not None:
        found += metric_problems(metrics, results)
    return found


def compare(record: str, truth: Mapping[str, str], shown: Mapping[str, str]) -> list[str]:
    found = []
    for nodeid, outcome in truth.items():
        if nodeid not in shown:
            found.append(f"{record}: {nodeid} missing (results.json: {outcome})")
        elif shown[nodeid] != outcome:
            found.append(f"{record}: {nodeid} is {shown[nodeid]}, results.json says {outcome}")
    for nodeid in sorted(set(shown) - set(truth)):
        found.append(f"{record}: {nodeid} ({shown[nodeid]}) is not in results.json")
    return found


def summary_problems(results: Mapping[str, Any]) -> list[str]:
    counted = Counter(c["outcome"] for c in results["checks"])
    summary = results["summary"]["outcomes"]
    return [
        f"results.json: summary counts {summary.get(o, 0)} {o}, its checks {counted.get(o, 0)}"
        for o in OUTCOMES
        if summary.get(o, 0) != counted.get(o, 0)
    ]


def gate_problems(results: Mapping[str, Any]) -> list[str]:
    """results.json's gate must follow from its checks (--fail-on, --allow-errors)."""
    gate = results["gate"]
    gating = SEVERITIES[: SEVERITIES.index(gate["fail_on"]) + 1]
    failing = sorted(
        {
            c["id"]
            for c in results["checks"]
            if (c["outcome"] == "failed" and c["severity"] in gating)
            or (c["outcome"] == "error" and not gate["allow_errors"])
        }
    )
    if failing != sorted(gate["failing"]):
        return [f"results.json: gate fails on {gate['failing']}, its checks say {failing}"]
    return []


def junit_by_nodeid(document: bytes, truth: Mapping[str, str]) -> dict[str, str]:
    """junit.xml's outcomes keyed by the node ids of results.json (a testcase no check has: its name)."""
    by_name = junit_outcomes(document)
    names = {"::".join(junit_names(nodeid)): nodeid for nodeid in truth}
    return {names.get(key, key): outcome for key, outcome in by_name.items()}


def html_tests(page: str) -> dict[str, list[dict[str, Any]]]:
    """pytest-html's rows (its data blob), by node id."""
    match = re.search(r'<div id="data-container" data-jsonblob="([^"]*)"', page)
    if match is None:
        return {}
    return json.loads(html.unescape(match.group(1))).get("tests", {})


def row_label(row: Mapping[str, Any]) -> str:
    """The result a row shows: the visible label cell when there is one, else pytest-html's."""
    cells = " ".join(row.get("resultsTableRow", []))
    shown = re.search(r'<td class="col-label">([^<]*)</td>', cells) or re.search(
        r'<td class="col-result"[^>]*>([^<]*)</td>', cells
    )
    return shown.group(1) if shown else row.get("result", "")


def html_outcomes(page: str) -> dict[str, str]:
    outcomes = {}
    for nodeid, rows in html_tests(page).items():
        labels = [row_label(r) for r in rows]
        if len(labels) != 1:
            outcomes[nodeid] = f"{len(labels)} rows ({', '.join(labels)})"
        else:
            outcomes[nodeid] = HTML_LABELS.get(labels[0], labels[0])
    return outcomes


def html_count_problems(page: str, truth: Counter[str]) -> list[str]:
    """The counts above the table (pytest-html's filters) against results.json's."""
    expected: Counter[str] = Counter()
    for outcome, n in truth.items():
        expected[HTML_RESULT[outcome][0]] += n
    shown = {
        label: int(n) for n, label in re.findall(r'<span class="\w+">(\d+) ([A-Z][a-z]+(?: [a-z]+)?),?</span>', page)
    }
    spans = {"Passed": "Passed", "Failed": "Failed", "Error": "Errors", "Skipped": "Skipped"}  # pytest-html's words
    return [
        f"report.html: counts {shown.get(span, 0)} {span}, results.json {expected.get(result, 0)}"
        for result, span in spans.items()
        if shown.get(span, 0) != expected.get(result, 0)
    ]


def terminal_counts(terminal: str) -> Counter[str] | None:
    """The outcomes pytest's closing line counts (None: no closing line)."""
    for line in reversed(terminal.splitlines()):
        match = CLOSING_LINE.match(line.strip())
        if match:
            counts: Counter[str] = Counter()
            for n, word in re.findall(r"(\d+) ([a-z ]+?)(?:,|$)", match.group(1).strip()):
                counts[TERMINAL_WORDS.get(word, word)] += int(n)
            return counts
    return None


def terminal_problems(terminal: str, checks: list[Mapping[str, Any]]) -> list[str]:
    found = []
    truth = Counter(c["outcome"] for c in checks)
    counts = terminal_counts(terminal)
    if counts is None:
        found.append("terminal: no closing summary line")
    else:
        counts.pop("deselected", None)
        counts.pop("warnings", None)
        counts.pop("warning", None)
        for outcome in sorted(set(truth) | set(counts)):
            if counts.get(outcome, 0) != truth.get(outcome, 0):
                found.append(
                    f"terminal: counts {counts.get(outcome, 0)} {outcome}, results.json {truth.get(outcome, 0)}"
                )
    if "short test summary info" in terminal:
        listed: dict[str, set[str]] = {"FAILED": set(), "ERROR": set()}
        for line in terminal.splitlines():
            match = SHORT_SUMMARY_LINE.match(line)
            if match:
                listed[match.group(1)].add(match.group(2))
        for word, outcome in (("FAILED", "failed"), ("ERROR", "error")):
            expected = {c["nodeid"] for c in checks if c["outcome"] == outcome}
            for nodeid in sorted(listed[word] - expected):
                found.append(f"terminal: {word} {nodeid}, results.json says {outcome_of(checks, nodeid)}")
            for nodeid in sorted(expected - listed[word]):
                found.append(f"terminal: {nodeid} not listed as {word} (results.json: {outcome})")
    return found


def outcome_of(checks: list[Mapping[str, Any]], nodeid: str) -> str:
    return next((c["outcome"] for c in checks if c["nodeid"] == nodeid), "no such check")


def metric_problems(metrics: str, results: Mapping[str, Any]) -> list[str]:
    """opscheck_check_status (a textfile, or a Pushgateway's page) against results.json: this
    run's profile and cadences, one outcome at 1 per check and cluster, the same as results.json's."""
    run = results["run"]
    group = {"profile": run["profile"]["name"], "cadences": ",".join(run.get("cadences") or []) or "all"}
    shown: dict[tuple[str, str], list[str]] = {}
    for line in metrics.splitlines():
        match = METRIC_LINE.match(line)
        if match and float(match.group("value")) == 1:
            labels = dict(LABEL.findall(match.group("labels")))
            if all(labels.get(k) == v for k, v in group.items()):
                shown.setdefault((labels["check"], labels["cluster"]), []).append(labels["outcome"])
    found = []
    for c in results["checks"]:
        key = (c["id"], c.get("cluster") or "none")
        if shown.get(key) != [c["outcome"]]:
            found.append(f"metrics: {key[0]} on {key[1]} is {shown.get(key)}, results.json says {c['outcome']}")
    return found
