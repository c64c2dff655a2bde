"""Bundles (一件事) in approval (issue 14 items 4 and 5): later members wait for the upstream licence
(licence.issued through the real broker opens them), a denied upstream ends them, and the lead department
(牵头部门) sees every member, is alerted once per late member and issues one combined decision notice."""

from datetime import UTC, date, datetime

from shared.events.applications import AcceptedItem, Awaited, MaterialState
from shared.events.envelope import Envelope
from shared.events.licences import LicenceIssued
from shared.infra import wait_for
from shared.workdays import default_calendar
from tests.approval.approval_support import (
    accepted,
    approver,
    item,
    open_application,
    outbox_events,
    sweep,
    tasks_of,
    today,
    uid,
)

NAMES = {
    "SCJG-002": ("SCJG", "有限责任公司设立登记", "BIZ_LICENCE"),
    "GA-001": ("GA", "公章刻制备案", "SEAL_RECORD"),
    "SWJ-001": ("SWJ", "新办纳税人涉税事项", None),
    "RS-002": ("RS", "单位参保登记", None),
    "GJJ-002": ("GJJ", "单位住房公积金缴存登记", None),
}
ACCEPTED_ON = date(2026, 9, 24)


def member(code: str, *, promised: int = 10, awaits: AcceptedItem | None = None, parallel: bool = False) -> AcceptedItem:
    """A member of 企业开办一件事; ``awaits``: the SCJG-002 item whose business licence it needs."""
    department, name, licence = NAMES[code]
    base = item(code, department, steps=["decision"], promised=promised)
    materials = [MaterialState(code="ID_CARD", status="present")]
    waits: list[Awaited] = []
    if awaits is not None:
        materials.append(MaterialState(code="BIZ_LICENCE", status="from_bundle"))
        waits = [
            Awaited(material="BIZ_LICENCE", from_item_id=awaits.item_id, from_matter="SCJG-002", licence_type="BIZ_LICENCE")
        ]
    return base.model_copy(
        update={"matter_name": name, "result_licence_type": licence, "materials": materials, "awaits": waits,
                "parallel": parallel}
    )


def enterprise(*items: AcceptedItem):
    return accepted(*items, accepted_on=ACCEPTED_ON, bundle_code="ONE-ENTERPRISE").model_copy(
        update={"lead_department": "SCJG"}
    )


async def decide(approval, infra, task, *, day: date, deny: str | None = None) -> None:
    headers = approver(infra, f"{task.department.lower()}-1", task.department)
    assert (await approval.post(f"/tasks/{task.id}/claim", headers=headers)).status_code == 200
    with today(approval, day):
        if deny:
            response = await approval.post(f"/tasks/{task.id}/deny", json={"reason": deny}, headers=headers)
        else:
            response = await approval.post(f"/tasks/{task.id}/approve", json={}, headers=headers)
    assert response.status_code == 200, response.text


async def task_of(approval, application_id: str, item_id: str):
    return next(t for t in await tasks_of(approval, application_id) if t.item_id == item_id)


async def test_later_members_wait_for_the_business_licence(approval, infra, sender) -> None:
    scjg = member("SCJG-002", promised=1)
    ga = member("GA-001", awaits=scjg, parallel=True)
    swj = member("SWJ-001", promised=3, awaits=scjg)
    event = enterprise(scjg, ga, swj)
    await open_application(approval, sender, event)
    waiting = await task_of(approval, event.application_id, swj.item_id)
    assert waiting.status == "waiting_upstream"
    assert (await task_of(approval, event.application_id, ga.item_id)).status == "pending"

    swj_staff = approver(infra, "swj-1", "SWJ")
    listed = (await approval.get("/tasks", params={"status": "waiting_upstream"}, headers=swj_staff)).json()
    row = next(t for t in listed if t["id"] == waiting.id)
    assert row["awaits"][0]["from_matter"] == "SCJG-002" and row["awaits"][0]["licence_no"] is None
    assert row["clock"]["state"] == "paused"  # the clock does not run while waiting
    assert not await outbox_events(approval, "approval.task_opened", task_id=waiting.id)
    assert (await approval.post(f"/tasks/{waiting.id}/claim", headers=swj_staff)).status_code == 200
    refused = await approval.post(f"/tasks/{waiting.id}/approve", json={}, headers=swj_staff)
    assert refused.status_code == 409 and "前置事项" in refused.json()["detail"]

    # the parallel member works at once, but is approved only once the licence is there
    ga_task = await task_of(approval, event.application_id, ga.item_id)
    ga_staff = approver(infra, "ga-1", "GA")
    assert (await approval.post(f"/tasks/{ga_task.id}/claim", headers=ga_staff)).status_code == 200
    early = await approval.post(f"/tasks/{ga_task.id}/approve", json={}, headers=ga_staff)
    assert early.status_code == 409 and "BIZ_LICENCE of SCJG-002" in early.json()["detail"], early.text

    upstream = await task_of(approval, event.application_id, scjg.item_id)
    await decide(approval, infra, upstream, day=date(2026, 9, 25))
    [decided] = await outbox_events(approval, "approval.decided", task_id=upstream.id)
    assert sorted(decided["payload"]["awaited_by"]) == sorted([ga.item_id, swj.item_id])

    licence_no = f"BL-{uid('x')}"
    issued = LicenceIssued(
        licence_no=licence_no, licence_type="BIZ_LICENCE", holder_type="legal_person", holder_id="91330000MA0000000X",
        holder_name="桐乡味道餐饮有限公司", issuing_department="SCJG", valid_from=date(2026, 9, 28),
        application_id=event.application_id, item_id=scjg.item_id, matter_code="SCJG-002",
        issued_at=datetime(2026, 9, 28, 2, 0, tzinfo=UTC),  # Monday 10:00 in Beijing
    )
    await sender.send(issued, env=Envelope.wrap(issued, producer="issuance", correlation_id=event.application_id))

    async def opened():
        task = await task_of(approval, event.application_id, swj.item_id)
        return task if task.status == "pending" else None

    task = await wait_for(opened, timeout=60, message="the waiting member opened")
    biz = next(m for m in task.materials if m["code"] == "BIZ_LICENCE")
    assert biz == {"code": "BIZ_LICENCE", "status": "licence", "licence_no": licence_no}
    assert task.awaits[0]["licence_no"] == licence_no
    # its promised limit (3 working days) counts from the licence's day: 28 Sep + 3 (National Day holidays off)
    assert task.promised_due == default_calendar().add_working_days(date(2026, 9, 28), 3)
    history = [h["action"] for h in (await approval.get(f"/tasks/{task.id}/history", headers=swj_staff)).json()]
    assert history[-2:] == ["upstream_licence_arrived", "upstream_opened"]
    [opened_event] = await outbox_events(approval, "approval.task_opened", task_id=task.id)
    assert opened_event["payload"]["promised_due"] == task.promised_due.isoformat()
    assert (await task_of(approval, event.application_id, scjg.item_id)).licence_no == licence_no

    with today(approval, date(2026, 9, 29)):
        assert (await approval.post(f"/tasks/{ga_task.id}/approve", json={}, headers=ga_staff)).status_code == 200
    # a redelivered licence changes nothing
    await sender.send(issued, env=Envelope.wrap(issued, producer="issuance", correlation_id=event.application_id))
    assert len(await outbox_events(approval, "approval.task_opened", task_id=task.id)) == 1


async def test_a_denied_upstream_ends_the_members_waiting_for_it(approval, infra, sender) -> None:
    scjg = member("SCJG-002")
    ga = member("GA-001", awaits=scjg, parallel=True)
    swj = member("SWJ-001", awaits=scjg)
    rs = member("RS-002")  # needs nothing from the bundle (e.g. the applicant held the licence)
    event = enterprise(scjg, ga, swj, rs)
    await open_application(approval, sender, event)
    upstream = await task_of(approval, event.application_id, scjg.item_id)
    await decide(approval, infra, upstream, day=date(2026, 9, 25), deny="名称不符合规定")
    for waiting in (ga, swj):
        task = await task_of(approval, event.application_id, waiting.item_id)
        assert task.status == "denied" and task.reason.startswith("前置事项未获批准")
        [ended] = await outbox_events(approval, "approval.decided", task_id=task.id)
        assert ended["payload"]["decision"] == "denied" and ended["payload"]["application_decided"] is False
    assert (await task_of(approval, event.application_id, rs.item_id)).status == "pending"
    await decide(approval, infra, await task_of(approval, event.application_id, rs.item_id), day=date(2026, 9, 28))
    lead = approver(infra, "scjg-lead", "SCJG")
    assert (await approval.get(f"/bundles/{event.application_id}", headers=lead)).json()["status"] == "decided"


async def test_the_lead_department_sees_is_alerted_once_and_issues_one_notice(approval, infra, sender) -> None:
    items = [member(code, promised=1 if code == "RS-002" else 10) for code in NAMES]  # 企业开办, RS runs late
    event = enterprise(*items)
    tasks = {t.matter_code: t for t in await open_application(approval, sender, event)}
    lead = approver(infra, "scjg-lead", "SCJG")
    rs_staff = approver(infra, "rs-1", "RS")

    listed = (await approval.get("/bundles", params={"status": "open"}, headers=lead)).json()
    bundle = next(b for b in listed if b["application_id"] == event.application_id)
    assert [m["matter_code"] for m in bundle["members"]] == list(NAMES)
    assert bundle["due_date"] == max(t.promised_due for t in tasks.values()).isoformat()
    assert bundle["lead_department"] == "SCJG" and bundle["alerts"] == []
    assert event.application_id not in [b["application_id"] for b in (await approval.get("/bundles", headers=rs_staff)).json()]
    assert (await approval.get(f"/bundles/{event.application_id}", headers=rs_staff)).status_code == 403
    # read-only: the lead cannot claim or decide another department's member
    assert (await approval.post(f"/tasks/{tasks['RS-002'].id}/claim", headers=lead)).status_code == 403

    for day in (date(2026, 9, 29), date(2026, 9, 30)):  # the second sweep finds nothing new
        await sweep(approval, infra, day)
    view = (await approval.get(f"/bundles/{event.application_id}", headers=lead)).json()
    assert [(a["matter_code"], a["department"]) for a in view["alerts"]] == [("RS-002", "RS")]
    assert {m["matter_code"]: m["late_alerted"] for m in view["members"]}["RS-002"] is True
    assert {m["matter_code"]: m["clock"]["state"] for m in view["members"]}["RS-002"] == "overdue"
    late = await outbox_events(approval, "approval.bundle_member_overdue", application_id=event.application_id)
    assert len(late) == 1 and late[0]["payload"]["lead_department"] == "SCJG"
    assert late[0]["payload"]["task_id"] == tasks["RS-002"].id

    url = f"/bundles/{event.application_id}/decision-notice"
    assert (await approval.post(url, headers=lead)).status_code == 409  # members are still open
    for code, task in tasks.items():
        await decide(approval, infra, task, day=date(2026, 10, 9), deny="缴存基数不符" if code == "GJJ-002" else None)
    assert (await approval.post(url, headers=rs_staff)).status_code == 403
    issued = await approval.post(url, headers=lead)
    assert issued.status_code == 201, issued.text
    notice = issued.json()
    assert [(m["matter_code"], m["department"], m["decision"]) for m in notice["members"]] == [
        (code, NAMES[code][0], "denied" if code == "GJJ-002" else "approved") for code in NAMES
    ]
    assert all(m["decided_on"] == "2026-10-09" for m in notice["members"])
    assert notice["members"][0]["licence_type"] == "BIZ_LICENCE" and (notice["approved"], notice["denied"]) == (4, 1)
    again = await approval.post(url, headers=lead)
    assert again.status_code == 200 and again.json()["notice_no"] == notice["notice_no"]
    assert (await approval.get(url, headers=lead)).json()["notice_no"] == notice["notice_no"]
    page = await approval.get(f"{url}.html", headers=lead)
    assert page.status_code == 200 and "一件事联合审批决定书" in page.text
    assert all(name in page.text for _, name, _ in NAMES.values()) and "缴存基数不符" in page.text
    events = await outbox_events(approval, "approval.bundle_decision_notice_issued", application_id=event.application_id)
    assert len(events) == 1 and len(events[0]["payload"]["members"]) == 5
    decided = (await approval.get("/bundles", params={"status": "decided"}, headers=lead)).json()
    assert next(b for b in decided if b["application_id"] == event.application_id)["notice_no"] == notice["notice_no"]
