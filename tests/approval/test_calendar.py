"""Due dates into 2027 (no State Council notice yet): provisional in the API, warned in /readyz, and the
stored dates recomputed once an operator loads the notice."""

from datetime import date
from pathlib import Path

from services.approval import time_limits
from shared import workdays
from shared.workdays import WorkCalendar
from tests.approval.approval_support import accepted, approver, item, open_application, tasks_of, today
from tests.shared.test_workdays import NOTICE_2027, write_notice

DEC_2 = date(2026, 12, 2)


async def test_thirty_working_days_from_2_december_are_due_provisionally_in_2027(
    approval, infra, sender
) -> None:
    [task] = await open_application(
        approval, sender, accepted(item("ZRZY-001", "ZRZY", legal=30, promised=5), accepted_on=DEC_2)
    )
    assert task.legal_due == date(2027, 1, 14) and task.promised_due == date(2026, 12, 9)
    with today(approval, DEC_2):
        body = (await approval.get(f"/tasks/{task.id}", headers=approver(infra, "zrzy-1", "ZRZY"))).json()
    clock = body["clock"]
    assert clock["legal_due"] == "2027-01-14" and clock["promised_due"] == "2026-12-09"
    assert clock["due_dates_provisional"] is True and clock["provisional_years"] == [2027]
    # A task counted within 2026 only is not provisional.
    [autumn] = await open_application(
        approval, sender, accepted(item("ZRZY-001", "ZRZY", legal=30, promised=5))
    )
    with today(approval, DEC_2):
        listed = (
            await approval.get(
                "/tasks",
                params={"department": "ZRZY", "limit": 500},
                headers=approver(infra, "zrzy-1", "ZRZY"),
            )
        ).json()
    rows = {row["id"]: row["clock"] for row in listed}
    assert rows[autumn.id]["due_dates_provisional"] is False and rows[autumn.id]["provisional_years"] == []
    assert rows[task.id]["due_dates_provisional"] is True


async def test_readyz_warns_from_november_about_next_years_missing_notice(approval) -> None:
    with today(approval, date(2026, 10, 31)):
        response = await approval.get("/readyz")
    assert response.status_code == 200 and "calendar" not in response.json().get("warnings", {})
    with today(approval, date(2026, 11, 1)):
        response = await approval.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert "no official holiday schedule for 2027" in body["warnings"]["calendar"]
    assert "docs/approval.md" in body["warnings"]["calendar"]


async def test_loading_the_2027_notice_recomputes_stored_due_dates(
    approval, infra, sender, tmp_path: Path
) -> None:
    [task] = await open_application(
        approval, sender, accepted(item("ZRZY-001", "ZRZY", legal=30, promised=5), accepted_on=DEC_2)
    )
    assert task.legal_due == date(2027, 1, 14)
    # The (invented) notice gives Monday 4 January 2027 off as well: 30 working days end on 15 January.
    notice = dict(NOTICE_2027, holidays=[{"name": "元旦", "from": "2027-01-01", "to": "2027-01-04"}])
    write_notice(tmp_path, notice)
    runtime = approval.app.state.runtime
    previous = workdays.use(WorkCalendar.load(operator_dir=tmp_path))
    try:
        changed = await time_limits.recompute_dues(runtime, batch=2)  # several batches
        assert task.id in changed
        assert task.id not in await time_limits.recompute_dues(runtime)  # repeatable: nothing left to change
        [stored] = await tasks_of(approval, task.application_id)
        assert stored.legal_due == date(2027, 1, 15) and stored.promised_due == date(2026, 12, 9)
        headers = approver(infra, "zrzy-1", "ZRZY")
        entries = (await approval.get(f"/tasks/{task.id}/history", headers=headers)).json()
        [entry] = [e for e in entries if e["action"] == "due_dates_recomputed"]
        assert entry["data"]["old"]["legal_due"] == "2027-01-14"
        assert entry["data"]["new"]["legal_due"] == "2027-01-15" and entry["data"]["provisional_years"] == []
        with today(approval, date(2026, 12, 3)):
            clock = (await approval.get(f"/tasks/{task.id}", headers=headers)).json()["clock"]
            ready = (await approval.get("/readyz")).json()
        assert clock["legal_due"] == "2027-01-15" and clock["due_dates_provisional"] is False
        assert "calendar" not in ready.get("warnings", {})
    finally:
        workdays.use(previous)
        await time_limits.recompute_dues(runtime)  # other tests' tasks back on the shipped calendar
    [restored] = await tasks_of(approval, task.application_id)
    assert restored.legal_due == date(2027, 1, 14)
