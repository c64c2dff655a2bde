"""Opening drafts (services/acceptance/opening.py): matters, bundles across halls, called tickets, retried opens,
prefill from forms, degraded mode (forms down or slow) and prefilling again once forms is back.
"""

import time
from datetime import UTC, datetime
from typing import Any

from shared.events.ticketing import TicketCalled
from shared.infra import wait_for
from shared.workdays import default_calendar
from tests.acceptance.conftest import (
    HALL,
    OTHER_HALL,
    company,
    company_values,
    new_credit_code,
    new_id_number,
    open_app,
    person,
    publish,
    today,
)


async def test_a_retried_open_returns_the_same_draft(acc, catalog, clerk) -> None:
    body = {"hall": HALL, "matter": "RS-003", "applicant": person()}
    key = {"Idempotency-Key": f"open-{new_id_number()}"}
    first = await acc.post("/applications", headers=clerk | key, json=body)
    again = await acc.post("/applications", headers=clerk | key, json=body)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    other = await acc.post(
        "/applications", headers=clerk | {"Idempotency-Key": key["Idempotency-Key"] + "x"}, json=body
    )
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]


async def test_bundle_one_receipt_parallel_items_across_halls(acc, catalog, published, infra) -> None:
    clerk_dl = infra.auth("clerk", halls=[OTHER_HALL], sub="clerk-dl-1")
    uscc = new_credit_code()
    draft = await open_app(
        acc, clerk_dl, hall=OTHER_HALL, bundle="ONE-ENTERPRISE", collect_hall=HALL, applicant=company(uscc)
    )
    assert [i["matter_code"] for i in draft["items"]] == [
        "SCJG-002",
        "GA-001",
        "SWJ-001",
        "RS-002",
        "GJJ-002",
    ]
    codes = {m["code"] for i in draft["items"] for m in i["materials"]}
    values = {k: v for k, v in company_values(uscc).items() if k in {f["key"] for f in draft["fields"]}}
    accepted = await acc.post(
        f"/applications/{draft['id']}/submit",
        headers=clerk_dl,
        json={"values": values, "presented": sorted(codes)},
    )
    assert accepted.status_code == 200, accepted.text
    app = accepted.json()
    assert app["status"] == "accepted" and app["hall"] == OTHER_HALL and app["collect_hall"] == HALL
    item_dates = {i["matter_code"]: i["promised_date"] for i in app["items"]}
    assert item_dates["SCJG-002"] == default_calendar().add_working_days(today(), 1).isoformat()
    assert app["promised_date"] == max(item_dates.values())

    envelope = await published.wait(lambda e: e.type == "application.accepted" and e.key == draft["id"])
    payload = envelope.payload
    assert payload["bundle_code"] == "ONE-ENTERPRISE" and payload["hall"] == OTHER_HALL
    assert payload["collect_hall"] == HALL
    assert [i["department"] for i in payload["items"]] == ["SCJG", "GA", "SWJ", "RS", "GJJ"]
    assert len({i["item_id"] for i in payload["items"]}) == 5  # one approval task per member matter

    # the collecting hall sees it (results come to it); it does not act on it at the front desk
    clerk_tx = infra.auth("clerk", halls=[HALL], sub="clerk-tx-2")
    assert (await acc.get(f"/applications/{draft['id']}", headers=clerk_tx)).status_code == 200
    assert (await acc.get(f"/applications/{draft['id']}/receipt", headers=clerk_tx)).json()[
        "collect_hall"
    ] == HALL
    assert (
        await acc.post(f"/applications/{draft['id']}/refuse", headers=clerk_tx, json={"reason": "测试"})
    ).status_code == 403


async def test_open_from_a_called_ticket(acc, catalog, clerk) -> None:
    ticket_id = f"T-{new_id_number()[-8:]}"
    await publish(
        acc,
        TicketCalled(
            ticket_id=ticket_id,
            hall=HALL,
            number="A017",
            matter_code="RS-003",
            window="W05",
            staff_id="clerk-tx-1",
            called_at=datetime.now(UTC),
        ),
        correlation_id=f"corr-{ticket_id}",
        producer="ticketing",
    )
    body = {"hall": HALL, "ticket_id": ticket_id, "applicant": person()}

    async def opened() -> Any:
        response = await acc.post("/applications", headers=clerk, json=body)
        return response if response.status_code == 201 else None

    response = await wait_for(opened, timeout=30, interval=0.3, message="ticket read model")
    draft = response.json()
    assert draft["ticket_id"] == ticket_id and draft["matter_code"] == "RS-003"
    runtime = acc.app.state.runtime
    from services.acceptance.models import Application

    async with runtime.sessionmaker() as session:
        row = await session.get(Application, draft["id"])
    assert row.correlation_id == f"corr-{ticket_id}"  # one id from ticket to licence
    unknown = await acc.post("/applications", headers=clerk, json=body | {"ticket_id": "T-never-called"})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "ticket_id"
    infra_other = await acc.post("/applications", headers=clerk, json=body | {"hall": "ZS-CITY"})
    assert infra_other.status_code == 403  # the clerk does not work in ZS-CITY


async def test_forms_down_degraded_mode_still_accepts(acc, catalog, published, clerk, forms_link) -> None:
    forms_link.mode = "down"
    try:
        started = time.monotonic()
        draft = await open_app(acc, clerk, matter="RS-003", applicant=person())
        assert time.monotonic() - started < 5
    finally:
        forms_link.mode = "up"
    assert draft["degraded"] is True and "unreachable" in draft["prefill_note"]
    assert all(f["value"] is None and not f["locked"] for f in draft["fields"])
    assert draft["missing_fields"] == ["person.name", "person.id_number", "person.mobile", "person.address"]
    assert draft["items"][0]["materials"][0]["status"] == "missing"  # nothing checked off without forms
    values = {
        "person.name": "王小明",
        "person.id_number": new_id_number(),
        "person.mobile": "13611112222",
        "person.address": "桐乡市凤鸣街道1号",
    }
    accepted = await acc.post(
        f"/applications/{draft['id']}/submit",
        headers=clerk,
        json={"values": values, "presented": ["ID_CARD"]},
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
    event = await published.wait(lambda e: e.type == "application.accepted" and e.key == draft["id"])
    assert event.payload["prefill_degraded"] is True and event.payload["verified_fields"] == []


async def test_prefill_again_once_forms_is_back(
    acc, catalog, published, clerk, forms_link, forms_stub
) -> None:
    id_number = new_id_number()
    forms_stub.profiles[id_number] = {
        "fields": {"person.name": ("刘一手", True), "person.address": ("桐乡市高桥街道3号", False)},
        "licences": {"ID_CARD": "ID-330483-0042"},
    }
    forms_link.mode = "down"
    try:
        draft = await open_app(acc, clerk, matter="RS-003", applicant=person(id_number))
        typed = {"person.name": "刘一", "person.mobile": "13622223333"}
        assert (
            await acc.patch(f"/applications/{draft['id']}", headers=clerk, json={"values": typed})
        ).status_code == 200
        still_down = await acc.post(f"/applications/{draft['id']}/prefill", headers=clerk)
        assert still_down.status_code == 503 and still_down.json()["code"] == "dependency_unavailable"
    finally:
        forms_link.mode = "up"
    again = await acc.post(f"/applications/{draft['id']}/prefill", headers=clerk)
    assert again.status_code == 200, again.text
    body = again.json()
    assert body["degraded"] is False
    fields = {f["key"]: f for f in body["fields"]}
    assert fields["person.name"]["value"] == "刘一手" and fields["person.name"]["locked"]  # verified wins
    assert fields["person.mobile"]["value"] == "13622223333"  # typed, forms knows nothing better
    assert fields["person.address"]["value"] == "桐乡市高桥街道3号" and not fields["person.address"]["locked"]
    assert body["items"][0]["materials"][0]["status"] == "licence"
    accepted = await acc.post(
        f"/applications/{draft['id']}/submit", headers=clerk, json={"values": {"person.id_number": id_number}}
    )
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted", accepted.text
    event = await published.wait(lambda e: e.type == "application.accepted" and e.key == draft["id"])
    assert event.payload["verified_fields"] == ["person.name"] and event.payload["prefill_degraded"] is False


async def test_slow_forms_is_cut_off_at_the_budget(acc, catalog, clerk, forms_stub) -> None:
    forms_stub.delay = 3.0
    try:
        started = time.monotonic()
        draft = await open_app(acc, clerk, matter="RS-003", applicant=person())
        elapsed = time.monotonic() - started
    finally:
        forms_stub.delay = 0.0
    assert draft["degraded"] is True and "in time" in draft["prefill_note"]
    assert elapsed < 2.5
