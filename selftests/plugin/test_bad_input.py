"""Every bad input stops the run before anything runs: one line on stderr naming what and
where, exit code 4 (usage error), no traceback, nothing written in the reports directory."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest

from selftests.pluginsuite import runpytest_forked

pytest_plugins = ["pytester"]

BINARY = bytes(range(256)) * 4  # NUL bytes, invalid UTF-8


def soon() -> str:
    return (date.today() + timedelta(days=30)).isoformat()


def waiver(expires: str) -> str:
    return f"waivers:\n  - {{check: daily.fails, justification: j, approver: a, ticket: T-1, expires: {expires}}}\n"


def attestation(when: str) -> str:
    return textwrap.dedent(f"""\
        attestations:
          - item: 001.monthly.docs-update
            who: kim
            role: tech_lead
            when: {when}
            evidence: https://jira.example.com/browse/OPS-1
            valid_days: 30
        """)


def profile_with(suite: pytest.Pytester, extra: str) -> None:
    path = suite.path / "profile.yaml"
    path.write_text(path.read_text().rstrip() + "\n" + textwrap.dedent(extra))


def write_file(path: Path, content: str | bytes) -> None:
    """The bad inputs come as text or as raw bytes (not UTF-8 at all)."""
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)


def kubeconfig(suite: pytest.Pytester, content: str | bytes) -> None:
    write_file(suite.path / "kc.kubeconfig", content)


def with_waivers(suite: pytest.Pytester, content: str | bytes) -> None:
    write_file(suite.path / "waivers.yaml", content)
    profile_with(suite, "waivers: waivers.yaml\n")


def with_attestation(suite: pytest.Pytester, content: str | bytes) -> None:
    folder = suite.path / "att"
    folder.mkdir(exist_ok=True)
    write_file(folder / "a.yaml", content)
    profile_with(suite, "attestations: {dir: att, items: {001.monthly.docs-update: {roles: [tech_lead]}}}\n")


def unreachable_report_dir(suite: pytest.Pytester) -> list[str]:
    (suite.path / "afile").write_text("a file, not a folder")
    return ["--report-dir=afile/reports"]


# case -> (arrange the suite (may return extra pytest args), what the one line must name)
CASES: dict[str, tuple[Callable[[pytest.Pytester], list[str] | None], str]] = {
    "binary profile": (lambda s: (s.path / "profile.yaml").write_bytes(BINARY) and None, "profile.yaml"),
    "duplicate key in profile": (lambda s: profile_with(s, "namespaces: [other]\n"), "namespaces"),
    "unknown required component": (lambda s: profile_with(s, "required: [vaultt]\n"), "vaultt"),
    "vault address htp://": (lambda s: profile_with(s, "vault: {address: 'htp://127.0.0.1:8200'}\n"), "vault.address"),
    "prometheus url without host": (lambda s: profile_with(s, "prometheus: {url: 'http://'}\n"), "prometheus.url"),
    "unset env secret": (
        lambda s: profile_with(
            s, "vault: {address: 'http://127.0.0.1:8200', token: {env: OPSCHECK_NO_SUCH_VARIABLE_SET}}\n"
        ),
        "vault.token",
    ),
    "binary kubeconfig": (lambda s: kubeconfig(s, BINARY), "kubeconfig"),
    "kubeconfig is a string": (lambda s: kubeconfig(s, "just a string\n"), "kubeconfig"),
    "kubeconfig contexts is a string": (
        lambda s: kubeconfig(s, "apiVersion: v1\nkind: Config\ncontexts: ctx\ncurrent-context: ctx\n"),
        "kubeconfig",
    ),
    "context whose cluster is missing": (
        lambda s: kubeconfig(
            s,
            "apiVersion: v1\nkind: Config\nclusters: []\nusers: [{name: u, user: {token: t}}]\n"
            "contexts: [{name: ctx, context: {cluster: gone, user: u}}]\ncurrent-context: ctx\n",
        ),
        "gone",
    ),
    "binary waivers file": (lambda s: with_waivers(s, BINARY), "waivers.yaml"),
    "duplicate key in waivers": (
        lambda s: with_waivers(
            s,
            f"waivers:\n  - check: daily.fails\n    check: daily.passes\n    justification: j\n"
            f"    approver: a\n    ticket: T\n    expires: {soon()}\n",
        ),
        "check",
    ),
    "impossible waiver date": (lambda s: with_waivers(s, waiver("2027-02-30")), "expires"),
    "waiver valid until 2099": (lambda s: with_waivers(s, waiver("2099-12-31")), "waivers_max_days"),
    "waivers path is a directory": (
        lambda s: ((s.path / "waivers.yaml").mkdir(), profile_with(s, "waivers: waivers.yaml\n")) and None,
        "waivers.yaml",
    ),
    "binary attestation file": (lambda s: with_attestation(s, BINARY), "a.yaml"),
    "duplicate key in attestation": (
        lambda s: with_attestation(s, attestation("2026-11-20T09:12:00Z") + "    who: lee\n"),
        "who",
    ),
    "impossible attestation date": (lambda s: with_attestation(s, attestation("2027-02-30T09:12:00Z")), "when"),
    "report directory cannot be created": (unreachable_report_dir, "afile/reports"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_exit_4_and_no_traceback(suite: pytest.Pytester, case: str) -> None:
    arrange, names = CASES[case]
    extra = arrange(suite) or []
    args = [
        f"--env={suite.path / 'profile.yaml'}",
        "--report-dir=reports",
        *extra,
        "-m",
        "daily",
        "-p",
        "no:cacheprovider",
    ]
    result = runpytest_forked(suite, *args)
    out, err = result.stdout.str(), result.stderr.str()
    assert "Traceback" not in out + err, out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert result.ret == 4, (result.ret, out, err)
    assert len(lines) == 1, err
    assert names in lines[0], lines[0]
    reports = suite.path / "reports"
    assert not reports.exists() or not any(reports.iterdir()), list(reports.iterdir())
