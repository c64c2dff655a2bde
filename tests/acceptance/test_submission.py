"""The desk's conclusion (services/acceptance/submission.py) through the HTTP API, the real database and broker:
complete -> accepted -> application.accepted (receipt, QR, public progress); incomplete -> one-time notice ->
supplement; commitment; refusal; online submissions waiting for the hall.
"""

from shared.workdays import default_calendar
from tests.acceptance.conftest import (
    HALL,
    company,
    company_values,
    new_credit_code,
    new_id_number,
    open_app,
    person,
    today,
)


async def test_complete_application_is_accepted_and_published(
    acc, catalog, published, clerk, forms_stub
) -> None:
    id_number = new_id_number()
    forms_stub.profiles[id_number] = {
        "fields": {
            "person.name": ("张三丰", True),
            "person.id_number": (id_number, True),
            "person.mobile": ("13812345678", False),
        },
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
    assert (
        materials["ID_CARD"]["status"] == "licence" and materials["ID_CARD"]["licence_no"] == "ID-330483-0001"
    )
    assert materials["PREMISES_PROOF"]["status"] == "missing"

    # a verified value cannot be changed, server side; nothing is stored
    changed = await acc.patch(
        f"/applications/{draft['id']}",
        headers=clerk,
        json={"values": {"person.id_number": new_id_number(), "entity.name": "三丰小店"}},
    )
    assert changed.status_code == 422
    assert changed.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in changed.json()["errors"]] == ["values.person.id_number"]
    unchanged = (await acc.get(f"/applications/{draft['id']}", headers=clerk)).json()
    assert {f["key"]: f["value"] for f in unchanged["fields"]}["entity.name"] is None

    accepted = await acc.post(
        f"/applications/{draft['id']}/submit",
        headers=clerk,
        json={
            "values": {
                "entity.name": "三丰小店",
                "premises.address": "桐乡市振兴东路8号",
                "entity.business_scope": "零售",
            },
            "presented": ["PREMISES_PROOF"],
        },
    )
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
    assert (
        payload["application_no"] == app["application_no"]
        and payload["tracking_code"] == app["tracking_code"]
    )
    assert payload["applicant"]["id_number"] == id_number
    assert payload["values"]["entity.name"] == "三丰小店"
    item = payload["items"][0]
    assert item["matter_code"] == "SCJG-001" and item["department"] == "SCJG" and item["on_the_spot"] is True
    assert {m["code"]: m["status"] for m in item["materials"]} == {
        "ID_CARD": "licence",
        "PREMISES_PROOF": "present",
    }

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
    assert (
        progress.json()["status"] == "accepted" and progress.json()["items"][0]["matter_code"] == "SCJG-001"
    )
    for secret in (id_number, "张三丰", "13812345678", "振兴东路"):
        assert secret not in progress.text
    assert (await acc.get("/progress/" + "x" * 22)).status_code == 404


async def test_incomplete_gets_one_notice_then_supplement_accepts(acc, catalog, published, clerk) -> None:
    uscc = new_credit_code()
    draft = await open_app(acc, clerk, matter="SCJG-002", applicant=company(uscc))
    values = {k: v for k, v in company_values(uscc).items() if k in {f["key"] for f in draft["fields"]}}
    pending = await acc.post(
        f"/applications/{draft['id']}/submit",
        headers=clerk,
        json={"values": values, "presented": ["ID_CARD"]},
    )
    assert pending.status_code == 200, pending.text
    app = pending.json()
    assert app["status"] == "pending_supplement" and app["tracking_code"] is None
    notice = app["notice"]
    assert [m["code"] for m in notice["materials"]] == ["ARTICLES", "SHAREHOLDER_IDS", "PREMISES_PROOF"]
    html = await acc.get(f"/applications/{draft['id']}/notice.html", headers=clerk)
    assert "一次性告知书" in html.text
    for name in ("公司章程", "股东主体资格证明", "经营场所使用证明"):
        assert name in html.text

    partial = (
        await acc.post(
            f"/applications/{draft['id']}/supplement",
            headers=clerk,
            json={"materials": ["ARTICLES", "SHAREHOLDER_IDS"]},
        )
    ).json()
    assert partial["status"] == "pending_supplement"
    assert partial["notice"]["notice_no"] == notice["notice_no"]  # one notice, never a second list
    assert [m["code"] for i in partial["items"] for m in i["materials"] if m["status"] == "missing"] == [
        "PREMISES_PROOF"
    ]

    done = await acc.post(
        f"/applications/{draft['id']}/supplement", headers=clerk, json={"materials": ["PREMISES_PROOF"]}
    )
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
    commitment = {
        "materials": ["FLOOR_PLAN", "ID_CARD"],
        "deadline_working_days": 10,
        "signatory": "李四",
        "signature": "sha256:9f2c",
    }
    body = {"values": values, "presented": ["BIZ_LICENCE", "PREMISES_PROOF"], "commitment": commitment}
    refused = await acc.post(f"/applications/{draft['id']}/submit", headers=clerk, json=body)
    assert refused.status_code == 422
    assert {e["field"] for e in refused.json()["errors"]} == {
        "commitment.materials.1"
    }  # ID_CARD not tolerable
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
    later = await acc.post(
        f"/applications/{draft['id']}/supplement", headers=clerk, json={"materials": ["FLOOR_PLAN"]}
    )
    assert later.status_code == 200, later.text
    assert later.json()["items"][0]["commitment"]["fulfilled"] == ["FLOOR_PLAN"]
    supplemented = await published.wait(
        lambda e: e.type == "application.supplemented" and e.key == draft["id"]
    )
    assert supplemented.payload["materials"] == ["FLOOR_PLAN"]


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
    assert (
        await acc.post(f"/applications/{draft['id']}/refuse", headers=clerk, json={"reason": reason})
    ).status_code == 409
    assert (await acc.post(f"/applications/{draft['id']}/submit", headers=clerk, json={})).status_code == 409
    assert (await acc.get(f"/applications/{draft['id']}/receipt", headers=clerk)).status_code == 409
    empty = await acc.post(f"/applications/{draft['id']}/refuse", headers=clerk, json={"reason": ""})
    assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "reason"


async def test_online_submission_waits_for_the_hall(acc, catalog, infra, clerk, published) -> None:
    id_number = new_id_number()
    applicant = infra.auth("applicant", sub=id_number)
    for_someone_else = await acc.post(
        "/applications",
        headers=applicant,
        json={"hall": HALL, "matter": "RS-003", "channel": "web", "applicant": person()},
    )
    assert for_someone_else.status_code == 403
    response = await acc.post(
        "/applications",
        headers=applicant,
        json={"hall": HALL, "matter": "RS-003", "channel": "web", "applicant": person(id_number)},
    )
    assert response.status_code == 201, response.text
    draft = response.json()
    values = {
        "person.name": "张三丰",
        "person.id_number": id_number,
        "person.mobile": "13812345678",
        "person.address": "桐乡市凤鸣街道2号",
    }
    submitted = await acc.post(
        f"/applications/{draft['id']}/submit",
        headers=applicant,
        json={"values": values, "presented": ["ID_CARD"]},
    )
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["status"] == "submitted" and submitted.json()["application_no"] is None
    assert (
        await acc.post(f"/applications/{draft['id']}/refuse", headers=applicant, json={"reason": "自行撤回"})
    ).status_code == 403
    accepted = await acc.post(f"/applications/{draft['id']}/submit", headers=clerk, json={})
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    envelope = await published.wait(lambda e: e.type == "application.accepted" and e.key == draft["id"])
    assert envelope.payload["channel"] == "web"
