"""`python -m opscheck validate` and the suite's runbook files: what a run checks at start,
with the same one line and exit code, and no check run."""

from __future__ import annotations

from pathlib import Path

import pytest

from opscheck.cli import main
from opscheck.errors import CatalogError
from opscheck.runbook import parse_runbook
from selftests.pluginsuite import KUBECONFIG

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    monkeypatch.setenv("KUBECONFIG", str(path))
    return path


def test_the_minimal_profile_validates(kubeconfig: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(REPO / "environments" / "minimal.yaml"), "--root", str(REPO)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("profile OK: minimal ("), out
    assert "150 runbook items" in out, out


def test_a_bad_profile_is_the_runs_one_line_and_exit_4(
    kubeconfig: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A window shorter than its checklist's interval: the model's own rule, as a run refuses it.
    profile = tmp_path / "p.yaml"
    profile.write_text(
        f"name: p\nclusters: [{{name: c, kubeconfig: {kubeconfig}}}]\nnamespaces: [x]\n"
        "prometheus: {url: 'http://127.0.0.1:9090', windows: {weekly: 1d}}\n"
    )
    assert main(["validate", str(profile), "--root", str(REPO)]) == 4
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"ERROR: {profile}: prometheus.windows.weekly"), captured.err
    assert captured.out == ""


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("opscheck ")


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("id: '900'\ntitle: t\nitems: [{key: 901.daily.x, cadence: daily, kind: auto, text: t, what: w}]\n", '"900."'),
        ("id: '900'\ntitle: t\nitems: [{key: 900.daily.x, cadence: daily, kind: manual, text: t, what: w}]\n", "kind"),
        ("id: '900'\ntitle: t\nitems: [{key: 900.daily.x, cadence: daily, text: t, what: w}]\n", "missing kind"),
        ("id: '900'\nitems: {key: 900.daily.x}\n", "a list of items"),
        ("id: '900'\nitems: [a: b: c]\n", "malformed YAML"),
        (
            "id: '900'\nitems:\n"
            "  - {key: 900.daily.x, cadence: daily, kind: auto, text: t, what: w}\n"
            "  - {key: 900.daily.x, cadence: daily, kind: auto, text: t, what: w}\n",
            "duplicate key 900.daily.x",
        ),
    ],
)
def test_a_broken_runbook_file_is_one_line_naming_it(text: str, names: str) -> None:
    with pytest.raises(CatalogError) as exc:
        parse_runbook(text, "runbooks/900-ours.yaml")
    message = str(exc.value)
    assert message.startswith("runbooks/900-ours.yaml: ") and names in message and "\n" not in message, message


def test_the_shipped_runbooks_keep_their_keys() -> None:
    items = {}
    for path in sorted((REPO / "runbooks").glob("*.yaml")):
        items.update(parse_runbook(path.read_text(encoding="utf-8"), str(path)))
    assert len(items) == 150
    assert {k.split(".", 1)[0] for k in items} == {"000", "001", "002", "003", "004"}
    assert items["000.daily.pvc-bound"].runbook == "QSIGN daily operations"
