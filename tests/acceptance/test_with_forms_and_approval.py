"""Acceptance with the real forms and approval services, through the real broker.

forms learns a licence (licence.issued) and prefills acceptance's form: the licence checks off its material,
identity and licence values arrive locked; the accepted application is consumed by approval, whose
approval.task_opened comes back into acceptance's status history.
"""

from datetime import UTC, date, datetime
from typing import Any

import httpx
from sqlalchemy import select

from services.acceptance.models import Matter
from services.forms.reading_basis import BasisClient
from shared.events.licences import LicenceIssued
from shared.infra import wait_for
from tests.acceptance.conftest import new_credit_code, new_id_number, publish

HALL = "TX-CITY"


async def test_real_forms_prefill_then_real_approval_opens_tasks(
    acc, forms, approval, infra, forms_link, published, reference
) -> None:
    admin = infra.auth("catalog_admin")
    created = await forms.post("/catalog/versions", json=reference, headers=admin)
    assert created.status_code == 201, created.text
    version = created.json()["version"]
    assert (await forms.post(f"/catalog/versions/{version}/publish", headers=admin)).status_code == 200

    async def catalogue_arrived() -> bool:
        async with acc.app.state.runtime.sessionmaker() as session:
            matter = (await session.execute(select(Matter).where(Matter.code == "SCJG-003"))).scalar_one_or_none()
        return matter is not None and matter.catalog_version >= version

    await wait_for(catalogue_arrived, timeout=60, message="forms catalogue in acceptance")

    uscc = new_credit_code()
    now = datetime.now(UTC)
    await publish(acc, LicenceIssued(
        licence_no=f"BL-{uscc}", licence_type="BIZ_LICENCE", holder_type="legal_person", holder_id=uscc,
        holder_name="桐乡真味餐饮有限公司", issuing_department="SCJG", valid_from=date(2026, 1, 5),
        data={"entity.registered_address": "桐乡市梧桐街道复兴路9号"}, application_id="earlier-app",
        item_id="earlier-item", matter_code="SCJG-002", issued_at=now,
    ), producer="issuance")
    clerk = infra.auth("clerk", halls=[HALL], sub="clerk-tx-9")

    service = infra.auth("service", sub="probe")

    async def forms_knows_licence() -> bool:
        response = await forms.post("/prefill", headers=service, json={
            "applicant_id": uscc, "matter": "SCJG-003", "bundle": None, "application_ref": "probe"})
        return response.status_code == 200 and any(m["satisfied"] for m in response.json()["materials"])

    await wait_for(forms_knows_licence, timeout=60, interval=0.3, message="forms learnt the licence")

    # acceptance asks the real forms, which asks this acceptance whether the new draft is the clerk's
    # reason to read the applicant's profile (the draft is committed before forms is asked)
    forms_link.use_real(forms.app)
    previous = forms.app.state.basis_client
    forms.app.state.basis_client = BasisClient(base_url="http://acceptance", timeout=5.0, cache_seconds=0,
                                               transport=httpx.ASGITransport(app=acc.app))
    try:
        response = await acc.post("/applications", headers=clerk, json={
            "hall": HALL, "matter": "SCJG-003",
            "applicant": {"type": "legal_person", "id_number": uscc, "name": "桐乡真味餐饮有限公司"}})
    finally:
        forms_link.mode = "up"
        await forms.app.state.basis_client.aclose()
        forms.app.state.basis_client = previous
    assert response.status_code == 201, response.text
    draft = response.json()
    assert draft["degraded"] is False, draft["prefill_note"]
    fields = {f["key"]: f for f in draft["fields"]}
    assert fields["entity.uscc"]["value"] == uscc and fields["entity.uscc"]["locked"]
    assert fields["entity.registered_address"]["locked"] and fields["entity.registered_address"]["verified"]
    materials = {m["code"]: m for m in draft["items"][0]["materials"]}
    assert materials["BIZ_LICENCE"]["status"] == "licence" and materials["BIZ_LICENCE"]["licence_no"] == f"BL-{uscc}"

    locked = await acc.patch(f"/applications/{draft['id']}", headers=clerk,
                             json={"values": {"entity.registered_address": "别处"}})
    assert locked.status_code == 422 and locked.json()["errors"][0]["type"] == "locked_field"

    values: dict[str, Any] = {
        "entity.name": "桐乡真味餐饮有限公司", "entity.legal_rep_name": "钱九",
        "entity.legal_rep_id_number": new_id_number(), "entity.contact_mobile": "13900003333",
        "premises.address": "桐乡市梧桐街道复兴路9号", "premises.area_sqm": "80",
        "food.business_items": ["热食类食品制售"], "food.safety_manager": "孙十",
    }
    values = {k: v for k, v in values.items() if fields[k]["value"] in (None, "")}
    accepted = await acc.post(f"/applications/{draft['id']}/submit", headers=clerk, json={
        "values": values, "presented": ["ID_CARD", "PREMISES_PROOF", "FLOOR_PLAN", "FOOD_SAFETY_RULES"]})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
    event = await published.wait(lambda e: e.type == "application.accepted" and e.key == draft["id"])
    assert {m["code"]: m["status"] for m in event.payload["items"][0]["materials"]}["BIZ_LICENCE"] == "licence"

    async def in_approval() -> bool:
        body = (await acc.get(f"/applications/{draft['id']}", headers=clerk)).json()
        return body["status"] == "in_approval" and "in_approval" in [h["status"] for h in body["history"]]

    await wait_for(in_approval, timeout=60, interval=0.3, message="approval opened the task")

    # a bundle: one task per member matter, opened in parallel by each department
    bundle = await acc.post("/applications", headers=clerk, json={
        "hall": HALL, "bundle": "ONE-HOUSE-SALE",
        "applicant": {"type": "natural_person", "id_number": new_id_number(), "name": "郑十一"}})
    assert bundle.status_code == 201, bundle.text
    draft = bundle.json()
    person_values = {"person.name": "郑十一", "person.id_number": draft["applicant"]["id_number"],
                     "person.mobile": "13811113333", "property.certificate_no": "浙(2026)桐乡市不动产权第0000002号",
                     "property.address": "桐乡市梧桐街道2幢", "property.area_sqm": "90", "transfer.price": "1000000",
                     "transfer.buyer_name": "王十二", "transfer.buyer_id_number": new_id_number(),
                     "mortgage.bank": "工商银行", "mortgage.amount": "500000"}
    codes = sorted({m["code"] for i in draft["items"] for m in i["materials"]})
    accepted = await acc.post(f"/applications/{draft['id']}/submit", headers=clerk,
                              json={"values": {k: v for k, v in person_values.items()
                                               if k not in {f["key"] for f in draft["fields"] if f["locked"]}},
                                    "presented": codes})
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted", accepted.text

    async def all_tasks_open() -> list[str] | None:
        body = (await acc.get(f"/applications/{draft['id']}", headers=clerk)).json()
        tasks = [i["task_id"] for i in body["items"]]
        return tasks if all(tasks) and all(i["status"] == "in_approval" for i in body["items"]) else None

    tasks = await wait_for(all_tasks_open, timeout=60, interval=0.3, message="one task per member matter")
    assert len(set(tasks)) == 2
