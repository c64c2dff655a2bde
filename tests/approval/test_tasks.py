"""Opening tasks from application.accepted through the real broker: idempotence, steps per item."""

from datetime import date

from shared.infra import wait_for
from tests.approval.approval_support import (
    accepted,
    approver,
    envelope,
    handled,
    item,
    open_application,
    outbox_events,
    supplemented,
    tasks_of,
)


async def test_duplicate_application_accepted_opens_one_task_per_item(approval, infra, sender) -> None:
    event = accepted(item("SCJG-003", "SCJG"), item("XF-001", "XF"))
    env = envelope(event)
    await sender.send(event, env=env)
    await sender.send(event, env=env)  # a redelivery of the same envelope
    await sender.send(event)  # the same application again under a new event id
    # A later event with the same key travels on the same partition: once it is handled, so are the copies.
    marker = await sender.send(supplemented(event.application_id, at=date(2026, 9, 25)))
    await wait_for(lambda: handled(approval, marker.id), timeout=60, message="marker handled")
    tasks = await tasks_of(approval, event.application_id)
    assert sorted(t.department for t in tasks) == ["SCJG", "XF"]
    opened = await outbox_events(approval, "approval.task_opened", application_id=event.application_id)
    assert len(opened) == 2
    assert {e["payload"]["department"] for e in opened} == {"SCJG", "XF"}
    scjg = next(t for t in tasks if t.department == "SCJG")
    assert [s["name"] for s in scjg.steps] == ["review", "decision"]
    assert scjg.steps[0]["roles"] == ["approver"]


async def test_on_the_spot_matter_has_one_step(approval, infra, sender) -> None:
    [task] = await open_application(
        approval,
        sender,
        accepted(item("GA-001", "GA", steps=["decision"], legal=1, promised=0, on_the_spot=True)),
    )
    headers = approver(infra, "ga-1", "GA")
    assert (await approval.post(f"/tasks/{task.id}/claim", headers=headers)).status_code == 200
    denied = await approval.post(f"/tasks/{task.id}/deny", json={"reason": "印章样式不符"}, headers=headers)
    assert denied.status_code == 200 and denied.json()["status"] == "denied"
    [event] = await outbox_events(approval, "approval.decided", task_id=task.id)
    assert event["payload"]["decision"] == "denied" and event["payload"]["on_the_spot"] is True
    assert event["payload"]["reason"] == "印章样式不符"
