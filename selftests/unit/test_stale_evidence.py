"""Evidence of another release, or older than its window, is not evidence: the release's
JUnit files and k6 summary, trivy reports and kube-bench results are aged by the times they
state themselves (never by a file's modification time) and tied to the release being gated."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

from opscheck.profile import ReleaseConfig
from opscheck.rules.image_scans import judge_images
from opscheck.rules.kube_bench import stale_results
from opscheck.rules.release import junit_provenance, load_test_provenance, load_test_window
from opscheck.sources import image_scans, kube_bench
from opscheck.sources.release import read_junit, read_k6_summary

NOW = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


def _junit(path: Path, release: str | None, timestamp: str | None) -> Path:
    props = f'<properties><property name="release" value="{release}"/></properties>' if release else ""
    stamp = f' timestamp="{timestamp}"' if timestamp else ""
    path.write_text(f'<testsuites><testsuite name="unit"{stamp}>{props}<testcase name="a"/></testsuite></testsuites>')
    return path


def test_junit_files_must_state_this_release_and_a_recent_run(tmp_path):
    files = [
        _junit(tmp_path / "ok.xml", "1.5.0", "2026-12-04T22:00:00"),
        _junit(tmp_path / "old-release.xml", "1.4.9", "2026-12-04T22:00:00"),
        _junit(tmp_path / "unlabelled.xml", None, "2026-12-04T22:00:00"),
        _junit(tmp_path / "undated.xml", "1.5.0", None),
        _junit(tmp_path / "stale.xml", "1.5.0", "2026-11-01T08:00:00"),
        _junit(tmp_path / "future.xml", "1.5.0", "2026-12-06T08:00:00+00:00"),
    ]
    totals = read_junit(files)
    assert [(s.file, s.release) for s in totals.suites][:2] == [("ok.xml", "1.5.0"), ("old-release.xml", "1.4.9")]
    assert totals.suites[0].ran_at == datetime(2026, 12, 4, 22, 0, tzinfo=UTC)  # no offset: UTC
    # a file's modification time says nothing: a fresh copy of an old file stays old
    os.utime(tmp_path / "stale.xml", (NOW.timestamp(), NOW.timestamp()))
    assert {o["object"]: o["detail"] for o in junit_provenance(totals.suites, "1.5.0", NOW, WEEK)} == {
        "old-release.xml": "testsuite unit states release 1.4.9, expected 1.5.0",
        "unlabelled.xml": 'testsuite unit states no release (<property name="release">), expected 1.5.0',
        "undated.xml": "testsuite unit states no time it ran (testsuite timestamp)",
        "stale.xml": "testsuite unit ran 34.0 days ago (2026-11-01 08:00Z), older than the 7-day release window",
        "future.xml": "testsuite unit ran in the future (2026-12-06 08:00Z)",
    }


def _k6(path: Path, **top: object) -> Path:
    doc = {"metrics": {"http_reqs": {"count": 10}, "http_req_duration": {"p(95)": 100.0}}, **top}
    path.write_text(json.dumps(doc))
    return path


def test_the_load_test_summary_must_state_this_release_and_when_it_finished(tmp_path):
    ok = read_k6_summary(
        _k6(
            tmp_path / "ok.json",
            release="1.5.0",
            finished_at="2026-12-05T07:30:00Z",
            state={"testRunDurationMs": 600000},
        )
    )
    assert load_test_provenance(ok, "1.5.0", NOW, WEEK) is None
    assert load_test_window(ok) == "2026-12-05 07:20Z-07:30Z (10.0 min)"
    other = read_k6_summary(_k6(tmp_path / "other.json", release="1.4.9", finished_at="2026-12-05T07:30:00Z"))
    assert (
        load_test_provenance(other, "1.5.0", NOW, WEEK) == f"{tmp_path}/other.json states release 1.4.9, expected 1.5.0"
    )
    plain = read_k6_summary(_k6(tmp_path / "plain.json"))  # k6's own export says neither
    assert load_test_provenance(plain, "1.5.0", NOW, WEEK).endswith(
        "plain.json states no release (release), expected 1.5.0"
    )
    assert load_test_window(plain) == "at an unstated time"
    old = read_k6_summary(_k6(tmp_path / "old.json", release="1.5.0", finished_at="2026-10-26T08:00:00Z"))
    assert load_test_provenance(old, "1.5.0", NOW, WEEK).endswith(
        "old.json ran 40.0 days ago (2026-10-26 08:00Z), older than the 7-day release window"
    )
    assert read_k6_summary(tmp_path / "missing.json") is None  # the check fails: nothing published
    (tmp_path / "empty.json").write_text("\n")
    assert read_k6_summary(tmp_path / "empty.json") is None
    bad = read_k6_summary(_k6(tmp_path / "bad.json", release="1.5.0", finished_at="yesterday"))
    assert load_test_provenance(bad, "1.5.0", NOW, WEEK).endswith("bad.json finished_at 'yesterday' is not a time")


def test_the_release_id_is_expanded_from_the_environment(monkeypatch):
    monkeypatch.setenv("OPSCHECK_RELEASE", "2.0.0")
    assert ReleaseConfig(id="${OPSCHECK_RELEASE:-1.0}").release_id() == "2.0.0"
    monkeypatch.delenv("OPSCHECK_RELEASE")
    assert ReleaseConfig(id="${OPSCHECK_RELEASE:-1.0}").release_id() == "1.0"
    assert ReleaseConfig(id="${OPSCHECK_RELEASE:-}").release_id() is None
    assert ReleaseConfig().release_id() is None


def _bench(path: Path, **top: object) -> Path:
    control = {"id": "1", "node_type": "master", "tests": [{"results": [{"test_number": "1.1.1", "status": "PASS"}]}]}
    path.write_text(json.dumps({"Controls": [control], "Totals": {}, **top}))
    return path


def test_kube_bench_results_are_aged_by_their_own_timestamp(tmp_path):
    _bench(tmp_path / "a.json", timestamp="2026-10-26T08:00:00Z")
    _bench(tmp_path / "b.json", timestamp="2026-12-01T08:00:00Z")
    undated = _bench(tmp_path / "c.json")
    os.utime(undated, (NOW.timestamp(), NOW.timestamp()))  # the newest file, by its date
    newest = kube_bench.newest_report(str(tmp_path / "*.json"))
    assert newest.path.name == "b.json" and newest.taken_at == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert stale_results("b.json", newest.taken_at, newest.taken_at_text, NOW, 35) == []
    old = kube_bench.read(tmp_path / "a.json")
    assert stale_results("a.json", old.taken_at, old.taken_at_text, NOW, 35) == [
        {"object": "a.json", "detail": "results are 40 days old, taken 2026-10-26 08:00Z (at most 35 days)"}
    ]
    report = kube_bench.read(undated)
    assert stale_results("c.json", report.taken_at, report.taken_at_text, NOW, 35) == [
        {"object": "c.json", "detail": "states no time it was taken (a top-level timestamp in the results)"}
    ]
    assert kube_bench.newest_report(str(tmp_path / "none-*.json")) is None
    (tmp_path / "empty.json").write_text("")
    assert kube_bench.read(tmp_path / "empty.json").results == []  # the check requires results


def test_a_trivy_report_is_aged_by_created_at_not_by_its_file(tmp_path):
    doc = {"ArtifactName": "qsign/api-server:1.4.2", "CreatedAt": "2026-10-26T08:00:00Z", "Results": []}
    (tmp_path / "old.json").write_text(json.dumps(doc))
    os.utime(tmp_path / "old.json", (NOW.timestamp(), NOW.timestamp()))
    (tmp_path / "undated.json").write_text(
        json.dumps({**doc, "ArtifactName": "qsign/hsm-adapter:1.4.2"} | {"CreatedAt": None})
    )
    results, _ = image_scans.trivy_reports(tmp_path)
    by_image = image_scans.newest_by_image(results)
    config = SimpleNamespace(severities=["CRITICAL", "HIGH"], accepted=[], max_age_days=31)
    images = {image_scans.normalize_image(i): i for i in ("qsign/api-server:1.4.2", "qsign/hsm-adapter:1.4.2")}
    _, offenders, _ = judge_images(images, by_image, config, NOW)
    assert offenders == [
        {
            "object": "qsign/api-server:1.4.2",
            "detail": "newest scan is 40 days old, run 2026-10-26 08:00Z by trivy report old.json (at most 31 days)",
        },
        {
            "object": "qsign/hsm-adapter:1.4.2",
            "detail": "trivy report undated.json states no time the scan ran (CreatedAt)",
        },
    ]
