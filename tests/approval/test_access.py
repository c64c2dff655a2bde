"""Access: department isolation of tasks, applications and actions; an unknown task is 404."""

from tests.approval.approval_support import (
    ID_NUMBER,
    accepted,
    approver,
    item,
    open_application,
    tasks_of,
    uid,
)


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


async def test_unknown_task_is_404(approval, infra) -> None:
    response = await approval.get(f"/tasks/{uid('nope')}", headers=approver(infra, "a", "SCJG"))
    assert response.status_code == 404 and response.headers["content-type"].startswith(
        "application/problem+json"
    )
