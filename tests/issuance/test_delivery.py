"""Pickup at the issuance window and mail delivery: identity, halls, exactly once (against the real DB)."""

import asyncio
import uuid

import pytest

from services.issuance import delivery
from shared.infra import wait_for
from shared.problems import Unprocessable
from tests.issuance.issuance_helpers import (
    HALL,
    OTHER_HALL,
    Issuance,
    accepted,
    decided,
    item,
    known_halls,
    person,
    released_application,
    unique,
)


@pytest.fixture(scope="module")
def clerk(infra) -> dict[str, str]:
    return infra.auth("issuance_clerk", halls=[HALL], sub="clerk-zs")


@pytest.fixture(scope="module")
def other_clerk(infra) -> dict[str, str]:
    return infra.auth("issuance_clerk", halls=[OTHER_HALL], sub="clerk-dl")


def handover_body(applicant, *, hall: str = HALL) -> dict[str, str]:
    return {"hall": hall, "id_number": applicant.id_number}


@pytest.fixture(scope="module", autouse=True)
async def halls(iss: Issuance) -> None:
    await known_halls(iss, HALL, OTHER_HALL)


async def test_scan_shows_masked_holder_and_results(iss: Issuance, clerk) -> None:
    application_id, tracking, applicant, _ = await released_application(iss)
    response = await iss.client.get(f"/pickups/{tracking}", params={"hall": HALL}, headers=clerk)
    assert response.status_code == 200, response.text
    view = response.json()
    assert view["application_id"] == application_id and view["status"] == "ready"
    assert (
        view["holder_name"] == "张**"
        and view["holder_id"] == applicant.id_number[:6] + "********" + applicant.id_number[-4:]
    )
    assert applicant.id_number not in response.text
    assert [i["kind"] for i in view["items"]] == ["licence"]
    scanned = await iss.client.post(
        "/pickups/scan",
        json={"hall": HALL, "qr": f"https://hall.example/progress/{tracking}?x=1"},
        headers=clerk,
    )
    assert scanned.status_code == 200 and scanned.json()["application_id"] == application_id
    not_a_receipt = await iss.client.post(
        "/pickups/scan", json={"hall": HALL, "qr": "https://evil/<script>"}, headers=clerk
    )
    assert not_a_receipt.status_code == 422 and not_a_receipt.json()["errors"][0]["field"] == "qr"


async def test_pickup_checks_identity_hall_and_happens_once(iss: Issuance, clerk, other_clerk, infra) -> None:
    application_id, tracking, applicant, _ = await released_application(iss)
    url = f"/pickups/{tracking}/handover"

    wrong_person = await iss.client.post(url, json={"hall": HALL, "id_number": person().id_number}, headers=clerk)
    assert wrong_person.status_code == 422 and wrong_person.json()["errors"][0]["field"] == "id_number"
    not_my_hall = await iss.client.post(url, json=handover_body(applicant), headers=other_clerk)
    assert not_my_hall.status_code == 403  # the clerk does not work in ZS-CITY
    wrong_hall = await iss.client.post(
        url, json=handover_body(applicant, hall=OTHER_HALL), headers=other_clerk
    )
    assert wrong_hall.status_code == 403 and wrong_hall.json()["code"] == "wrong_hall"
    assert wrong_hall.json()["collect_hall"] == HALL and applicant.id_number[-4:] not in wrong_hall.text
    extra = await iss.client.post(url, json=handover_body(applicant) | {"force": True}, headers=clerk)
    assert extra.status_code == 422
    no_token = await iss.client.post(url, json=handover_body(applicant))
    assert no_token.status_code == 401
    approver = await iss.client.post(
        url, json=handover_body(applicant), headers=infra.auth("approver", halls=[HALL])
    )
    assert approver.status_code == 403
    assert (await iss.application(application_id)).status == "ready"  # none of that changed anything
    assert await iss.events(application_id, "delivery.collected") == []

    done = await iss.client.post(
        url, json={"hall": HALL, "id_number": applicant.id_number.lower(), "window": "F03"}, headers=clerk
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "collected" and done.json()["collected_hall"] == HALL
    again = await iss.client.post(url, json=handover_body(applicant), headers=clerk)
    assert again.status_code == 409 and again.json()["code"] == "already_collected"
    [collected] = await iss.events(application_id, "delivery.collected")
    assert collected["payload"]["method"] == "pickup" and collected["hall"] == HALL
    app = await iss.application(application_id)
    # the clerk's request had its own correlation id; the event keeps the application's
    assert collected["correlation_id"] == app.correlation_id
    assert (app.collected_by, app.collected_window) == ("clerk-zs", "F03")


async def test_two_concurrent_pickups_give_one(iss: Issuance, clerk) -> None:
    for _ in range(3):
        application_id, tracking, applicant, _ = await released_application(iss)
        responses = await asyncio.gather(
            *[
                iss.client.post(f"/pickups/{tracking}/handover", json=handover_body(applicant), headers=clerk)
                for _ in range(2)
            ]
        )
        assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
        assert len(await iss.events(application_id, "delivery.collected")) == 1


async def test_results_not_ready_and_unknown_codes(iss: Issuance, clerk) -> None:
    application_id, tracking, applicant = unique("APP"), uuid.uuid4().hex, person()
    items = [item(unique("IT")), item(unique("IT"))]
    await iss.send(
        accepted(application_id, items, applicant=applicant, tracking_code=tracking), correlation_id="c"
    )
    await iss.send(
        decided(application_id, items[0], applicant=applicant, all_items=[i.item_id for i in items]),
        correlation_id="c",
    )
    await iss.wait_results(application_id, 1)

    async def known() -> bool:  # application.accepted and approval.decided travel on different topics
        view = await iss.client.get(f"/pickups/{tracking}", params={"hall": HALL}, headers=clerk)
        return view.status_code == 200

    await wait_for(known, timeout=30, message="the application known at issuance")
    pending = await iss.client.post(
        f"/pickups/{tracking}/handover", json=handover_body(applicant), headers=clerk
    )
    assert pending.status_code == 409 and pending.json()["code"] == "not_ready"
    unknown = await iss.client.post(
        f"/pickups/{uuid.uuid4().hex}/handover", json=handover_body(applicant), headers=clerk
    )
    assert unknown.status_code == 404
    malformed = await iss.client.get("/pickups/x'--", params={"hall": HALL}, headers=clerk)
    assert malformed.status_code == 422


async def test_transfer_to_another_hall_then_collect_there(iss: Issuance, clerk, other_clerk) -> None:
    application_id, tracking, applicant, _ = await released_application(iss)
    moved = await iss.client.post(
        f"/pickups/{tracking}/transfer", json={"to_hall": OTHER_HALL}, headers=clerk
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["collect_hall"] == OTHER_HALL
    same = await iss.client.post(
        f"/pickups/{tracking}/transfer", json={"to_hall": OTHER_HALL}, headers=other_clerk
    )
    assert same.status_code == 409
    old_hall = await iss.client.post(
        f"/pickups/{tracking}/handover", json=handover_body(applicant), headers=clerk
    )
    assert old_hall.status_code == 403 and old_hall.json()["code"] == "wrong_hall"
    there = await iss.client.post(
        f"/pickups/{tracking}/handover", json=handover_body(applicant, hall=OTHER_HALL), headers=other_clerk
    )
    assert there.status_code == 200, there.text
    types = [e["type"] for e in await iss.events(application_id)]
    assert "delivery.transferred" in types and types[-1] == "delivery.collected"
    [transferred] = await iss.events(application_id, "delivery.transferred")
    assert transferred["payload"]["requested_by"] == "collect_hall"
    templates = [e["payload"]["template"] for e in await iss.events(application_id, "notification.requested")]
    assert templates == ["result_ready", "result_transferred"]


async def test_mail_delivery_with_tracking_number(iss: Issuance, clerk) -> None:
    application_id, tracking, applicant, _ = await released_application(iss)
    bad = await iss.client.post(
        f"/pickups/{tracking}/mail", json={"hall": HALL, "carrier": "EMS", "tracking_no": "#1"}, headers=clerk
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "tracking_no"
    mailed = await iss.client.post(
        f"/pickups/{tracking}/mail",
        json={
            "hall": HALL,
            "carrier": "EMS",
            "tracking_no": "EA123456789CN",
            "address": "中山市东区中山四路1号",
        },
        headers=clerk,
    )
    assert mailed.status_code == 200, mailed.text
    assert (mailed.json()["status"], mailed.json()["mail_tracking_no"]) == ("mailed", "EA123456789CN")
    [event] = await iss.events(application_id, "delivery.collected")
    assert (event["payload"]["method"], event["payload"]["tracking_no"]) == ("mail", "EA123456789CN")
    pickup = await iss.client.post(
        f"/pickups/{tracking}/handover", json=handover_body(applicant), headers=clerk
    )
    assert pickup.status_code == 409 and pickup.json()["code"] == "already_collected"


async def test_on_the_spot_results_at_the_accepting_hall(iss: Issuance, other_clerk) -> None:
    spot = item(unique("IT"), matter="SCJG-001", licence_type="BIZ_LICENCE", on_the_spot=True)
    application_id, tracking, applicant, _ = await released_application(
        iss, items=[spot], hall=OTHER_HALL, collect_hall=HALL
    )
    done = await iss.client.post(
        f"/pickups/{tracking}/handover", json=handover_body(applicant, hall=OTHER_HALL), headers=other_clerk
    )
    assert done.status_code == 200, done.text
    [ready] = await iss.events(application_id, "delivery.result_ready")
    assert ready["payload"]["on_the_spot"] is True


def test_tracking_code_from_what_the_scanner_read() -> None:
    code = "a1B2c3D4e5F6_-x"
    for qr in (
        code,
        f"  {code}\n",
        f"https://hall.example/progress/{code}",
        f"https://hall.example/progress/{code}/",
        f"https://hall.example/progress/{code}?lang=zh#top",
    ):
        assert delivery.tracking_code_from_qr(qr) == code, qr
    for qr in (
        "short",
        "https://hall.example/progress/abc'--xyz",
        f"https://hall.example/progress/{code}%00",
    ):
        with pytest.raises(Unprocessable) as raised:
            delivery.tracking_code_from_qr(qr)
        assert [e.field for e in raised.value.errors or []] == ["qr"], qr
