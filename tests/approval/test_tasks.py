"""Tasks from application.accepted through the real broker: idempotence, isolation, claims, steps, bundles."""

import asyncio
from datetime import date

from approval_support import (
    ID_NUMBER,
    accepted,
    broker_events,
    envelope,
    handled,
    item,
    open_application,
    outbox_events,
    supplemented,
    tasks_of,
    uid,
)

from shared.infra import wait_for


def approver(infra, sub: str, *departments: str) -> dict[str, str]:
    return infra.auth("approver", sub=sub, departments=list(departments))


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


async def test_department_isolation(approval, infra, sender) -> None:
    event = accepted(item("SCJG-003", "SCJG"))
    [task] = await open_application(approval, sender, event)
    outsider = approver(infra, "bob-xf", "XF")
    insider = approver(infra, "alice-scjg", "SCJG")

    listed = (await approval.get("/tasks", params={"limit": 500}, headers=outsider)).json()
    assert task.id not in {t["id"] for t in listed}
    assert all(t["department"] == "XF" for t in listed)
    assert (await approval.get(f"/tasks/{task.id}", headers=outsider)).status_code == 403
    assert (await approval.get(f"/tasks/{task.id}/history", headers=outsider)).status_code == 403
    assert (await approval.get("/tasks", params={"department": "SCJG"}, headers=outsider)).status_code == 403
    assert (await approval.get(f"/applications/{event.application_id}", headers=outsider)).status_code == 404
    for action, body in [
        ("claim", None),
        ("assign", {"assignee": "bob-xf"}),
        ("approve", {}),
        ("deny", {"reason": "不符合条件"}),
        ("supplement", {"materials": ["M1"], "reason": "缺件"}),
        ("suspend", {"reason": "现场勘查"}),
    ]:
        response = await approval.post(f"/tasks/{task.id}/{action}", json=body, headers=outsider)
        assert response.status_code == 403, (action, response.text)
    clerk = infra.auth("clerk", departments=["SCJG"])
    assert (await approval.post(f"/tasks/{task.id}/claim", headers=clerk)).status_code == 403
    assert (await approval.get("/tasks")).status_code == 401

    # The insider sees it, with the applicant masked in the list and in full on the task.
    mine = (await approval.get("/tasks", params={"matter": "SCJG-003", "limit": 500}, headers=insider)).json()
    row = next(t for t in mine if t["id"] == task.id)
    assert row["applicant_id"] == "110105********002X" and row["applicant_name"] == "张**"
    detail = (await approval.get(f"/tasks/{task.id}", headers=insider)).json()
    assert detail["applicant"]["id_number"] == ID_NUMBER
    assert (await tasks_of(approval, event.application_id))[0].assignee is None  # nothing changed


async def test_concurrent_claims_have_one_winner(approval, infra, sender) -> None:
    [task] = await open_application(approval, sender, accepted(item("WJ-001", "WJ")))
    responses = await asyncio.gather(
        *[
            approval.post(f"/tasks/{task.id}/claim", headers=approver(infra, f"wj-{i}", "WJ"))
            for i in range(6)
        ]
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [200, 409, 409, 409, 409, 409], [r.text for r in responses]
    winner = next(r.json()["assignee"] for r in responses if r.status_code == 200)
    [stored] = await tasks_of(approval, task.application_id)
    assert stored.assignee == winner
    history = (await approval.get(f"/tasks/{task.id}/history", headers=approver(infra, "x", "WJ"))).json()
    assert [h["action"] for h in history].count("claimed") == 1


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


async def test_assign_and_release(approval, infra, sender) -> None:
    [task] = await open_application(approval, sender, accepted(item("RS-001", "RS")))
    lead, colleague = approver(infra, "rs-lead", "RS"), approver(infra, "rs-2", "RS")
    assigned = await approval.post(f"/tasks/{task.id}/assign", json={"assignee": "rs-2"}, headers=lead)
    assert assigned.status_code == 200 and assigned.json()["assignee"] == "rs-2"
    mine = (await approval.get("/tasks", params={"assignee": "me"}, headers=colleague)).json()
    assert [t["id"] for t in mine] == [task.id]
    assert (await approval.post(f"/tasks/{task.id}/release", headers=lead)).status_code == 409
    released = await approval.post(f"/tasks/{task.id}/release", headers=colleague)
    assert released.status_code == 200 and released.json()["assignee"] is None
    bad = await approval.post(f"/tasks/{task.id}/assign", json={"assignee": ""}, headers=lead)
    assert bad.status_code == 422
    actions = [h["action"] for h in released.json()["history"]]
    assert actions == ["opened", "assigned", "released"]


async def test_unknown_task_is_404(approval, infra) -> None:
    response = await approval.get(f"/tasks/{uid('nope')}", headers=approver(infra, "a", "SCJG"))
    assert response.status_code == 404 and response.headers["content-type"].startswith(
        "application/problem+json"
    )
