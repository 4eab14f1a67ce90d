"""The stale world: evidence that is present but old, or of another release, never passes.

A copy of the demo profile points at a temporary folder holding, for real: last release's
JUnit and k6 files (stating release 1.4.2-r1, run 30 days ago), trivy reports and kube-bench
results taken 40 days ago (the monthly scan item allows 31 and 35), a database dump three
days old (its window: 26 h) and a copy of a real etcd snapshot 30 h old (its window: 24 h).
Every check that reads them fails, its message naming the staleness. The same folder
emptied (no file at all) fails them too: absent or empty is never evidence.
"""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from opscheck.timeutil import utc_now
from selftests.harness import DEMO_PROFILE
from testenv import controlplane, postgres, release, security

pytestmark = pytest.mark.usefixtures("testenv_up")

PREVIOUS_RELEASE = "1.4.2-r1"
# Each check reading the release's artefacts, reports or backup files, and what its failure
# message must say (a fragment).
STALE = {
    "predeploy.tests-passed": f"states release {PREVIOUS_RELEASE}, expected {release.RELEASE}",
    "predeploy.perf-test": f"states release {PREVIOUS_RELEASE}, expected {release.RELEASE}",
    "predeploy.image-vulnerabilities": "newest scan is 40 days old",
    "weekly.image-vulnerabilities": "newest scan is 40 days old",
    "monthly.cis-benchmark": "results are 40 days old",
    "daily.backup-dump-files": "h old, over 26.0 h",
    "weekly.db-backup-history": "without a dump, over 26.0 h",
    "weekly.restore-drill": "h old, over the RPO 26 h",
    "daily.etcd-snapshot": "h old, over 24.0 h",
    "predeploy.etcd-backup": "h old, over 24.0 h",
}
EMPTY = {
    "predeploy.tests-passed": "no JUnit test results match ",
    "predeploy.perf-test": "no load-test summary at ",
    "predeploy.image-vulnerabilities": "no scan result",
    "weekly.image-vulnerabilities": "no scan result",
    "monthly.cis-benchmark": "no kube-bench results match ",
    "daily.backup-dump-files": "no dump file found",
    "weekly.db-backup-history": "without a dump",
    "weekly.restore-drill": "no dump file to restore",
    "daily.etcd-snapshot": "no etcd snapshot found",
    "predeploy.etcd-backup": "no etcd snapshot found",
}


def _profile_at(world: Path, tmp_path: Path) -> Path:
    """The demo profile with its file paths pointing into `world` (paths only)."""
    profile = yaml.safe_load(DEMO_PROFILE.read_text())
    profile["release"]["test_results"] = str(world / "release" / "junit" / "*.xml")
    profile["release"]["load_test_summary"] = str(world / "release" / "k6-summary.json")
    profile["security"]["vulnerability_scans"]["trivy_reports"] = str(world / "security" / "trivy")
    profile["security"]["cis_benchmark"]["results"] = str(world / "security" / "kube-bench" / "*.json")
    profile["database_backups"]["directory"] = str(world / "backups" / "postgres")
    profile["etcd_backups"]["directory"] = str(world / "control-plane" / "backups" / "etcd")
    path = tmp_path / "stale-world.yaml"
    path.write_text(yaml.safe_dump(profile, sort_keys=False, allow_unicode=True))
    return path


def _aged_copy(source: Path, directory: Path, name: str, age: timedelta) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    shutil.copyfile(source, target)
    then = (utc_now() - age).timestamp()
    os.utime(target, (then, then))
    return target


def build_stale_world(world: Path) -> None:
    now = utc_now().replace(microsecond=0)
    last_release = now - timedelta(days=30)
    for stage in release.STAGES:
        release.write_junit(stage, release=PREVIOUS_RELEASE, ran_at=last_release, directory=world / "release" / "junit")
    release.write_k6_summary(
        release=PREVIOUS_RELEASE, finished_at=last_release, path=world / "release" / "k6-summary.json"
    )
    scanned = now - timedelta(days=40)
    for image, spec in security.TRIVY_IMAGES.items():
        security.write_trivy_report(image, spec["vulns"], created=scanned, directory=world / "security" / "trivy")
    security.write_kube_bench(taken_at=scanned, path=world / "security" / "kube-bench" / "kube-bench-results.json")
    # the newest real dump and snapshot, copied under names and times of their age
    (_, dump), (_, snapshot) = postgres.dumps()[-1], controlplane.snapshots()[-1]
    dump_age, snapshot_age = timedelta(hours=72), timedelta(hours=30)
    _aged_copy(
        dump,
        world / "backups" / "postgres",
        f"qsign-{now - dump_age:%Y%m%dT%H%M%SZ}.dump",
        dump_age,
    )
    _aged_copy(
        snapshot,
        world / "control-plane" / "backups" / "etcd",
        f"etcd-snapshot-{now - snapshot_age:%Y%m%d-%H%M%S}.db",
        snapshot_age,
    )


def build_empty_world(world: Path) -> None:
    """Every folder there, every folder empty (the k6 summary: no file)."""
    for folder in ("release/junit", "security/trivy", "security/kube-bench", "backups/postgres"):
        (world / folder).mkdir(parents=True)
    (world / "control-plane" / "backups" / "etcd").mkdir(parents=True)


@pytest.mark.parametrize(
    ("build", "expected"), [(build_stale_world, STALE), (build_empty_world, EMPTY)], ids=["stale", "empty"]
)
def test_stale_or_empty_evidence_never_passes(checks, tmp_path, build, expected):
    world = tmp_path / "world"
    build(world)
    results = checks.run(*expected, profile=_profile_at(world, tmp_path))
    assert set(results) == set(expected)
    outcomes = {cid: (r.outcome, r.message) for cid, r in results.items()}
    for cid, (outcome, message) in sorted(outcomes.items()):
        print(f"{cid}: {outcome}: {message}")
    not_failed = {cid: o for cid, o in outcomes.items() if o[0] != "failed"}
    assert not_failed == {}
    unnamed = {cid: msg for cid, (_, msg) in outcomes.items() if expected[cid] not in msg}
    assert unnamed == {}
