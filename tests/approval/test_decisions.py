"""Steps and decisions: claim, advance, approve / deny with the audit trail; a bundle decides with its last member."""

import asyncio

from tests.approval.approval_support import (
    ID_NUMBER,
    accepted,
    approver,
    broker_events,
    item,
    open_application,
    outbox_events,
)


async def test_steps_decision_and_audit_history(approval, infra, sender) -> None:
    event = accepted(item("SCJG-003", "SCJG"))
    [task] = await open_application(approval, sender, event)
    reviewer, decider = approver(infra, "rev-1", "SCJG"), approver(infra, "dec-1", "SCJG")

    # Acting needs a claim; deciding at the review step is refused.
    assert (await approval.post(f"/tasks/{task.id}/approve", json={}, headers=reviewer)).status_code == 409
    assert (await approval.post(f"/tasks/{task.id}/claim", headers=reviewer)).status_code == 200
    early = await approval.post(f"/tasks/{task.id}/approve", json={}, headers=reviewer)
    assert early.status_code == 409 and "review" in early.json()["detail"]
    # Bad input: a field-level problem, and nothing changes.
    bad = await approval.post(
        f"/tasks/{task.id}/advance", json={"opinion": "ok", "extra": 1}, headers=reviewer
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "extra"
    advanced = await approval.post(
        f"/tasks/{task.id}/advance", json={"opinion": "材料齐全"}, headers=reviewer
    )
    assert advanced.status_code == 200
    assert advanced.json()["step"] == "decision" and advanced.json()["assignee"] is None

    assert (await approval.post(f"/tasks/{task.id}/claim", headers=decider)).status_code == 200
    assert (await approval.post(f"/tasks/{task.id}/release", headers=reviewer)).status_code == 409
    no_reason = await approval.post(f"/tasks/{task.id}/deny", json={"reason": ""}, headers=decider)
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"
    decided = await approval.post(f"/tasks/{task.id}/approve", json={"opinion": "准予许可"}, headers=decider)
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert body["status"] == "approved" and body["decided_by"] == "dec-1"
    assert (
        await approval.post(f"/tasks/{task.id}/deny", json={"reason": "再议"}, headers=decider)
    ).status_code == 409

    history = [(h["actor"], h["role"], h["action"], h["step"]) for h in body["history"]]
    assert history == [
        ("system", "system", "opened", "review"),
        ("rev-1", "approver", "claimed", "review"),
        ("rev-1", "approver", "step_completed", "review"),
        ("dec-1", "approver", "claimed", "decision"),
        ("dec-1", "approver", "approved", "decision"),
    ]
    assert body["history"][2]["reason"] == "材料齐全"

    # approval.decided carries what issuance needs, and reaches the broker.
    [decided_event] = await outbox_events(approval, "approval.decided", task_id=task.id)
    payload = decided_event["payload"]
    assert payload["decision"] == "approved" and payload["collect_hall"] == "ZS-CITY"
    assert payload["applicant"]["id_number"] == ID_NUMBER and payload["values"]["shop_name"] == "老张面馆"
    assert payload["result_licence_type"] == "FOOD_LICENCE" and payload["bundle_item_ids"] == [task.item_id]
    assert payload["application_decided"] is True and decided_event["key"] == event.application_id
    on_broker = await broker_events(
        infra, "approvals", lambda e: e["type"] == "approval.decided" and e["payload"]["task_id"] == task.id
    )
    assert len(on_broker) == 1


async def test_bundle_is_decided_only_when_every_member_is(approval, infra, sender) -> None:
    members = [
        item("SCJG-002", "SCJG", steps=["decision"]),
        item("XF-001", "XF", steps=["decision"]),
        item("GA-001", "GA", steps=["decision"]),
        item("SWJ-001", "SWJ", steps=["decision"]),
    ]
    event = accepted(*members, bundle_code="ONE-RESTAURANT")
    tasks = {t.department: t for t in await open_application(approval, sender, event)}
    heads = {d: approver(infra, f"{d.lower()}-b", d) for d in tasks}
    for dept, task in tasks.items():
        assert (await approval.post(f"/tasks/{task.id}/claim", headers=heads[dept])).status_code == 200

    ok = await approval.post(f"/tasks/{tasks['SCJG'].id}/approve", json={}, headers=heads["SCJG"])
    assert ok.status_code == 200
    ok = await approval.post(
        f"/tasks/{tasks['XF'].id}/deny", json={"reason": "消防不合格"}, headers=heads["XF"]
    )
    assert ok.status_code == 200
    view = (await approval.get(f"/applications/{event.application_id}", headers=heads["SCJG"])).json()
    assert view["status"] == "open"
    assert {m["department"]: m["status"] for m in view["members"]} == {
        "SCJG": "approved",
        "XF": "denied",
        "GA": "pending",
        "SWJ": "pending",
    }
    assert next(m for m in view["members"] if m["department"] == "XF")["task_id"] is None  # not SCJG's task

    # The last two members decide at the same moment: exactly one decision closes the bundle.
    last = await asyncio.gather(
        approval.post(f"/tasks/{tasks['GA'].id}/approve", json={}, headers=heads["GA"]),
        approval.post(f"/tasks/{tasks['SWJ'].id}/approve", json={}, headers=heads["SWJ"]),
    )
    assert [r.status_code for r in last] == [200, 200]
    events = await outbox_events(approval, "approval.decided", application_id=event.application_id)
    assert len(events) == 4
    assert [e["payload"]["application_decided"] for e in events] == [False, False, False, True]
    assert all(sorted(e["payload"]["bundle_item_ids"]) == sorted(m.item_id for m in members) for e in events)
    assert all(e["payload"]["bundle_code"] == "ONE-RESTAURANT" for e in events)
    view = (await approval.get(f"/applications/{event.application_id}", headers=heads["GA"])).json()
    assert view["status"] == "decided" and view["decided_at"]
