"""Time limits in working days: holidays skipped, warning and overdue states, clock pauses, overdue once."""

import asyncio
from contextlib import contextmanager
from datetime import date

from approval_support import (
    accepted,
    broker_events,
    item,
    open_application,
    outbox_events,
    supplemented,
    tasks_of,
)

from services.approval import service
from services.approval.service import ServiceClock
from shared.infra import wait_for

ACCEPTED = date(
    2026, 9, 24
)  # Thursday before 中秋 (25-27 Sep) and 国庆 (1-7 Oct); 10 Oct is a working Saturday


@contextmanager
def today(approval, day: date):
    """Pin the approval service's clock."""
    clock = approval.app.state.clock
    clock.fixed = day
    try:
        yield
    finally:
        clock.fixed = None


async def sweep(approval, infra, as_of: date) -> dict:
    response = await approval.post(
        "/time-limits/sweep",
        params={"as_of": as_of.isoformat()},
        headers=infra.auth("auditor", departments=["*"]),
    )
    assert response.status_code == 200, response.text
    return response.json()


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


async def test_supplement_pauses_and_resumes_the_clock(approval, infra, sender) -> None:
    [task] = await open_application(
        approval, sender, accepted(item("STHJ-001", "STHJ", legal=10, promised=3))
    )
    headers = infra.auth("approver", sub="sthj-1", departments=["STHJ"])
    assert (await approval.post(f"/tasks/{task.id}/claim", headers=headers)).status_code == 200
    with today(approval, date(2026, 9, 28)):
        response = await approval.post(
            f"/tasks/{task.id}/supplement",
            headers=headers,
            json={"materials": ["M-PLAN"], "reason": "平面图不清晰"},
        )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "supplement"
    [requested] = await outbox_events(approval, "approval.supplement_requested", task_id=task.id)
    assert (
        requested["payload"]["materials"] == ["M-PLAN"] and requested["payload"]["reason"] == "平面图不清晰"
    )

    # Paused: no overdue however late it gets, no decision meanwhile.
    assert task.id not in (await sweep(approval, infra, date(2026, 10, 20)))["overdue"]
    assert (await approval.post(f"/tasks/{task.id}/advance", json={}, headers=headers)).status_code == 409
    with today(approval, date(2026, 10, 9)):
        paused = (await approval.get(f"/tasks/{task.id}", headers=headers)).json()["clock"]
    assert (
        paused["state"] == "paused" and paused["paused_days"] == 4 and paused["promised_due"] == "2026-10-12"
    )

    # The applicant supplies on 9 Oct: 29, 30 Sep, 8, 9 Oct (4 working days) did not count.
    await sender.send(supplemented(task.application_id, at=date(2026, 10, 9), materials=["M-PLAN"]))

    async def resumed():
        [t] = await tasks_of(approval, task.application_id)
        return t if t.status == "pending" else None

    stored = await wait_for(resumed, timeout=60, message="clock resumed")
    assert stored.paused_days == 4 and stored.paused_since is None
    assert stored.promised_due == date(2026, 10, 12) and stored.legal_due == date(2026, 10, 21)
    assert task.id not in (await sweep(approval, infra, date(2026, 10, 12)))["overdue"]
    assert task.id in (await sweep(approval, infra, date(2026, 10, 13)))["overdue"]
    history = (await approval.get(f"/tasks/{task.id}/history", headers=headers)).json()
    entry = next(h for h in history if h["action"] == "supplemented")
    assert entry["role"] == "applicant" and entry["data"]["paused_working_days"] == 4
    assert (await approval.post(f"/tasks/{task.id}/advance", json={}, headers=headers)).status_code == 200


async def test_site_inspection_pauses_the_clock(approval, infra, sender) -> None:
    [task] = await open_application(approval, sender, accepted(item("SWU-001", "SWU", legal=45, promised=3)))
    headers = infra.auth("approver", sub="swu-1", departments=["SWU"])
    assert (await approval.post(f"/tasks/{task.id}/claim", headers=headers)).status_code == 200
    with today(approval, date(2026, 9, 28)):
        suspended = await approval.post(
            f"/tasks/{task.id}/suspend", json={"reason": "取水口现场勘查"}, headers=headers
        )
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
    assert (
        await approval.post(f"/tasks/{task.id}/resume", json={"findings": ""}, headers=headers)
    ).status_code == 422
    with today(approval, date(2026, 10, 9)):
        resumed = await approval.post(
            f"/tasks/{task.id}/resume", json={"findings": "现场符合要求"}, headers=headers
        )
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["status"] == "pending" and resumed.json()["clock"]["promised_due"] == "2026-10-12"
    assert [h["action"] for h in resumed.json()["history"]][-2:] == ["suspended", "resumed"]


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
        service.sweep_forever(runtime, clock=ServiceClock(fixed=date(2026, 1, 6)), interval=0.05)
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
