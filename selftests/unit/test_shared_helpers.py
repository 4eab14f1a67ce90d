"""Helpers that replaced code written twice: each must behave as every copy it replaced did."""

from __future__ import annotations

from pathlib import Path

import pytest

from opscheck.profile import DumpFiles, EtcdBackups
from opscheck.rules.alerts import NO_ALERTMANAGER, answering
from opscheck.sources.alertmanager import AlertmanagerState, AlertmanagerStatus
from opscheck.sources.image_scans import OPERATOR_FIELDS, TRIVY_FIELDS, Finding
from testenv.paths import PORTS, local_url, state_dir, under


def test_state_paths_follow_the_state_directory_set_after_import(monkeypatch, tmp_path: Path) -> None:
    home = under(state_dir, "vault")
    token = under(home, "opscheck-token")
    monkeypatch.setenv("OPSCHECK_TESTENV_HOME", str(tmp_path))
    assert token() == tmp_path / "vault" / "opscheck-token"
    assert local_url("vault")() == f"http://127.0.0.1:{PORTS['vault']}"


def test_answering_keeps_the_alertmanagers_order_in_rows_and_offenders() -> None:
    down = AlertmanagerState("http://a", None, frozenset(), "Alertmanager at http://a timed out")
    up = AlertmanagerState("http://b", AlertmanagerStatus("0.27", "ready", {}), frozenset())
    rows: list[dict] = []
    offenders: list[dict] = []
    for am in answering([down, up, down], "state", rows, offenders):
        rows.append({"object": am.url})
    assert [r["object"] for r in rows] == ["Alertmanager http://a", "http://b", "Alertmanager http://a"]
    assert rows[0]["state"] == "Alertmanager at http://a timed out"
    assert offenders == [{"object": "Alertmanager http://a", "detail": "timed out"}] * 2


def test_answering_none_is_an_offender() -> None:
    offenders: list[dict] = []
    assert list(answering([], "state", [], offenders)) == []
    assert offenders == [NO_ALERTMANAGER]


@pytest.mark.parametrize(
    ("vuln", "fields"),
    [
        (
            {
                "VulnerabilityID": "CVE-1",
                "PkgName": "zlib",
                "InstalledVersion": "1",
                "FixedVersion": "2",
                "Severity": "high",
            },
            TRIVY_FIELDS,
        ),
        (
            {
                "vulnerabilityID": "CVE-1",
                "resource": "zlib",
                "installedVersion": "1",
                "fixedVersion": "2",
                "severity": "high",
            },
            OPERATOR_FIELDS,
        ),
    ],
)
def test_a_finding_reads_the_same_from_either_report_format(vuln: dict, fields: tuple) -> None:
    assert Finding.read(vuln, fields) == Finding("CVE-1", "zlib", "1", "2", "HIGH")
    assert Finding.read({}, fields) == Finding("?", "?", "", "", "UNKNOWN")


def test_backup_directories_are_per_host_where_they_say_so() -> None:
    assert DumpFiles(directory="/srv/{host}/dumps").path_on("db1") == "/srv/db1/dumps"
    assert EtcdBackups().path_on("cp1") == "/var/backups/etcd"
