"""Liaison hand-overs (联络官): files sent to a department and returned, one open hand-over per task."""

from tests.approval.approval_support import accepted, item, open_application


async def test_liaison_hand_over_and_return(approval, infra, sender) -> None:
    [task] = await open_application(approval, sender, accepted(item("DA-001", "DA")))
    liaison = infra.auth("liaison", sub="liaison-da", departments=["DA"])
    other_liaison = infra.auth("liaison", sub="liaison-ny", departments=["NY"])
    approver = infra.auth("approver", sub="da-1", departments=["DA"])
    files = {"files": ["申请书", "营业执照复印件"], "note": "送档案馆审查", "received_by": "王科长"}

    assert task.id in {
        t["id"] for t in (await approval.get("/tasks", params={"matter": "DA-001"}, headers=liaison)).json()
    }
    assert (await approval.post(f"/tasks/{task.id}/claim", headers=liaison)).status_code == 403
    assert (
        await approval.post(f"/tasks/{task.id}/handovers", json=files, headers=approver)
    ).status_code == 403
    assert (
        await approval.post(f"/tasks/{task.id}/handovers", json=files, headers=other_liaison)
    ).status_code == 403
    blank = await approval.post(f"/tasks/{task.id}/handovers", json={"files": [" "]}, headers=liaison)
    assert blank.status_code == 422 and blank.json()["errors"][0]["field"] == "files"

    sent = await approval.post(f"/tasks/{task.id}/handovers", json=files, headers=liaison)
    assert sent.status_code == 201, sent.text
    handover = sent.json()
    assert handover["sent_by"] == "liaison-da" and handover["returned_at"] is None
    assert (
        await approval.post(f"/tasks/{task.id}/handovers", json=files, headers=liaison)
    ).status_code == 409

    back = {"files": ["申请书"], "note": "营业执照复印件留存部门"}
    assert (
        await approval.post(f"/handovers/{handover['id']}/return", json=back, headers=other_liaison)
    ).status_code == 403
    returned = await approval.post(f"/handovers/{handover['id']}/return", json=back, headers=liaison)
    assert returned.status_code == 200 and returned.json()["returned_by"] == "liaison-da"
    assert (
        await approval.post(f"/handovers/{handover['id']}/return", json=back, headers=liaison)
    ).status_code == 409

    detail = (await approval.get(f"/tasks/{task.id}", headers=approver)).json()
    assert len(detail["handovers"]) == 1 and detail["handovers"][0]["returned_files"] == ["申请书"]
    entries = [h for h in detail["history"] if h["action"].startswith("files_")]
    assert [(h["action"], h["role"], h["actor"]) for h in entries] == [
        ("files_sent", "liaison", "liaison-da"),
        ("files_returned", "liaison", "liaison-da"),
    ]
    assert entries[1]["data"]["missing"] == ["营业执照复印件"]
