"""Acceptance through its HTTP API, the real database and the real broker.

Complete -> accepted -> application.accepted on the broker; incomplete -> one-time notice -> supplement;
commitment; refusal; bundles; cross-hall; degraded prefill; validation; access; following the back office.
"""

import time
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.acceptance.service import promised_date
from shared.events.approvals import ApprovalDecided, ApprovalTaskOpened, SupplementRequested
from shared.events.applications import Applicant
from shared.events.licences import LicenceIssued, ResultCollected, ResultReady
from shared.events.ticketing import TicketCalled
from shared.infra import wait_for
from shared.workdays import default_calendar
from tests.acceptance.conftest import new_credit_code, new_id_number, publish

HALL = "TX-CITY"
OTHER_HALL = "DL-TOWN"


def today() -> date:
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


@pytest.fixture(scope="module")
def clerk(infra: Any) -> dict[str, str]:
    return infra.auth("clerk", halls=[HALL], sub="clerk-tx-1")


def person(id_number: str | None = None) -> dict[str, Any]:
    return {"type": "natural_person", "id_number": id_number or new_id_number(), "name": "张三丰",
            "mobile": "13812345678"}


def company(code: str | None = None) -> dict[str, Any]:
    return {"type": "legal_person", "id_number": code or new_credit_code(), "name": "桐乡味道餐饮有限公司"}


def company_values(uscc: str) -> dict[str, Any]:
    """Every field the ONE-ENTERPRISE / restaurant matters ask for, valid."""
    return {
        "entity.name": "桐乡味道餐饮有限公司", "entity.type": "有限责任公司", "entity.uscc": uscc,
        "entity.legal_rep_name": "李四", "entity.legal_rep_id_number": new_id_number(),
        "entity.registered_address": "桐乡市梧桐街道庆丰路1号", "entity.registered_capital": "100",
        "entity.business_scope": "餐饮服务", "entity.contact_mobile": "13900001111",
        "premises.address": "桐乡市梧桐街道庆丰路1号", "premises.area_sqm": "120",
        "food.business_items": ["热食类食品制售"], "food.safety_manager": "王五",
        "seal.count": 3, "seal.kinds": ["公章", "财务专用章"], "tax.accountant_name": "赵六",
        "tax.accountant_mobile": "13700002222",
    }


async def open_app(acc: Any, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    body.setdefault("hall", HALL)
    response = await acc.post("/applications", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_complete_application_is_accepted_and_published(acc, catalog, published, clerk, forms_stub) -> None:
    id_number = new_id_number()
    forms_stub.profiles[id_number] = {
        "fields": {"person.name": ("张三丰", True), "person.id_number": (id_number, True),
                   "person.mobile": ("13812345678", False)},
        "licences": {"ID_CARD": "ID-330483-0001"},
    }
    draft = await open_app(acc, clerk, matter="SCJG-001", applicant=person(id_number))
    assert draft["status"] == "draft" and draft["degraded"] is False
    fields = {f["key"]: f for f in draft["fields"]}
    assert fields["person.id_number"]["value"] == id_number and fields["person.id_number"]["locked"] is True
    assert fields["person.mobile"]["locked"] is False
    assert forms_stub.calls[-1]["authorization"] == clerk["Authorization"]
    assert forms_stub.calls[-1]["body"]["application_ref"] == draft["id"]
    materials = {m["code"]: m for m in draft["items"][0]["materials"]}
    assert materials["ID_CARD"]["status"] == "licence" and materials["ID_CARD"]["licence_no"] == "ID-330483-0001"
    assert materials["PREMISES_PROOF"]["status"] == "missing"

    # a verified value cannot be changed, server side; nothing is stored
    changed = await acc.patch(f"/applications/{draft['id']}", headers=clerk,
                              json={"values": {"person.id_number": new_id_number(), "entity.name": "三丰小店"}})
    assert changed.status_code == 422
    assert changed.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in changed.json()["errors"]] == ["values.person.id_number"]
    unchanged = (await acc.get(f"/applications/{draft['id']}", headers=clerk)).json()
    assert {f["key"]: f["value"] for f in unchanged["fields"]}["entity.name"] is None

    accepted = await acc.post(f"/applications/{draft['id']}/submit", headers=clerk, json={
        "values": {"entity.name": "三丰小店", "premises.address": "桐乡市振兴东路8号", "entity.business_scope": "零售"},
        "presented": ["PREMISES_PROOF"],
    })
    assert accepted.status_code == 200, accepted.text
    app = accepted.json()
    assert app["status"] == "accepted"
    assert app["application_no"].startswith(f"{HALL}-{today():%Y%m%d}-")
    assert len(app["tracking_code"]) >= 22  # token_urlsafe(16): 128 random bits
    # on-the-spot matter (0 working days): today if a working day, else the next one
    assert app["promised_date"] == default_calendar().add_working_days(today(), 0).isoformat()

    envelope = await published.wait(lambda e: e.type == "application.accepted" and e.key == draft["id"])
    payload = envelope.payload
    assert envelope.hall == HALL
    assert payload["application_no"] == app["application_no"] and payload["tracking_code"] == app["tracking_code"]
    assert payload["applicant"]["id_number"] == id_number
    assert payload["values"]["entity.name"] == "三丰小店"
    item = payload["items"][0]
    assert item["matter_code"] == "SCJG-001" and item["department"] == "SCJG" and item["on_the_spot"] is True
    assert {m["code"]: m["status"] for m in item["materials"]} == {"ID_CARD": "licence", "PREMISES_PROOF": "present"}

    again = await acc.post(f"/applications/{draft['id']}/submit", headers=clerk, json={})
    assert again.status_code == 409

    receipt = (await acc.get(f"/applications/{draft['id']}/receipt", headers=clerk)).json()
    assert receipt["tracking_url"].endswith(f"/progress/{app['tracking_code']}")
    assert receipt["applicant"]["id_number"] != id_number  # masked on paper
    html = await acc.get(f"/applications/{draft['id']}/receipt.html", headers=clerk)
    assert html.status_code == 200 and "受理回执" in html.text and "<svg" in html.text
    qr = await acc.get(f"/applications/{draft['id']}/receipt/qr.svg", headers=clerk)
    assert qr.headers["content-type"].startswith("image/svg+xml") and qr.text.lstrip().startswith("<svg")

    progress = await acc.get(f"/progress/{app['tracking_code']}")
    assert progress.status_code == 200
    assert progress.json()["status"] == "accepted" and progress.json()["items"][0]["matter_code"] == "SCJG-001"
    for secret in (id_number, "张三丰", "13812345678", "振兴东路"):
        assert secret not in progress.text
    assert (await acc.get("/progress/" + "x" * 22)).status_code == 404


async def test_incomplete_gets_one_notice_then_supplement_accepts(acc, catalog, published, clerk) -> None:
    uscc = new_credit_code()
    draft = await open_app(acc, clerk, matter="SCJG-002", applicant=company(uscc))
    values = {k: v for k, v in company_values(uscc).items() if k in {f["key"] for f in draft["fields"]}}
    pending = await acc.post(f"/applications/{draft['id']}/submit", headers=clerk,
                             json={"values": values, "presented": ["ID_CARD"]})
    assert pending.status_code == 200, pending.text
    app = pending.json()
    assert app["status"] == "pending_supplement" and app["tracking_code"] is None
    notice = app["notice"]
    assert [m["code"] for m in notice["materials"]] == ["ARTICLES", "SHAREHOLDER_IDS", "PREMISES_PROOF"]
    html = await acc.get(f"/applications/{draft['id']}/notice.html", headers=clerk)
    assert "一次性告知书" in html.text
    for name in ("公司章程", "股东主体资格证明", "经营场所使用证明"):
        assert name in html.text

    partial = (await acc.post(f"/applications/{draft['id']}/supplement", headers=clerk,
                              json={"materials": ["ARTICLES", "SHAREHOLDER_IDS"]})).json()
    assert partial["status"] == "pending_supplement"
    assert partial["notice"]["notice_no"] == notice["notice_no"]  # one notice, never a second list
    assert [m["code"] for i in partial["items"] for m in i["materials"] if m["status"] == "missing"] == ["PREMISES_PROOF"]

    done = await acc.post(f"/applications/{draft['id']}/supplement", headers=clerk, json={"materials": ["PREMISES_PROOF"]})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "accepted"
    statuses = [h["status"] for h in done.json()["history"]]
    assert statuses[0] == "draft" and statuses[-1] == "accepted" and "pending_supplement" in statuses
    envelope = await published.wait(lambda e: e.type == "application.accepted" and e.key == draft["id"])
    states = {m["code"]: m["status"] for m in envelope.payload["items"][0]["materials"]}
    assert set(states.values()) == {"present"} and len(states) == 4


async def test_commitment_accepts_with_tolerable_missing_materials(acc, catalog, published, clerk) -> None:
    uscc = new_credit_code()
    draft = await open_app(acc, clerk, matter="SCJG-003", applicant=company(uscc))
    values = {k: v for k, v in company_values(uscc).items() if k in {f["key"] for f in draft["fields"]}}
    commitment = {"materials": ["FLOOR_PLAN", "ID_CARD"], "deadline_working_days": 10, "signatory": "李四",
                  "signature": "sha256:9f2c"}
    body = {"values": values, "presented": ["BIZ_LICENCE", "PREMISES_PROOF"], "commitment": commitment}
    refused = await acc.post(f"/applications/{draft['id']}/submit", headers=clerk, json=body)
    assert refused.status_code == 422
    assert {e["field"] for e in refused.json()["errors"]} == {"commitment.materials.1"}  # ID_CARD not tolerable
    assert (await acc.get(f"/applications/{draft['id']}", headers=clerk)).json()["status"] == "draft"

    body["presented"] = ["BIZ_LICENCE", "PREMISES_PROOF", "ID_CARD"]
    body["commitment"] = commitment | {"materials": ["FLOOR_PLAN", "FOOD_SAFETY_RULES"]}
    accepted = await acc.post(f"/applications/{draft['id']}/submit", headers=clerk, json=body)
    assert accepted.status_code == 200, accepted.text
    app = accepted.json()
    assert app["status"] == "accepted"
    deadline = default_calendar().add_working_days(today(), 10).isoformat()
    assert app["items"][0]["commitment"]["deadline"] == deadline
    assert "signature" not in app["items"][0]["commitment"]
    envelope = await published.wait(lambda e: e.type == "application.accepted" and e.key == draft["id"])
    item = envelope.payload["items"][0]
    assert item["commitment"]["materials"] == ["FLOOR_PLAN", "FOOD_SAFETY_RULES"]
    assert item["commitment"]["deadline"] == deadline
    assert {m["code"]: m["status"] for m in item["materials"]}["FLOOR_PLAN"] == "committed"
    receipt = await acc.get(f"/applications/{draft['id']}/receipt.html", headers=clerk)
    assert "容缺承诺" in receipt.text

    # the applicant brings a committed material later: application.supplemented for approval
    later = await acc.post(f"/applications/{draft['id']}/supplement", headers=clerk, json={"materials": ["FLOOR_PLAN"]})
    assert later.status_code == 200, later.text
    assert later.json()["items"][0]["commitment"]["fulfilled"] == ["FLOOR_PLAN"]
    supplemented = await published.wait(lambda e: e.type == "application.supplemented" and e.key == draft["id"])
    assert supplemented.payload["materials"] == ["FLOOR_PLAN"]


async def test_a_retried_open_returns_the_same_draft(acc, catalog, clerk) -> None:
    body = {"hall": HALL, "matter": "RS-003", "applicant": person()}
    key = {"Idempotency-Key": f"open-{new_id_number()}"}
    first = await acc.post("/applications", headers=clerk | key, json=body)
    again = await acc.post("/applications", headers=clerk | key, json=body)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    other = await acc.post("/applications", headers=clerk | {"Idempotency-Key": key["Idempotency-Key"] + "x"}, json=body)
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]


async def test_refusal_is_recorded_printable_and_final(acc, catalog, published, clerk) -> None:
    draft = await open_app(acc, clerk, matter="RS-003", applicant=person())
    reason = "申请事项不属于本机关职权范围"
    refused = await acc.post(f"/applications/{draft['id']}/refuse", headers=clerk, json={"reason": reason})
    assert refused.status_code == 200, refused.text
    assert refused.json()["status"] == "refused" and refused.json()["refusal_reason"] == reason
    envelope = await published.wait(lambda e: e.type == "application.refused" and e.key == draft["id"])
    assert envelope.payload["reason"] == reason and envelope.payload["matter_code"] == "RS-003"
    html = await acc.get(f"/applications/{draft['id']}/refusal.html", headers=clerk)
    assert "不予受理通知书" in html.text and reason in html.text
    assert (await acc.post(f"/applications/{draft['id']}/refuse", headers=clerk, json={"reason": reason})).status_code == 409
    assert (await acc.post(f"/applications/{draft['id']}/submit", headers=clerk, json={})).status_code == 409
    assert (await acc.get(f"/applications/{draft['id']}/receipt", headers=clerk)).status_code == 409
    empty = await acc.post(f"/applications/{draft['id']}/refuse", headers=clerk, json={"reason": ""})
    assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "reason"


async def test_bundle_one_receipt_parallel_items_across_halls(acc, catalog, published, infra) -> None:
    clerk_dl = infra.auth("clerk", halls=[OTHER_HALL], sub="clerk-dl-1")
    uscc = new_credit_code()
    draft = await open_app(acc, clerk_dl, hall=OTHER_HALL, bundle="ONE-ENTERPRISE", collect_hall=HALL,
                           applicant=company(uscc))
    assert [i["matter_code"] for i in draft["items"]] == ["SCJG-002", "GA-001", "SWJ-001", "RS-002", "GJJ-002"]
    codes = {m["code"] for i in draft["items"] for m in i["materials"]}
    values = {k: v for k, v in company_values(uscc).items() if k in {f["key"] for f in draft["fields"]}}
    accepted = await acc.post(f"/applications/{draft['id']}/submit", headers=clerk_dl,
                              json={"values": values, "presented": sorted(codes)})
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
    assert (await acc.get(f"/applications/{draft['id']}/receipt", headers=clerk_tx)).json()["collect_hall"] == HALL
    assert (await acc.post(f"/applications/{draft['id']}/refuse", headers=clerk_tx,
                           json={"reason": "测试"})).status_code == 403


def test_promised_date_skips_holidays_and_honours_adjusted_working_days() -> None:
    # accepted on the eve of National Day: 1-7 Oct off, Sat 10 Oct an adjusted working day
    assert promised_date(accepted_on=date(2026, 9, 30), working_days=3) == date(2026, 10, 10)
    assert promised_date(accepted_on=date(2026, 9, 30), working_days=5) == date(2026, 10, 13)
    # Spring Festival: Sat 14 Feb is a working day, 15-23 Feb off
    assert promised_date(accepted_on=date(2026, 2, 13), working_days=1) == date(2026, 2, 14)
    assert promised_date(accepted_on=date(2026, 2, 14), working_days=1) == date(2026, 2, 24)
    # on the spot, accepted on a day off (a weekend kiosk): the next working day
    assert promised_date(accepted_on=date(2026, 10, 3), working_days=0) == date(2026, 10, 8)


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
    values = {"person.name": "王小明", "person.id_number": new_id_number(), "person.mobile": "13611112222",
              "person.address": "桐乡市凤鸣街道1号"}
    accepted = await acc.post(f"/applications/{draft['id']}/submit", headers=clerk,
                              json={"values": values, "presented": ["ID_CARD"]})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
    event = await published.wait(lambda e: e.type == "application.accepted" and e.key == draft["id"])
    assert event.payload["prefill_degraded"] is True and event.payload["verified_fields"] == []


async def test_prefill_again_once_forms_is_back(acc, catalog, published, clerk, forms_link, forms_stub) -> None:
    id_number = new_id_number()
    forms_stub.profiles[id_number] = {
        "fields": {"person.name": ("刘一手", True), "person.address": ("桐乡市高桥街道3号", False)},
        "licences": {"ID_CARD": "ID-330483-0042"},
    }
    forms_link.mode = "down"
    try:
        draft = await open_app(acc, clerk, matter="RS-003", applicant=person(id_number))
        typed = {"person.name": "刘一", "person.mobile": "13622223333"}
        assert (await acc.patch(f"/applications/{draft['id']}", headers=clerk,
                                json={"values": typed})).status_code == 200
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
    accepted = await acc.post(f"/applications/{draft['id']}/submit", headers=clerk,
                              json={"values": {"person.id_number": id_number}})
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


async def test_invalid_values_name_the_field_and_change_nothing(acc, catalog, clerk, forms_stub) -> None:
    draft = await open_app(acc, clerk, matter="RS-001", applicant=person())
    good = {"person.name": "陈一", "person.mobile": "13512345678"}
    assert (await acc.patch(f"/applications/{draft['id']}", headers=clerk, json={"values": good})).status_code == 200
    valid = new_id_number()
    bad_id = valid[:17] + ("0" if valid[17] != "0" else "1")
    bad = {"person.name": "陈二", "person.id_number": "110101199003071235", "person.mobile": "12345",
           "person.gender": "未知", "person.birth_date": "1990-02-30", "entity.uscc": new_credit_code()}
    response = await acc.patch(f"/applications/{draft['id']}", headers=clerk, json={"values": bad})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    errors = {e["field"]: e for e in response.json()["errors"]}
    assert set(errors) == {"values.person.id_number", "values.person.mobile", "values.person.birth_date",
                           "values.entity.uscc"}
    assert "GB 11643" in errors["values.person.id_number"]["message"]
    assert errors["values.entity.uscc"]["type"] == "unknown_field"
    after = (await acc.get(f"/applications/{draft['id']}", headers=clerk)).json()
    assert {f["key"]: f["value"] for f in after["fields"]}["person.name"] == "陈一"  # nothing changed
    assert bad_id  # a second wrong check digit is refused the same way
    wrong = await acc.patch(f"/applications/{draft['id']}", headers=clerk, json={"values": {"person.id_number": bad_id}})
    assert wrong.status_code == 422

    missing = await acc.post(f"/applications/{draft['id']}/submit", headers=clerk, json={"presented": ["ID_CARD"]})
    assert missing.status_code == 422
    assert {e["field"] for e in missing.json()["errors"]} >= {"values.person.id_number", "values.ss.bank"}
    extra = await acc.post("/applications", headers=clerk,
                           json={"hall": HALL, "matter": "RS-001", "applicant": person(), "colour": "red"})
    assert extra.status_code == 422 and extra.json()["errors"][0]["field"] == "colour"
    calls = len(forms_stub.calls)
    bad_applicant = await acc.post("/applications", headers=clerk,
                                   json={"hall": HALL, "matter": "RS-001", "applicant": person("110101199003071235")})
    assert bad_applicant.status_code == 422 and bad_applicant.json()["errors"][0]["field"] == "applicant.id_number"
    assert len(forms_stub.calls) == calls  # forms is not asked about an invalid identifier
    unknown = await acc.post("/applications", headers=clerk, json={"hall": HALL, "matter": "NOPE-1", "applicant": person()})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "matter"
    unknown_material = await acc.patch(f"/applications/{draft['id']}", headers=clerk, json={"presented": ["PASSPORT"]})
    assert unknown_material.status_code == 422 and unknown_material.json()["errors"][0]["field"] == "presented.0"


async def test_halls_and_applicants_see_only_their_own(acc, catalog, infra, clerk) -> None:
    id_number = new_id_number()
    draft = await open_app(acc, clerk, matter="RS-003", applicant=person(id_number))
    stranger = infra.auth("clerk", halls=[OTHER_HALL], sub="clerk-dl-2")
    assert (await acc.get(f"/applications/{draft['id']}", headers=stranger)).status_code == 403
    assert (await acc.patch(f"/applications/{draft['id']}", headers=stranger, json={"values": {}})).status_code == 403
    assert (await acc.post("/applications", headers=stranger,
                           json={"hall": HALL, "matter": "RS-003", "applicant": person()})).status_code == 403
    assert (await acc.get(f"/applications/{draft['id']}")).status_code == 401

    owner = infra.auth("applicant", sub=id_number)
    other = infra.auth("applicant", sub=new_id_number())
    assert (await acc.get(f"/applications/{draft['id']}", headers=owner)).status_code == 200
    assert (await acc.get(f"/applications/{draft['id']}", headers=other)).status_code == 403
    # a window application is changed at the window, not online
    assert (await acc.patch(f"/applications/{draft['id']}", headers=owner, json={"values": {}})).status_code == 403
    mine = (await acc.get("/applications", headers=owner)).json()
    assert [a["id"] for a in mine] == [draft["id"]]
    assert mine[0]["applicant_id"] != id_number and mine[0]["applicant_name"] == "张**"  # masked in lists

    # staff query by applicant, masked
    listed = await acc.get("/applications", headers=clerk, params={"applicant_id": id_number})
    assert [a["id"] for a in listed.json()] == [draft["id"]] and id_number not in listed.text
    assert (await acc.get("/applications", headers=stranger, params={"hall": HALL})).status_code == 403
    assert draft["id"] not in (await acc.get("/applications", headers=stranger,
                                             params={"applicant_id": id_number})).text


async def test_online_submission_waits_for_the_hall(acc, catalog, infra, clerk, published) -> None:
    id_number = new_id_number()
    applicant = infra.auth("applicant", sub=id_number)
    for_someone_else = await acc.post("/applications", headers=applicant, json={
        "hall": HALL, "matter": "RS-003", "channel": "web", "applicant": person()})
    assert for_someone_else.status_code == 403
    response = await acc.post("/applications", headers=applicant, json={
        "hall": HALL, "matter": "RS-003", "channel": "web", "applicant": person(id_number)})
    assert response.status_code == 201, response.text
    draft = response.json()
    values = {"person.name": "张三丰", "person.id_number": id_number, "person.mobile": "13812345678",
              "person.address": "桐乡市凤鸣街道2号"}
    submitted = await acc.post(f"/applications/{draft['id']}/submit", headers=applicant,
                               json={"values": values, "presented": ["ID_CARD"]})
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["status"] == "submitted" and submitted.json()["application_no"] is None
    assert (await acc.post(f"/applications/{draft['id']}/refuse", headers=applicant,
                           json={"reason": "自行撤回"})).status_code == 403
    accepted = await acc.post(f"/applications/{draft['id']}/submit", headers=clerk, json={})
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    envelope = await published.wait(lambda e: e.type == "application.accepted" and e.key == draft["id"])
    assert envelope.payload["channel"] == "web"


async def test_open_from_a_called_ticket(acc, catalog, clerk) -> None:
    ticket_id = f"T-{new_id_number()[-8:]}"
    await publish(acc, TicketCalled(ticket_id=ticket_id, hall=HALL, number="A017", matter_code="RS-003",
                                    window="W05", staff_id="clerk-tx-1", called_at=datetime.now(UTC)),
                  correlation_id=f"corr-{ticket_id}", producer="ticketing")
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


async def test_status_follows_the_back_office(acc, catalog, published, clerk) -> None:
    draft = await open_app(acc, clerk, bundle="ONE-HOUSE-SALE", applicant=person())
    assert [i["matter_code"] for i in draft["items"]] == ["ZRZY-001", "ZRZY-002"]
    values = {"person.name": "周七", "person.id_number": draft["applicant"]["id_number"],
              "person.mobile": "13811112222", "property.certificate_no": "浙(2026)桐乡市不动产权第0000001号",
              "property.address": "桐乡市梧桐街道1幢", "property.area_sqm": "89.5", "transfer.price": "1200000",
              "transfer.buyer_name": "吴八", "transfer.buyer_id_number": new_id_number(), "mortgage.bank": "建设银行",
              "mortgage.amount": "600000"}
    codes = sorted({m["code"] for i in draft["items"] for m in i["materials"]})
    app = (await acc.post(f"/applications/{draft['id']}/submit", headers=clerk,
                          json={"values": values, "presented": codes})).json()
    assert app["status"] == "accepted", app
    items = {i["matter_code"]: i["item_id"] for i in app["items"]}
    now = datetime.now(UTC)
    applicant = Applicant(type="natural_person", id_number=values["person.id_number"], name="周七")
    common = {"application_id": draft["id"], "department": "ZRZY"}
    for code, item_id in items.items():
        await publish(acc, ApprovalTaskOpened(**common, item_id=item_id, task_id=f"task-{item_id}", matter_code=code,
                                              at=now), producer="approval")
    await publish(acc, SupplementRequested(**common, item_id=items["ZRZY-002"], task_id="t2", matter_code="ZRZY-002",
                                           materials=["MORTGAGE_CONTRACT"], reason="合同页缺失", at=now),
                  producer="approval")

    async def status() -> str:
        return (await acc.get(f"/applications/{draft['id']}", headers=clerk)).json()["status"]

    await wait_for(lambda: _equals(status(), "supplement_requested"), timeout=30, message="supplement requested")
    fixed = await acc.post(f"/applications/{draft['id']}/supplement", headers=clerk,
                           json={"materials": ["MORTGAGE_CONTRACT"], "item_id": items["ZRZY-002"]})
    assert fixed.status_code == 200 and fixed.json()["status"] == "in_approval"
    await published.wait(lambda e: e.type == "application.supplemented" and e.key == draft["id"]
                         and e.payload["item_id"] == items["ZRZY-002"])
    for code, item_id in items.items():
        await publish(acc, ApprovalDecided(**common, item_id=item_id, task_id=f"task-{item_id}", matter_code=code,
                                           decision="approved", decided_at=now, applicant=applicant,
                                           collect_hall=HALL), producer="approval")
        await publish(acc, LicenceIssued(licence_no=f"L-{item_id}", licence_type="PROPERTY_CERT",
                                         holder_type="natural_person", holder_id=applicant.id_number,
                                         holder_name="周七", issuing_department="ZRZY", valid_from=now.date(),
                                         application_id=draft["id"], item_id=item_id, matter_code=code,
                                         issued_at=now), producer="issuance")
    await publish(acc, ResultReady(application_id=draft["id"], collect_hall=HALL, item_ids=list(items.values()),
                                   at=now), producer="issuance")
    await wait_for(lambda: _equals(status(), "result_ready"), timeout=30, message="result ready")
    await publish(acc, ResultCollected(application_id=draft["id"], method="pickup", hall=HALL, at=now),
                  producer="issuance")
    await wait_for(lambda: _equals(status(), "collected"), timeout=30, message="collected")

    full = (await acc.get(f"/applications/{draft['id']}", headers=clerk)).json()
    assert {i["status"] for i in full["items"]} == {"licence_issued"}
    steps = [h["status"] for h in full["history"]]
    for step in ("accepted", "in_approval", "supplement_requested", "supplemented", "approved", "licence_issued",
                 "result_ready", "collected"):
        assert step in steps, steps
    public = (await acc.get(f"/progress/{app['tracking_code']}")).json()
    assert public["status"] == "collected" and [h["status"] for h in public["history"]][-1] == "collected"
    assert "合同页缺失" not in str(public) and values["person.id_number"] not in str(public)


async def _equals(awaitable: Any, expected: str) -> bool:
    return (await awaitable) == expected


async def test_statuses_never_go_backwards_across_topics(acc, catalog, clerk) -> None:
    id_number = new_id_number()
    draft = await open_app(acc, clerk, matter="RS-003", applicant=person(id_number))
    values = {"person.name": "冯十三", "person.id_number": id_number, "person.mobile": "13655556666",
              "person.address": "桐乡市崇福镇1号"}
    app = (await acc.post(f"/applications/{draft['id']}/submit", headers=clerk,
                          json={"values": values, "presented": ["ID_CARD"]})).json()
    item_id = app["items"][0]["item_id"]
    now = datetime.now(UTC)
    # the licence (stream licences) overtakes the decision (stream approvals)
    await publish(acc, LicenceIssued(licence_no=f"L-{item_id}", licence_type="SS_CARD", holder_type="natural_person",
                                     holder_id=id_number, holder_name="冯十三", issuing_department="RS",
                                     valid_from=now.date(), application_id=draft["id"], item_id=item_id,
                                     matter_code="RS-003", issued_at=now), producer="issuance")

    async def item() -> dict[str, Any]:
        return (await acc.get(f"/applications/{draft['id']}", headers=clerk)).json()

    await wait_for(lambda: _equals(_item_status(item()), "licence_issued"), timeout=30, message="licence")
    await publish(acc, ApprovalDecided(application_id=draft["id"], item_id=item_id, task_id="t-late",
                                       matter_code="RS-003", department="RS", decision="approved", decided_at=now,
                                       applicant=Applicant(type="natural_person", id_number=id_number, name="冯十三"),
                                       collect_hall=HALL), producer="approval")

    async def decided_recorded() -> bool:
        return "approved" in [h["status"] for h in (await item())["history"]]

    await wait_for(decided_recorded, timeout=30, message="late decision recorded")
    body = await item()
    assert body["items"][0]["status"] == "licence_issued" and body["items"][0]["licence_nos"] == [f"L-{item_id}"]
    assert body["status"] == "approved"


async def _item_status(awaitable: Any) -> str:
    return (await awaitable)["items"][0]["status"]
