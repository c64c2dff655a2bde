"""Liaison officers who carry decisions (issue 14 item 7): a department the catalogue marks without resident
approvers has its tasks in the liaison worklist; the liaison records the hand-over, the return and the
department's signed decision document; the decision flows like an approver's; the clock never pauses."""

import base64
import hashlib
import uuid
from datetime import UTC, datetime

from sqlalchemy import select

from services.approval.models import Department
from shared.events.catalog import MatterPublished
from shared.infra import wait_for
from tests.approval.approval_support import accepted, item, open_application, outbox_events

PDF = b"%PDF-1.4\n% signed decision of the department\n%%EOF\n"


async def _liaison_department(approval, sender, *, resident: bool = False) -> str:
    """A department of its own for this test, published by the catalogue, known to approval."""
    code = f"LX{uuid.uuid4().hex[:6].upper()}"
    await sender.send(
        MatterPublished(
            catalog_version=1,
            code=f"{code}-001",
            name="船舶进出境许可",
            department=code,
            department_name="海关",
            department_resident_approvers=resident,
            category="OTHER",
            zone="A",
            applicant_type="legal_person",
            legal_limit_working_days=20,
            promised_limit_working_days=5,
            published_at=datetime.now(UTC),
        )
    )

    async def known() -> bool:
        async with approval.app.state.runtime.sessionmaker() as session:
            return (
                await session.execute(select(Department.code).where(Department.code == code))
            ).first() is not None

    await wait_for(known, timeout=60, message=f"department {code} in approval's read model")
    return code


def _decision(**document) -> dict:
    return {
        "decision": "approved",
        "reason": "经部门审查,符合条件",
        "document": {"number": "拱关许〔2026〕12号", "signed_by": "李处长", "signed_on": "2026-09-28"}
        | document,
    }


async def test_a_liaison_carries_the_task_and_records_the_signed_decision(approval, infra, sender) -> None:
    department = await _liaison_department(approval, sender)
    [task] = await open_application(approval, sender, accepted(item(f"{department}-001", department)))
    assert task.via_liaison is True
    liaison = infra.auth("liaison", sub="liaison-hg", departments=[department], halls=["ZS-CITY"])
    other_hall = infra.auth("liaison", sub="liaison-town", departments=[department], halls=["ZS-TOWN"])
    approver = infra.auth("approver", sub="hg-1", departments=[department])

    # in the liaison's worklist, not in the approvers' queue
    rows = (await approval.get("/liaison/worklist", headers=liaison)).json()
    row = next(r for r in rows if r["id"] == task.id)
    assert row["via_liaison"] is True and row["files"] == "in_hall" and row["handover_id"] is None
    assert row["applicant_name"] == "张**"
    assert task.id not in {r["id"] for r in (await approval.get("/liaison/worklist", headers=other_hall)).json()}
    assert task.id not in {r["id"] for r in (await approval.get("/tasks", headers=approver)).json()}
    assert (await approval.get("/liaison/worklist", headers=approver)).status_code == 403
    assert (
        await approval.get("/liaison/worklist", params={"department": "SCJG"}, headers=liaison)
    ).status_code == 403
    # nobody decides it directly: approvers 403, the liaison only once the files came back
    direct = await approval.post(f"/tasks/{task.id}/approve", json={}, headers=approver)
    assert direct.status_code == 403 and "liaison" in direct.json()["detail"]
    # ... nor claims it (then supplements or suspensions would bypass the liaison too)
    assert (await approval.post(f"/tasks/{task.id}/claim", headers=approver)).status_code == 403
    early = await approval.post(f"/tasks/{task.id}/liaison-decision", json=_decision(sha256="a" * 64), headers=liaison)
    assert early.status_code == 409 and "hand-over" in early.json()["detail"]

    before = (await approval.get(f"/tasks/{task.id}", headers=liaison)).json()["clock"]
    sent = await approval.post(
        f"/tasks/{task.id}/handovers",
        json={"files": ["申请书", "船舶证书"], "received_by": "王科长"},
        headers=liaison,
    )
    assert sent.status_code == 201, sent.text
    handover = sent.json()
    at_department = await approval.post(
        f"/tasks/{task.id}/liaison-decision", json=_decision(sha256="a" * 64), headers=liaison
    )
    assert at_department.status_code == 409 and "return" in at_department.json()["detail"]
    during = (await approval.get(f"/tasks/{task.id}", headers=liaison)).json()
    assert during["status"] == "pending" and during["clock"]["state"] != "paused"  # the clock runs meanwhile
    assert (during["clock"]["promised_due"], during["clock"]["legal_due"], during["clock"]["paused_days"]) == (
        before["promised_due"], before["legal_due"], 0
    )
    row = next(r for r in (await approval.get("/liaison/worklist", headers=liaison)).json() if r["id"] == task.id)
    assert row["files"] == "at_department" and row["handover_id"] == handover["id"]

    returned = await approval.post(
        f"/handovers/{handover['id']}/return", json={"files": ["申请书", "船舶证书", "决定书"]}, headers=liaison
    )
    assert returned.status_code == 200, returned.text

    # a bad document is refused field by field, and nothing is stored
    not_pdf = await approval.post(
        f"/tasks/{task.id}/liaison-decision",
        json=_decision(file_base64=base64.b64encode(b"just some text").decode()),
        headers=liaison,
    )
    assert not_pdf.status_code == 422 and not_pdf.json()["errors"][0]["field"] == "document.file_base64"
    mismatch = await approval.post(
        f"/tasks/{task.id}/liaison-decision",
        json=_decision(file_base64=base64.b64encode(PDF).decode(), sha256="0" * 64),
        headers=liaison,
    )
    assert mismatch.status_code == 422 and mismatch.json()["errors"][0]["field"] == "document.sha256"
    neither = await approval.post(
        f"/tasks/{task.id}/liaison-decision",
        json={"decision": "approved", "document": {"number": "1", "signed_by": "李", "signed_on": "2026-09-28"}},
        headers=liaison,
    )
    assert neither.status_code == 422 and neither.json()["errors"][0]["field"] == "document"
    no_reason = await approval.post(
        f"/tasks/{task.id}/liaison-decision",
        json=_decision(sha256="a" * 64) | {"decision": "denied", "reason": None},
        headers=liaison,
    )
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"
    still = (await approval.get(f"/tasks/{task.id}", headers=liaison)).json()
    assert still["status"] == "pending" and still["decision_document"] is None

    digest = hashlib.sha256(PDF).hexdigest()
    decided = await approval.post(
        f"/tasks/{task.id}/liaison-decision",
        json=_decision(file_base64=base64.b64encode(PDF).decode(), sha256=digest, file_name="决定书.pdf"),
        headers=liaison,
    )
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert body["status"] == "approved" and body["decided_by"] == "liaison-hg"
    assert body["reason"] == "经部门审查,符合条件"
    document = body["decision_document"]
    assert document["number"] == "拱关许〔2026〕12号" and document["signed_by"] == "李处长"
    assert document["sha256"] == digest and document["has_file"] is True and document["size"] == len(PDF)
    assert document["handover_id"] == handover["id"]
    assert body["clock"]["promised_due"] == before["promised_due"]  # never paused
    entry = body["history"][-1]
    assert (entry["action"], entry["role"], entry["actor"]) == ("approved", "liaison", "liaison-hg")
    assert entry["data"]["document"]["number"] == "拱关许〔2026〕12号"
    [event] = await outbox_events(approval, "approval.decided", task_id=task.id)
    assert event["payload"]["decision"] == "approved" and event["payload"]["department"] == department
    assert event["payload"]["application_decided"] is True

    pdf = await approval.get(f"/tasks/{task.id}/decision-document", headers=approver)
    assert pdf.status_code == 200 and pdf.content == PDF
    assert pdf.headers["content-type"] == "application/pdf" and pdf.headers["x-content-sha256"] == digest
    again = await approval.post(f"/tasks/{task.id}/liaison-decision", json=_decision(sha256=digest), headers=liaison)
    assert again.status_code == 409


async def test_a_liaison_cannot_decide_for_a_department_with_resident_approvers(approval, infra, sender) -> None:
    department = await _liaison_department(approval, sender, resident=True)
    [task] = await open_application(approval, sender, accepted(item(f"{department}-001", department)))
    assert task.via_liaison is False
    liaison = infra.auth("liaison", sub="liaison-da", departments=[department], halls=["*"])
    sent = await approval.post(f"/tasks/{task.id}/handovers", json={"files": ["申请书"]}, headers=liaison)
    assert sent.status_code == 201  # carrying files stays possible for any department
    assert (
        await approval.post(f"/handovers/{sent.json()['id']}/return", json={"files": ["申请书"]}, headers=liaison)
    ).status_code == 200
    refused = await approval.post(
        f"/tasks/{task.id}/liaison-decision", json=_decision(sha256="b" * 64), headers=liaison
    )
    assert refused.status_code == 403
    assert "has approvers in the hall" in refused.json()["detail"]
    assert task.id not in {r["id"] for r in (await approval.get("/liaison/worklist", headers=liaison)).json()}
    detail = (await approval.get(f"/tasks/{task.id}", headers=liaison)).json()
    assert detail["status"] == "pending" and detail["decision_document"] is None
    assert await outbox_events(approval, "approval.decided", task_id=task.id) == []
    other = infra.auth("liaison", sub="liaison-ny", departments=["NY"], halls=["*"])
    assert (
        await approval.post(f"/tasks/{task.id}/liaison-decision", json=_decision(sha256="b" * 64), headers=other)
    ).status_code == 403
