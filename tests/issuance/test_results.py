"""Results from decisions, through the real broker: licences, bundles, duplicates, ordering; licence rules."""

import uuid
from datetime import date

from services.issuance import results
from services.issuance.models import Result
from services.issuance.numbers import check_licence_no
from shared.infra import wait_for
from tests.issuance.issuance_helpers import (
    HALL,
    Issuance,
    accepted,
    decided,
    item,
    person,
    released_application,
    unique,
)


async def test_approved_matter_becomes_a_signed_licence_with_one_correlation_id(iss: Issuance, infra) -> None:
    cid = unique("corr")
    application_id, _, applicant, _ = await released_application(iss, correlation_id=cid)

    [licence] = await iss.licences(application_id)
    assert check_licence_no(licence.licence_no)[0] == licence.licence_no
    assert licence.licence_type == "FOOD_LICENCE" and licence.licence_type_name == "食品经营许可证"
    assert licence.holder_id == applicant.id_number and licence.holder_type == "natural_person"
    assert licence.issuing_department == "SCJG" and licence.status == "valid"
    years_later = date(licence.valid_from.year + 5, licence.valid_from.month, licence.valid_from.day)
    assert (years_later - licence.valid_until).days == 1  # five years, the last day included
    # form values reach the licence, personal contact data does not
    assert licence.data["entity.name"] == "示例餐饮有限公司"
    assert "person.mobile" not in licence.data and "13800138000" not in licence.canonical

    [result] = await iss.results(application_id)
    assert (result.kind, result.document_no) == ("licence", licence.licence_no)

    envelopes = await iss.events(application_id)
    types = [e["type"] for e in envelopes]
    assert types == ["licence.issued", "delivery.result_ready", "notification.requested"]
    assert {e["correlation_id"] for e in envelopes} == {cid}
    issued = envelopes[0]["payload"]
    assert issued["licence_no"] == licence.licence_no and issued["signature"] == licence.signature
    ready = envelopes[1]["payload"]
    assert ready["licence_nos"] == [licence.licence_no] and ready["collect_hall"] == HALL
    notification = envelopes[2]["payload"]
    assert (notification["channel"], notification["recipient"], notification["template"]) == (
        "sms",
        applicant.mobile,
        "result_ready",
    )

    # the notifier consumer delivers it (logging sender), masked, once
    sent = await wait_for(
        lambda: iss.notifications_sent(application_id), timeout=30, message="notification sent"
    )
    assert [(n.channel, n.recipient_masked) for n in sent] == [("sms", "139****5678")]


async def test_bundle_is_released_together_and_reports_a_denial(iss: Issuance) -> None:
    application_id, tracking, cid = unique("APP"), uuid.uuid4().hex, unique("corr")
    applicant = person(mobile=None)
    items = [
        item(unique("IT"), matter="SCJG-002", licence_type="BIZ_LICENCE"),
        item(unique("IT"), matter="SCJG-003", licence_type="FOOD_LICENCE"),
        item(unique("IT"), matter="XF-001", licence_type="FIRE_PASS", department="XF"),
    ]
    all_ids = [i.item_id for i in items]
    await iss.send(
        accepted(
            application_id, items, applicant=applicant, tracking_code=tracking, bundle_code="ONE-RESTAURANT"
        ),
        correlation_id=cid,
    )
    for it in items[:2]:
        await iss.send(
            decided(application_id, it, applicant=applicant, all_items=all_ids), correlation_id=cid
        )
    await iss.wait_results(application_id, 2)
    assert (await iss.application(application_id)).status == "pending"
    assert await iss.licences(application_id) == []  # nothing is released while a member is undecided

    await iss.send(
        decided(
            application_id,
            items[2],
            applicant=applicant,
            all_items=all_ids,
            decision="denied",
            reason="消防通道不符合要求",
        ),
        correlation_id=cid,
    )
    await iss.wait_status(application_id, "ready")
    licences = await iss.licences(application_id)
    assert sorted(lic.licence_type for lic in licences) == ["BIZ_LICENCE", "FOOD_LICENCE"]
    assert next(lic for lic in licences if lic.licence_type == "BIZ_LICENCE").valid_until is None
    kinds = {r.item_id: (r.kind, r.reason) for r in await iss.results(application_id)}
    assert kinds[items[2].item_id] == ("denial_notice", "消防通道不符合要求")
    [ready] = await iss.events(application_id, "delivery.result_ready")
    assert ready["payload"]["denied_item_ids"] == [items[2].item_id]
    assert len(ready["payload"]["notice_nos"]) == 1 and len(ready["payload"]["licence_nos"]) == 2
    [notification] = await iss.events(application_id, "notification.requested")
    assert notification["payload"]["channel"] == "app"  # no mobile: the applicant's app account
    assert notification["payload"]["params"]["denied"] == 1


async def test_duplicate_decisions_issue_one_licence(iss: Issuance) -> None:
    application_id, tracking, cid = unique("APP"), uuid.uuid4().hex, unique("corr")
    applicant, it = person(), item(unique("IT"))
    await iss.send(
        accepted(application_id, [it], applicant=applicant, tracking_code=tracking), correlation_id=cid
    )
    event = decided(application_id, it, applicant=applicant, all_items=[it.item_id])
    first = await iss.send(event, correlation_id=cid)
    await iss.resend(first, stream="approvals")  # redelivery of the same envelope
    await iss.send(event, correlation_id=cid)  # the same decision re-published under a new event id
    marker_id, marker_item = unique("APP"), item(unique("IT"))
    await iss.send(
        accepted(marker_id, [marker_item], applicant=applicant, tracking_code=uuid.uuid4().hex),
        correlation_id=cid,
    )
    await iss.send(
        decided(marker_id, marker_item, applicant=applicant, all_items=[marker_item.item_id]),
        correlation_id=cid,
    )
    await iss.wait_status(marker_id, "ready")  # same partition key order is not guaranteed; wait for ours too
    await iss.wait_status(application_id, "ready")
    assert len(await iss.licences(application_id)) == 1
    assert len(await iss.events(application_id, "licence.issued")) == 1
    assert len(await iss.events(application_id, "notification.requested")) == 1


async def test_decision_overtaking_the_acceptance_waits_for_the_tracking_code(iss: Issuance) -> None:
    application_id, tracking, cid = unique("APP"), uuid.uuid4().hex, unique("corr")
    applicant, it = person(), item(unique("IT"))
    # the decision overtakes the acceptance, under another correlation id (an approver's request)
    await iss.send(
        decided(application_id, it, applicant=applicant, all_items=[it.item_id]),
        correlation_id="approver-request",
    )
    await iss.wait_results(application_id, 1)
    app = await iss.application(application_id)
    assert (app.status, app.accepted, app.tracking_code) == ("pending", False, None)
    await iss.send(
        accepted(application_id, [it], applicant=applicant, tracking_code=tracking), correlation_id=cid
    )
    app = await iss.wait_status(application_id, "ready")
    assert app.tracking_code == tracking and app.application_no is not None
    assert len(await iss.licences(application_id)) == 1
    assert {e["correlation_id"] for e in await iss.events(application_id)} == {cid}  # the acceptance's id


def test_licence_data_keeps_the_subject_and_never_personal_data() -> None:
    result = Result(
        matter_name="食品经营许可",
        values={
            "premises.address": "中山市东区1号",
            "entity.name": "示例餐饮有限公司",
            "entity.uscc": "91442000MA4UXXXX1X",  # a credit code is an identifier: not on the licence
            "entity.legal_rep_id_number": "110101199003071234",
            "food.contact_mobile": "13800138000",
            "person.name": "张三丰",  # not a licence field at all
            "hygiene.email": "a@example.org",
        },
    )
    data = results.licence_data(result)
    assert data == {
        "entity.name": "示例餐饮有限公司",
        "matter_name": "食品经营许可",
        "premises.address": "中山市东区1号",
    }
    assert list(data)[:2] == ["entity.name", "premises.address"]  # sorted, so the canonical text is stable


def test_validity_counts_whole_years_and_survives_29_february() -> None:
    assert results.years_later(date(2026, 3, 15), 5) == date(2031, 3, 15)
    assert results.years_later(date(2028, 2, 29), 4) == date(2032, 2, 29)  # leap year to leap year
    assert results.years_later(date(2028, 2, 29), 5) == date(2033, 2, 28)
