"""A licence later bundle members wait for (approval.decided ``awaited_by``) is issued at once, not held back
until the whole bundle is decided (issue 14 item 4); it is handed out with the bundle's other results."""

import uuid

from tests.issuance.issuance_helpers import Issuance, accepted, decided, item, person, unique


async def test_an_awaited_licence_is_issued_before_the_bundle_is_decided(iss: Issuance) -> None:
    application_id, cid = unique("APP"), unique("corr")
    applicant = person()
    items = [
        item(unique("IT"), matter="SCJG-002", licence_type="BIZ_LICENCE"),
        item(unique("IT"), matter="SWJ-001", licence_type=None, department="SWJ"),
    ]
    all_ids = [i.item_id for i in items]
    await iss.send(
        accepted(application_id, items, applicant=applicant, tracking_code=uuid.uuid4().hex, bundle_code="ONE-ENTERPRISE"),
        correlation_id=cid,
    )
    upstream = decided(application_id, items[0], applicant=applicant, all_items=all_ids).model_copy(
        update={"awaited_by": [items[1].item_id]}
    )
    await iss.send(upstream, correlation_id=cid)
    await iss.wait_results(application_id, 1)
    [issued] = await iss.events(application_id, "licence.issued")
    assert issued["payload"]["item_id"] == items[0].item_id and issued["payload"]["licence_type"] == "BIZ_LICENCE"
    assert (await iss.application(application_id)).status == "pending"  # nothing handed out yet

    await iss.send(decided(application_id, items[1], applicant=applicant, all_items=all_ids), correlation_id=cid)
    await iss.wait_status(application_id, "ready")
    [licence] = await iss.licences(application_id)  # issued once, not again at release
    assert licence.licence_no == issued["payload"]["licence_no"]
    [ready] = await iss.events(application_id, "delivery.result_ready")
    assert ready["payload"]["licence_nos"] == [licence.licence_no] and len(ready["payload"]["notice_nos"]) == 1
