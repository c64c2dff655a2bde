"""Revocation: after a failed post-check (event through the broker) and by the issuing department (REST)."""

import uuid

from shared.infra import wait_for
from tests.issuance.issuance_helpers import (
    Issuance,
    accepted,
    decided,
    item,
    person,
    released_application,
    revoked,
    unique,
)


async def test_failed_post_check_revokes_the_licence(iss: Issuance) -> None:
    cid = unique("corr")
    application_id, _, _, [food] = await released_application(iss, correlation_id=cid)
    [licence] = await iss.licences(application_id)
    await iss.send(revoked(application_id, food, "事后核查：经营场所与承诺不符"), correlation_id=cid)

    async def is_revoked() -> bool:
        [lic] = await iss.licences(application_id)
        return lic.status == "revoked"

    await wait_for(is_revoked, timeout=30, message="licence revoked")
    [event] = await iss.events(application_id, "licence.revoked")
    assert event["payload"]["licence_no"] == licence.licence_no
    assert event["payload"]["reason"] == "事后核查：经营场所与承诺不符"
    view = (await iss.client.get(f"/verify/{licence.licence_no}")).json()
    assert (view["status"], view["revocation_reason"]) == ("revoked", "事后核查：经营场所与承诺不符")
    # a second revocation of the same decision changes nothing
    await iss.send(revoked(application_id, food, "again"), correlation_id=cid)
    other_id, _, _, _ = await released_application(iss)
    assert len(await iss.events(application_id, "licence.revoked")) == 1
    assert other_id


async def test_department_revokes_with_reason(iss: Issuance, infra) -> None:
    application_id, _, _, _ = await released_application(iss)
    [licence] = await iss.licences(application_id)
    url = f"/licences/{licence.licence_no}/revoke"
    other = await iss.client.post(
        url, json={"reason": "核查不合格"}, headers=infra.auth("approver", departments=["XF"])
    )
    assert other.status_code == 403
    empty = await iss.client.post(
        url, json={"reason": ""}, headers=infra.auth("approver", departments=["SCJG"])
    )
    assert empty.status_code == 422
    done = await iss.client.post(
        url, json={"reason": "核查不合格"}, headers=infra.auth("approver", departments=["SCJG"])
    )
    assert done.status_code == 200 and done.json()["status"] == "revoked"
    again = await iss.client.post(
        url, json={"reason": "核查不合格"}, headers=infra.auth("approver", departments=["SCJG"])
    )
    assert again.status_code == 409 and again.json()["code"] == "already_revoked"
    view = (await iss.client.get(f"/verify/{licence.licence_no}")).json()
    assert view["status"] == "revoked" and view["revocation_reason"] == "核查不合格"
    assert view["signature_valid"] is True  # the signature stays genuine; the status says it no longer holds
    assert len(await iss.events(application_id, "licence.revoked")) == 1


async def test_decision_revoked_before_release_marks_the_pending_result(iss: Issuance) -> None:
    application_id, tracking, cid = unique("APP"), uuid.uuid4().hex, unique("corr")
    applicant, items = person(), [item(unique("IT")), item(unique("IT"))]
    all_ids = [i.item_id for i in items]
    await iss.send(
        accepted(application_id, items, applicant=applicant, tracking_code=tracking), correlation_id=cid
    )
    await iss.send(
        decided(application_id, items[0], applicant=applicant, all_items=all_ids), correlation_id=cid
    )
    await iss.wait_results(application_id, 1)
    await iss.send(revoked(application_id, items[0], "事后核查：承诺不实"), correlation_id=cid)

    async def revoked_result() -> object:
        [result] = await iss.results(application_id)
        return result if result.decision == "revoked" else None

    result = await wait_for(revoked_result, timeout=30, message="pending result revoked")
    assert result.reason == "事后核查：承诺不实" and result.kind is None and result.document_no is None
    assert (await iss.application(application_id)).status == "pending"  # the other item is still open
    assert await iss.licences(application_id) == []
    assert await iss.events(application_id, "licence.revoked") == []  # nothing was issued, nothing to revoke
