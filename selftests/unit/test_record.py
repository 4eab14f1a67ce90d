"""The check record: one typed record per check, shipped once from where it ran (no pytest run needed)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from opscheck.check import CheckSpec, Evidence
from opscheck.record import html
from opscheck.record.results import CHECK_PROPERTY, CheckRecord, gate, record_of

SPEC = CheckSpec("daily.x", "x <b>", "high", ("000.daily.pvc-bound",), "kubectl describe pvc")


class Report:  # what the controller sees of a teardown report
    def __init__(self, user_properties: list[tuple[str, str]]) -> None:
        self.user_properties = user_properties


def failed_record() -> CheckRecord:
    record = CheckRecord("tests_daily/t.py::test_x[one]", SPEC, ["daily"], "one", server_version="v1.33.0")
    evidence = Evidence()
    evidence.table([{"object": "qsign/<data-x>", "detail": datetime(2026, 1, 2, tzinfo=UTC)}])
    record.add_phase("setup", "passed", "", 0.5)
    record.add_phase("call", "failed", "1 PVCs not Bound: qsign/<data-x>", 1.25, "check", evidence)
    record.add_phase("teardown", "passed", "", 0.25)
    return record


def test_a_record_reads_back_as_the_same_record():
    record = failed_record()
    back = record_of(Report([("other", "1"), (CHECK_PROPERTY, record.to_json())]))
    assert back is not None
    assert (back.outcome, back.server_version, back.offenders()) == ("failed", "v1.33.0", ["qsign/<data-x>"])
    expected = record.as_dict()
    expected["evidence"]["rows"] = [["qsign/<data-x>", "2026-01-02 00:00:00+00:00"]]  # evidence is recorded as text
    assert back.as_dict() == expected and back.as_dict()["duration_seconds"] == 2.0


def test_an_error_at_call_is_an_error_and_a_failure_at_setup_a_failure():
    error = CheckRecord("n", SPEC, ["daily"])
    error.add_phase("call", "failed", "could not evaluate: down", 0, "dependency")
    failed = CheckRecord("n", SPEC, ["daily"])
    failed.add_phase("setup", "failed", "hsm is required", 0, "check")
    assert (error.outcome, failed.outcome) == ("error", "failed")
    assert gate([error, failed], "critical", allow_errors=True).as_dict() == {
        "fail_on": "critical",
        "allow_errors": True,
        "failing": [],
        "not_gating": ["daily.x"],
    }


def test_the_evidence_block_escapes_what_a_check_recorded():
    block = html.evidence_block(failed_record())
    assert "qsign/&lt;data-x&gt;" in block and "<data-x>" not in block
    assert "x &lt;b&gt;" in block
    assert html.table_row_cells(failed_record())[0] == '<td class="col-checkId">daily.x</td>'


def test_the_evidence_block_shows_the_first_rows_and_says_how_many_more_there_are():
    record = CheckRecord("n", SPEC, ["daily"], "one")
    evidence = Evidence()
    evidence.table({"object": f"ns/pod-{i}"} for i in range(html.ROWS_SHOWN + 7))
    record.add_phase("call", "passed", "", 0, None, evidence)
    block = html.evidence_block(record)
    assert block.count("<tr>") == 1 + html.ROWS_SHOWN and f"ns/pod-{html.ROWS_SHOWN - 1}<" in block
    assert f"and 7 more rows ({html.ROWS_SHOWN + 7} in all): every row is in results.json" in block
    assert len(record.as_dict()["evidence"]["rows"]) == html.ROWS_SHOWN + 7


# -- change since the previous run (History) ----------------------------------------------------
def previous_run(outcome: str, failing_since: str | None = None) -> dict:
    change = {"status": "x", "previous_outcome": None, "previous_run": None, "failing_since": failing_since}
    return {
        "run": {"started": "2026-11-02T06:00:00Z"},
        "checks": [{"id": "daily.x", "cluster": "one", "outcome": outcome, "change": change}],
    }


NOW = "2026-11-03T06:00:00Z"


@pytest.mark.parametrize(
    ("before", "after", "status"),
    [
        (None, "failed", "new"),
        ("passed", "passed", "unchanged"),
        ("not applicable", "passed", "unchanged"),
        ("passed", "failed", "newly failing"),
        ("passed", "error", "newly failing"),
        ("failed", "error", "still failing"),
        ("failed", "passed", "fixed"),
        ("error", "attested", "fixed"),
        ("failed", "waived", "waived"),  # accepted, not repaired: never "fixed"
        ("passed", "waived", "waived"),
        ("waived", "waived", "waived"),
        ("waived", "failed", "still failing"),  # the waiver ended, the failure did not
        ("waived", "passed", "fixed"),
    ],
)
def test_the_change_labels(before, after, status):
    from opscheck.record.ledger import History

    history = History(previous_run(before) if before else {"run": {"started": "2026-11-02T06:00:00Z"}, "checks": []})
    assert history.change("daily.x", "one", after, NOW)["status"] == status


def test_the_first_run_has_no_previous_run():
    from opscheck.record.ledger import History

    assert History(None).change("daily.x", "one", "failed", NOW) == {
        "status": "first run",
        "previous_outcome": None,
        "previous_run": None,
        "failing_since": NOW,
    }


def test_a_failure_streak_keeps_its_start_across_a_waiver():
    from opscheck.record.ledger import History

    start = "2026-10-30T06:00:00Z"
    waived = History(previous_run("failed", start)).change("daily.x", "one", "waived", NOW)
    assert waived["status"] == "waived" and waived["failing_since"] == start
    # The next run, the waiver has expired and the check fails again: still failing since the start.
    again = History(previous_run("waived", waived["failing_since"])).change("daily.x", "one", "failed", NOW)
    assert again["status"] == "still failing" and again["failing_since"] == start
    # Repaired: the streak ends.
    fixed = History(previous_run("waived", start)).change("daily.x", "one", "passed", NOW)
    assert fixed["status"] == "fixed" and fixed["failing_since"] is None
    # A fresh waiver on a check that passed before starts the streak now.
    assert History(previous_run("passed")).change("daily.x", "one", "waived", NOW)["failing_since"] == NOW


def test_a_waiver_travels_with_the_record_and_is_decided_where_the_check_runs():
    from datetime import date

    from opscheck.record.waivers import Waiver

    record = CheckRecord("t.py::test_x", SPEC, ["daily"], "one")
    record.add_phase("setup", "passed", "", 0.1)
    ev = Evidence()
    ev.table([{"object": "qsign/a", "detail": "Pending"}])
    record.add_phase("call", "failed", "1 PVCs not Bound: qsign/a (Pending)", 0.1, "check", ev)
    waiver = Waiver(
        check=record.id,
        objects=["qsign/a"],
        justification="known",
        approver="jane",
        ticket="OPS-1",
        expires=date(2999, 1, 1),
    )
    record.apply_waivers([waiver], date(2026, 11, 3))
    assert record.outcome == "waived" and record.waiver["ticket"] == "OPS-1"
    back = CheckRecord.from_json(record.to_json())
    assert back.outcome == "waived" and back.waiver == record.waiver
    expired = CheckRecord("t.py::test_x", SPEC, ["daily"], "one", outcome="failed", evidence=ev)
    expired.apply_waivers([waiver], date(3000, 1, 1))
    assert expired.outcome == "failed" and expired.waiver is None
