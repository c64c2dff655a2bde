"""A bundle does not ask for its own output (issue 14 item 4): 企业开办一件事 never asks for the business
licence SCJG-002 produces; the later members' items say they await it."""

import uuid
from datetime import UTC, datetime

from shared.events.catalog import BundlePublished
from shared.infra import wait_for
from tests.acceptance.conftest import company, company_values, new_credit_code, open_app, publish

MEMBERS = ["SCJG-002", "GA-001", "SWJ-001", "RS-002", "GJJ-002"]


def _materials(draft: dict) -> dict[str, dict[str, dict]]:
    return {i["matter_code"]: {m["code"]: m for m in i["materials"]} for i in draft["items"]}


async def _submit(acc, clerk, draft: dict, uscc: str) -> dict:
    codes = {m["code"] for i in draft["items"] for m in i["materials"]} - {"BIZ_LICENCE"}
    values = {k: v for k, v in company_values(uscc).items() if k in {f["key"] for f in draft["fields"]}}
    response = await acc.post(
        f"/applications/{draft['id']}/submit", headers=clerk, json={"values": values, "presented": sorted(codes)}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_enterprise_bundle_is_accepted_without_the_business_licence(acc, catalog, clerk, published) -> None:
    uscc = new_credit_code()
    draft = await open_app(acc, clerk, bundle="ONE-ENTERPRISE", applicant=company(uscc))
    states = _materials(draft)
    assert "BIZ_LICENCE" not in states["SCJG-002"]
    for code in MEMBERS[1:]:
        assert states[code]["BIZ_LICENCE"]["status"] == "from_bundle"
        assert states[code]["BIZ_LICENCE"]["from_matter"] == "SCJG-002"

    app = await _submit(acc, clerk, draft, uscc)
    assert app["status"] == "accepted" and app["notice"] is None  # nothing missing: no one-time notice
    assert all(m["status"] != "missing" for i in app["items"] for m in i["materials"])

    envelope = await published.wait(lambda e: e.type == "application.accepted" and e.key == draft["id"])
    items = {i["matter_code"]: i for i in envelope.payload["items"]}
    assert envelope.payload["lead_department"] == "SCJG"
    assert items["SCJG-002"]["awaits"] == []
    for code in MEMBERS[1:]:
        assert items[code]["awaits"] == [
            {
                "material": "BIZ_LICENCE",
                "from_item_id": items["SCJG-002"]["item_id"],
                "from_matter": "SCJG-002",
                "licence_type": "BIZ_LICENCE",
            }
        ]
        assert items[code]["parallel"] is False
        assert {m["code"]: m["status"] for m in items[code]["materials"]}["BIZ_LICENCE"] == "from_bundle"


async def test_without_the_licence_the_notice_lists_only_what_the_applicant_owes(acc, catalog, clerk) -> None:
    uscc = new_credit_code()
    draft = await open_app(acc, clerk, bundle="ONE-ENTERPRISE", applicant=company(uscc))
    values = {k: v for k, v in company_values(uscc).items() if k in {f["key"] for f in draft["fields"]}}
    response = await acc.post(
        f"/applications/{draft['id']}/submit", headers=clerk, json={"values": values, "presented": ["ID_CARD"]}
    )
    assert response.status_code == 200, response.text
    notice = response.json()["notice"]
    assert response.json()["status"] == "pending_supplement"
    listed = {m["code"] for m in notice["materials"]}
    assert "BIZ_LICENCE" not in listed and {"ARTICLES", "PREMISES_PROOF"} <= listed


async def test_a_licence_the_applicant_holds_means_nothing_to_wait_for(
    acc, catalog, clerk, forms_stub, published
) -> None:
    uscc = new_credit_code()
    forms_stub.profiles[uscc] = {"licences": {"BIZ_LICENCE": f"BL-{uscc}"}}
    draft = await open_app(acc, clerk, bundle="ONE-ENTERPRISE", applicant=company(uscc))
    assert _materials(draft)["SWJ-001"]["BIZ_LICENCE"]["status"] == "licence"
    await _submit(acc, clerk, draft, uscc)
    envelope = await published.wait(lambda e: e.type == "application.accepted" and e.key == draft["id"])
    assert all(i["awaits"] == [] for i in envelope.payload["items"])


async def test_published_members_say_which_member_proceeds_in_parallel(acc, catalog, clerk, published) -> None:
    code = f"ONE-ENT-{uuid.uuid4().hex[:6]}"
    need = {"material": "BIZ_LICENCE", "from_matter": "SCJG-002", "licence_type": "BIZ_LICENCE"}
    await publish(
        acc,
        BundlePublished(
            catalog_version=1, code=code, name="企业开办一件事(测试)", lead_department="SCJG", matters=MEMBERS,
            members=[{"matter": m, "position": i, "needs": [need] if i else [], "parallel": m == "GA-001"}
                     for i, m in enumerate(MEMBERS)],
            published_at=datetime.now(UTC),
        ),
        producer="forms",
    )
    uscc = new_credit_code()

    async def opened() -> dict | None:
        response = await acc.post(
            "/applications", headers=clerk, json={"hall": "TX-CITY", "bundle": code, "applicant": company(uscc)}
        )
        return response.json() if response.status_code == 201 else None

    draft = await wait_for(opened, timeout=30, interval=0.3, message="bundle read model")
    await _submit(acc, clerk, draft, uscc)
    envelope = await published.wait(lambda e: e.type == "application.accepted" and e.key == draft["id"])
    items = {i["matter_code"]: i for i in envelope.payload["items"]}
    assert items["GA-001"]["parallel"] is True and items["GA-001"]["awaits"][0]["material"] == "BIZ_LICENCE"
    assert items["SWJ-001"]["parallel"] is False and items["SWJ-001"]["awaits"]
