"""Commitments (容缺/告知承诺) and their post-checks: deadlines, risk-based sampling, rectification, revocation."""

from datetime import date

from services.approval import post_checks
from services.approval.models import Task
from shared.infra import wait_for
from tests.approval.approval_support import (
    accepted,
    item,
    open_application,
    outbox_events,
    supplemented,
    tasks_of,
    today,
    uid,
)

DEADLINE = date(2026, 10, 15)


async def listed_checks(approval, infra, department: str) -> list[dict]:
    response = await approval.get(
        "/post-checks", params={"department": department}, headers=infra.auth("auditor", departments=["*"])
    )
    assert response.status_code == 200, response.text
    return response.json()


async def approve(approval, headers, task_id: str) -> None:
    assert (await approval.post(f"/tasks/{task_id}/claim", headers=headers)).status_code == 200
    response = await approval.post(f"/tasks/{task_id}/approve", json={}, headers=headers)
    assert response.status_code == 200, response.text


async def test_commitment_past_its_deadline_opens_one_post_check(approval, infra, sender) -> None:
    event = accepted(item("NY-001", "NY", commitment=(["M-LEASE", "M-HEALTH"], DEADLINE)))
    [task] = await open_application(approval, sender, event)
    assert task.commitment_status == "pending" and task.commitment_deadline == DEADLINE
    await sender.send(
        supplemented(event.application_id, at=date(2026, 10, 9), materials=["M-LEASE", "M-OTHER"])
    )

    async def delivered():
        [t] = await tasks_of(approval, event.application_id)
        return t.commitment_delivered or None

    assert await wait_for(delivered, timeout=60, message="delivery recorded") == ["M-LEASE"]
    auditor = infra.auth("auditor", departments=["*"])
    result = (
        await approval.post("/time-limits/sweep", params={"as_of": "2026-10-15"}, headers=auditor)
    ).json()
    assert task.id not in result["commitments_overdue"]
    result = (
        await approval.post("/time-limits/sweep", params={"as_of": "2026-10-16"}, headers=auditor)
    ).json()
    assert task.id in result["commitments_overdue"]
    result = (
        await approval.post("/time-limits/sweep", params={"as_of": "2026-10-19"}, headers=auditor)
    ).json()
    assert task.id not in result["commitments_overdue"]
    checks = [c for c in await listed_checks(approval, infra, "NY") if c["task_id"] == task.id]
    assert [(c["reason"], c["status"]) for c in checks] == [("commitment_overdue", "open")]
    [stored] = await tasks_of(approval, event.application_id)
    assert stored.commitment_status == "overdue"


async def test_approval_with_missing_commitment_then_failed_post_check_revokes(
    approval, infra, sender
) -> None:
    event = accepted(item("KJ-001", "KJ", steps=["decision"], commitment=(["M-LEASE"], DEADLINE)))
    [task] = await open_application(approval, sender, event)
    headers = infra.auth("approver", sub="kj-1", departments=["KJ"])
    await approve(approval, headers, task.id)
    [check] = [c for c in await listed_checks(approval, infra, "KJ") if c["task_id"] == task.id]
    assert check["reason"] == "approved_with_missing" and check["status"] == "open"

    outsider = infra.auth("approver", departments=["NY"])
    body = {"outcome": "revoke", "note": "承诺材料未提交"}
    assert (
        await approval.post(f"/post-checks/{check['id']}/result", json=body, headers=outsider)
    ).status_code == 403
    bad = await approval.post(
        f"/post-checks/{check['id']}/result", json={"outcome": "maybe", "note": "x"}, headers=headers
    )
    assert bad.status_code == 422 and {e["field"] for e in bad.json()["errors"]} == {"outcome", "note"}

    with today(approval, date(2026, 10, 20)):
        rectify = await approval.post(
            f"/post-checks/{check['id']}/result",
            headers=headers,
            json={"outcome": "rectification", "note": "限期整改"},
        )
    assert rectify.status_code == 200 and rectify.json()["status"] == "rectification"
    assert rectify.json()["rectification_due"] == "2026-11-03"  # 10 working days
    assert await outbox_events(approval, "approval.decision_revoked", task_id=task.id) == []

    revoked = await approval.post(f"/post-checks/{check['id']}/result", json=body, headers=headers)
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    [event_row] = await outbox_events(approval, "approval.decision_revoked", task_id=task.id)
    assert event_row["payload"]["reason"] == "承诺材料未提交" and event_row["key"] == event.application_id
    [stored] = await tasks_of(approval, event.application_id)
    assert stored.status == "revoked"
    again = await approval.post(f"/post-checks/{check['id']}/result", json=body, headers=headers)
    assert again.status_code == 409
    history = (await approval.get(f"/tasks/{task.id}/history", headers=headers)).json()
    assert [h["action"] for h in history][-4:] == [
        "approved",
        "post_check_opened",
        "post_check_rectification",
        "post_check_revoked",
    ]
    assert history[-1]["actor"] == "kj-1" and history[-1]["reason"] == "承诺材料未提交"


async def test_risk_based_sampling_of_approved_commitment_cases(approval, infra, sender) -> None:
    headers = infra.auth("approver", sub="jx-1", departments=["JX"])
    holder = uid("holder")
    commitment_tasks = []
    for _ in range(3):
        event = accepted(
            item("JX-001", "JX", steps=["decision"], commitment=(["M-LEASE"], DEADLINE)), id_number=holder
        )
        [task] = await open_application(approval, sender, event)
        await sender.send(supplemented(event.application_id, at=date(2026, 10, 9), materials=["M-LEASE"]))
        commitment_tasks.append(task)
    [plain] = await open_application(approval, sender, accepted(item("JX-001", "JX", steps=["decision"])))

    async def fulfilled():
        statuses = [
            (await tasks_of(approval, t.application_id))[0].commitment_status for t in commitment_tasks
        ]
        return statuses == ["fulfilled"] * 3

    await wait_for(fulfilled, timeout=60, message="commitments fulfilled")
    with today(approval, date(2026, 10, 12)):
        for task in [*commitment_tasks, plain]:
            await approve(approval, headers, task.id)
    assert [c for c in await listed_checks(approval, infra, "JX")] == []  # fulfilled: no automatic post-check

    request = {"department": "JX", "decided_from": "2026-10-01", "decided_to": "2026-10-31", "seed": "2026Q4"}
    none = await approval.post("/post-checks/sampling", json=request | {"base_rate": 0}, headers=headers)
    assert none.status_code == 201 and none.json() == []
    outsider = infra.auth("approver", departments=["NY"])
    assert (
        await approval.post("/post-checks/sampling", json=request | {"base_rate": 1}, headers=outsider)
    ).status_code == 403
    bad = await approval.post("/post-checks/sampling", json=request | {"base_rate": 2}, headers=headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "base_rate"

    sampled = await approval.post("/post-checks/sampling", json=request | {"base_rate": 1}, headers=headers)
    assert sampled.status_code == 201, sampled.text
    assert sorted(c["task_id"] for c in sampled.json()) == sorted(t.id for t in commitment_tasks)
    assert all(c["reason"] == "sampled" and c["risk_score"] == 1.5 for c in sampled.json())
    again = await approval.post("/post-checks/sampling", json=request | {"base_rate": 1}, headers=headers)
    assert again.json() == []  # a case is drawn once

    # A failed check of this holder raises the risk of their later cases.
    first = sampled.json()[0]
    failed = await approval.post(
        f"/post-checks/{first['id']}/result",
        json={"outcome": "rectification", "note": "经营场所与承诺不符"},
        headers=headers,
    )
    assert failed.status_code == 200
    later_event = accepted(
        item("JX-001", "JX", steps=["decision"], commitment=(["M-LEASE"], DEADLINE)), id_number=holder
    )
    [later] = await open_application(approval, sender, later_event)
    await sender.send(supplemented(later_event.application_id, at=date(2026, 10, 9), materials=["M-LEASE"]))

    async def later_fulfilled():
        return (await tasks_of(approval, later.application_id))[0].commitment_status == "fulfilled"

    await wait_for(later_fulfilled, timeout=60, message="later commitment fulfilled")
    with today(approval, date(2026, 10, 13)):
        await approve(approval, headers, later.id)
    # risk 1.5 + 2 (one failed check of the holder) = 3.5; at base rate 0.29 that is a sure draw.
    drawn = await approval.post("/post-checks/sampling", json=request | {"base_rate": 0.29}, headers=headers)
    assert [(c["task_id"], c["risk_score"]) for c in drawn.json()] == [(later.id, 3.5)]


def test_risk_score_weights() -> None:
    task = Task(matter_code="SCJG-003", commitment_materials=["A", "B"])
    assert post_checks.risk_score(task, failed_before=0, high_risk_matters=set()) == 2.0
    assert post_checks.risk_score(task, failed_before=0, high_risk_matters={"SCJG-003"}) == 4.0
    assert post_checks.risk_score(task, failed_before=1, high_risk_matters=set()) == 4.0
    assert post_checks.risk_score(task, failed_before=9, high_risk_matters=set()) == 8.0  # capped


async def test_post_check_lists_follow_the_callers_departments(approval, infra, sender) -> None:
    department = uid("LY")
    event = accepted(item("LY-001", department, steps=["decision"], commitment=(["M-LEASE"], DEADLINE)))
    [task] = await open_application(approval, sender, event)
    headers = infra.auth("approver", sub="ly-1", departments=[department])
    await approve(approval, headers, task.id)

    detail = (await approval.get(f"/tasks/{task.id}", headers=headers)).json()
    [check] = detail["post_checks"]
    assert (check["task_id"], check["reason"], check["status"]) == (task.id, "approved_with_missing", "open")
    mine = (await approval.get("/post-checks", headers=headers)).json()
    assert [c["id"] for c in mine] == [check["id"]] and {c["department"] for c in mine} == {department}
    assert (await approval.get("/post-checks", params={"status": "open"}, headers=headers)).json() == mine
    assert (await approval.get("/post-checks", params={"status": "passed"}, headers=headers)).json() == []
    outsider = infra.auth("approver", departments=["NY"])
    assert check["id"] not in {c["id"] for c in (await approval.get("/post-checks", headers=outsider)).json()}
    scoped = await approval.get("/post-checks", params={"department": department}, headers=outsider)
    assert scoped.status_code == 403
