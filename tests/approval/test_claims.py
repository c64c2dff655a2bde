"""Claims: of concurrent claims one wins; assigning to a colleague and releasing."""

import asyncio

from tests.approval.approval_support import accepted, approver, item, open_application, tasks_of


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
