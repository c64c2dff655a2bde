"""Clock pauses: a supplement (补正) and a site inspection (现场勘查) stop the clock; resuming moves the due dates."""

from datetime import date

from shared.infra import wait_for
from tests.approval.approval_support import (
    accepted,
    item,
    open_application,
    outbox_events,
    supplemented,
    sweep,
    tasks_of,
    today,
)


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
