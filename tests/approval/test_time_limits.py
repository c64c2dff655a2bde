"""Time limits over many tasks: the sweep (overdue once, also in the background) and the department report."""

import asyncio
from datetime import date

from services.approval import time_limits
from services.approval.deadlines import ServiceClock
from shared.infra import wait_for
from tests.approval.approval_support import (
    accepted,
    broker_events,
    item,
    open_application,
    outbox_events,
    sweep,
    tasks_of,
    today,
)


async def test_overdue_fires_once(approval, infra, sender) -> None:
    [task] = await open_application(approval, sender, accepted(item("ZJ-002", "ZJ", legal=10, promised=3)))
    assert task.id not in (await sweep(approval, infra, date(2026, 9, 30)))["overdue"]
    assert task.id in (await sweep(approval, infra, date(2026, 10, 8)))["overdue"]
    assert task.id not in (await sweep(approval, infra, date(2026, 10, 9)))["overdue"]
    assert task.id not in (await sweep(approval, infra, date(2026, 10, 20)))["overdue"]
    events = await outbox_events(approval, "approval.overdue", task_id=task.id)
    assert len(events) == 1 and events[0]["payload"]["promised_due"] == "2026-09-30"
    on_broker = await broker_events(
        infra, "approvals", lambda e: e["type"] == "approval.overdue" and e["payload"]["task_id"] == task.id
    )
    assert len(on_broker) == 1
    [stored] = await tasks_of(approval, task.application_id)
    assert stored.overdue_on == date(2026, 10, 8)
    approver = infra.auth("approver", departments=["ZJ"])
    assert (await approval.post("/time-limits/sweep", headers=approver)).status_code == 403


async def test_department_report(approval, infra, sender) -> None:
    tasks = [
        (
            await open_application(
                approval, sender, accepted(item("QX-001", "QX", steps=["decision"], promised=3))
            )
        )[0]
        for _ in range(3)
    ]
    headers = infra.auth("approver", sub="qx-1", departments=["QX"])
    for task in tasks:
        assert (await approval.post(f"/tasks/{task.id}/claim", headers=headers)).status_code == 200
    with today(approval, date(2026, 9, 29)):  # on time: 2 working days used
        assert (
            await approval.post(f"/tasks/{tasks[0].id}/approve", json={}, headers=headers)
        ).status_code == 200
    with today(approval, date(2026, 10, 9)):  # late: 5 working days used
        assert (
            await approval.post(f"/tasks/{tasks[1].id}/deny", json={"reason": "不符合"}, headers=headers)
        ).status_code == 200
    params = {"department": "QX", "from": "2026-09-01", "to": "2026-10-31", "as_of": "2026-10-09"}
    report = (await approval.get("/time-limits/report", params=params, headers=headers)).json()
    assert report == {
        "department": "QX",
        "date_from": "2026-09-01",
        "date_to": "2026-10-31",
        "decided": 2,
        "on_time": 1,
        "late": 1,
        "on_time_rate": 0.5,
        "average_working_days": 3.5,
        "open": 1,
        "open_overdue": 1,
        "open_warning": 0,
    }
    other = infra.auth("approver", departments=["ZJ"])
    assert (await approval.get("/time-limits/report", params=params, headers=other)).status_code == 403
    backwards = params | {"from": "2026-11-01"}
    assert (await approval.get("/time-limits/report", params=backwards, headers=headers)).status_code == 422


async def test_background_sweep_uses_the_service_clock(approval, infra, sender) -> None:
    def year_end_task():
        return open_application(
            approval, sender, accepted(item("FG-001", "FG", promised=1), accepted_on=date(2025, 12, 29))
        )

    [task] = await year_end_task()
    assert task.promised_due == date(2025, 12, 30)
    runtime = approval.app.state.runtime
    loop = asyncio.create_task(
        time_limits.sweep_forever(runtime, clock=ServiceClock(fixed=date(2026, 1, 6)), interval=0.05)
    )

    def overdue_on(application_id: str):
        async def check():
            [t] = await tasks_of(approval, application_id)
            return t.overdue_on

        return check

    try:
        assert await wait_for(
            overdue_on(task.application_id), timeout=30, message="background overdue"
        ) == date(2026, 1, 6)
        # A task opened afterwards is caught by a later sweep: the loop kept running past the first one.
        [later] = await year_end_task()
        await wait_for(overdue_on(later.application_id), timeout=30, message="later sweep")
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
    assert len(await outbox_events(approval, "approval.overdue", task_id=task.id)) == 1
