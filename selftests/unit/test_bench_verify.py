"""bench/verify.py, the scale-correctness comparison: a count results.json reports that no raw
LIST agrees with is named; one that any snapshot agrees with is not."""

from __future__ import annotations

from datetime import UTC, datetime

from bench import verify
from opscheck.profile import Thresholds


class _Profile:
    """The three fields verify reads (a whole Profile needs clusters and files)."""

    namespaces = ["app"]
    system_namespaces = ["kube-system"]
    thresholds = Thresholds()


def _pod(ns: str, name: str, phase: str = "Running", ready: bool = True) -> dict:
    return {
        "metadata": {"namespace": ns, "name": name},
        "spec": {"containers": [{"name": "c"}]},
        "status": {"phase": phase, "containerStatuses": [{"name": "c", "ready": ready, "restartCount": 0}]},
    }


def _raw(*pods: dict) -> dict:
    raw = {kind: [] for kind in verify.PATHS}
    raw["pods"] = list(pods)
    return raw


def _results(note: str, measured: int) -> dict:
    evidence = {"measured": measured, "threshold": 0, "unit": "", "columns": [], "rows": [], "notes": [note]}
    return {"checks": [{"id": "daily.pods-running", "cluster": "c1", "evidence": evidence}]}


def test_a_count_no_snapshot_agrees_with_is_named():
    started = datetime(2026, 12, 5, tzinfo=UTC)
    raw = _raw(_pod("app", "a"), _pod("app", "b", "Pending"), _pod("other", "c"))
    expected = [verify.expected_counts(raw, _Profile(), started)]
    # 2 pods in "app", one of them not running: reported right, then a page short
    right = verify.reported_counts(_results("2 pods in app", 1), "c1")
    wrong = verify.reported_counts(_results("1 pods in app", 1), "c1")
    assert [m for m in verify.mismatches(expected, right) if m.startswith("daily.pods-running")] == []
    assert [m for m in verify.mismatches(expected, wrong) if m.startswith("daily.pods-running")] == [
        "daily.pods-running examined: reported 1, raw LIST count 2"
    ]
    # the cluster changed during the run: the count over either snapshot is right
    later = verify.expected_counts(_raw(_pod("app", "a")), _Profile(), started)
    assert [m for m in verify.mismatches([later, expected[0]], right) if m.startswith("daily.pods-running")] == []


def test_a_count_between_the_snapshots_is_right_and_one_outside_them_is_named():
    started = datetime(2026, 12, 5, tzinfo=UTC)
    before = verify.expected_counts(_raw(_pod("app", "a")), _Profile(), started)
    after = verify.expected_counts(_raw(*(_pod("app", n) for n in "abc")), _Profile(), started)

    def examined(results_note: str) -> list[str]:
        reported = verify.reported_counts(_results(results_note, 0), "c1")
        found = verify.mismatches([before, after], reported)
        return [m for m in found if m.startswith("daily.pods-running examined")]

    assert examined("2 pods in app") == []  # pods were being created during the run
    assert examined("4 pods in app") == ["daily.pods-running examined: reported 4, raw LIST count 1 or 3"]
