"""The worklist: due dates skip holidays; filters by clock state (warning, overdue), due dates and status."""

from datetime import date

from tests.approval.approval_support import accepted, item, open_application, outbox_events


async def test_due_dates_skip_holidays_and_warning_state(approval, infra, sender) -> None:
    [task] = await open_application(approval, sender, accepted(item("ZJ-001", "ZJ", legal=10, promised=3)))
    assert task.promised_due == date(2026, 9, 30)  # 28, 29, 30 Sep: 25 Sep is a holiday, 26-27 a weekend
    assert task.legal_due == date(2026, 10, 15)  # 1-7 Oct off, 10 Oct (Saturday) worked
    [opened] = await outbox_events(approval, "approval.task_opened", task_id=task.id)
    assert (
        opened["payload"]["promised_due"] == "2026-09-30" and opened["payload"]["legal_due"] == "2026-10-15"
    )

    headers = infra.auth("approver", sub="zj-1", departments=["ZJ"])

    async def ids(**params) -> set[str]:
        response = await approval.get(
            "/tasks", params=params | {"matter": "ZJ-001", "limit": 500}, headers=headers
        )
        assert response.status_code == 200, response.text
        return {t["id"] for t in response.json()}

    assert task.id not in await ids(clock="warning", as_of="2026-09-25")
    assert task.id in await ids(clock="warning", as_of="2026-09-29")
    assert task.id not in await ids(clock="overdue", as_of="2026-09-30")
    assert task.id in await ids(clock="overdue", as_of="2026-10-08")
    assert task.id in await ids(due_from="2026-09-30", due_to="2026-09-30", status="pending")
    assert task.id not in await ids(due_to="2026-09-29")
    rows = (
        await approval.get("/tasks", params={"matter": "ZJ-001", "as_of": "2026-09-29"}, headers=headers)
    ).json()
    clock = next(t["clock"] for t in rows if t["id"] == task.id)
    assert clock["state"] == "warning" and clock["working_days_left"] == 1
    assert clock["legal_overdue"] is False
    late = (
        await approval.get("/tasks", params={"matter": "ZJ-001", "as_of": "2026-10-16"}, headers=headers)
    ).json()
    assert next(t["clock"] for t in late if t["id"] == task.id)["legal_overdue"] is True
    bad = await approval.get("/tasks", params={"clock": "late"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "clock"
