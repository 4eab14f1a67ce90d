"""How each outcome of results.json appears in the run's other records.

results.json is the truth; the terminal, junit.xml, report.html, the metrics and the exit
code show the same outcome for every check, through these tables (README, "Outcomes and the
JUnit mapping"). opscheck/record/agreement.py reads the records back through them.
"""

from __future__ import annotations

from opscheck.record.results import OUTCOMES

# pytest's terminal: (category counted in the closing line, progress letter, verbose word).
TERMINAL_STATUS: dict[str, tuple[str, str, str]] = {
    "passed": ("passed", ".", "PASSED"),
    "failed": ("failed", "F", "FAILED"),
    "error": ("error", "E", "ERROR"),
    "not applicable": ("skipped", "s", "SKIPPED"),
    "waived": ("waived", "w", "WAIVED"),
    "attested": ("attested", "A", "ATTESTED"),
}
# The closing line's words back to outcomes (pytest writes "1 error" but "2 errors").
TERMINAL_WORDS: dict[str, str] = {category: outcome for outcome, (category, _, _) in TERMINAL_STATUS.items()} | {
    "errors": "error"
}

# report.html (pytest-html): (its own result, which counts and filters the row; the label shown).
HTML_RESULT: dict[str, tuple[str, str]] = {
    "passed": ("Passed", "Passed"),
    "failed": ("Failed", "Failed"),
    "error": ("Error", "Error"),
    "not applicable": ("Skipped", "Not applicable"),
    "waived": ("Skipped", "Waived"),
    "attested": ("Passed", "Attested"),
}

# junit.xml: the element a testcase carries (None: none, a pass).
JUNIT_ELEMENT: dict[str, str | None] = {
    "passed": None,
    "failed": "failure",
    "error": "error",
    "not applicable": "skipped",
    "waived": "skipped",
    "attested": None,
}

assert set(TERMINAL_STATUS) == set(HTML_RESULT) == set(JUNIT_ELEMENT) == set(OUTCOMES)
