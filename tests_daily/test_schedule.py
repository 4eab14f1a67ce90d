"""The checklist process itself: every cadence run as often as the profile requires."""

from opscheck.check import check, configured


@check("daily.checklists-on-schedule", severity="medium", covers=["opscheck.daily.on-schedule"])
def test_checklists_on_schedule(checklist_schedule, profile, evidence):
    """Checklists are run on schedule (daily, weekly, monthly, quarterly)

    A checklist run is missing from the ledger (reports directory). Check the scheduler that
    runs it (crontab -l on the ops box, or kubectl get cronjob -n <ns> and its last Job), its
    logs for a run that started but did not complete (a run that is interrupted or refused is
    not recorded), and that it writes to the same --report-dir. Run the missed checklist now:
    pytest -m <cadence> --env=<profile>.
    """
    configured(
        [s for s in checklist_schedule if s.last_run],
        profile.required,
        "schedule",
        "no earlier run of a scheduled checklist in the ledger yet: the schedule starts with this run",
    )
    evidence.table(s.as_row() for s in checklist_schedule)
    missed = [s.as_row() for s in checklist_schedule if s.missed]
    evidence.expect_none(missed, "checklist(s) missed their schedule", table=False)
