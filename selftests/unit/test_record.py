"""The check record: one typed record per check, shipped once from where it ran (no pytest run needed)."""

from __future__ import annotations

from datetime import UTC, datetime

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
