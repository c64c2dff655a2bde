"""Issue 13, findings 8 and 9: reads missing from the applicant's access log; licence reads not scoped.

``GET /applications/{id}`` and ``GET /licences/{no}`` showed the full record but were not in the log the
citizen sees, and issuance clerks of any hall read any licence in full. Now acceptance, approval and
issuance publish every full read (``application.viewed``, ``approval.task_viewed``, ``licence.viewed``)
and forms writes it into the applicant's access log with who, role, hall or department and service;
an issuance clerk reads a licence in full only at the hall where its results wait (or were handed
over). Real services, real broker, real database.
"""

from typing import Any

import httpx
import pytest

from shared.infra import wait_for
from shared.testing import new_id_number
from tests.approval.approval_support import Sender, open_application
from tests.approval.approval_support import accepted as approval_accepted
from tests.approval.approval_support import item as approval_item
from tests.e2e.e2e_helpers import acceptance_knows
from tests.issuance.issuance_helpers import HALL, OTHER_HALL, Issuance, known_halls, released_application


@pytest.fixture(scope="module")
def iss(issuance: httpx.AsyncClient) -> Issuance:
    return Issuance(issuance)


async def _logged(forms: httpx.AsyncClient, infra, person: str, service: str, count: int = 1) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """The access-log entries ``service`` reported for ``person``, once forms has ``count`` of them."""
    holder = infra.auth("applicant", sub=person)

    async def entries() -> list[dict[str, Any]] | None:
        answer = await forms.get(f"/profiles/{person}/access-log", headers=holder)
        assert answer.status_code == 200, answer.text
        found = [i for i in answer.json()["items"] if i["service"] == service]
        return found if len(found) >= count else None

    return await wait_for(entries, timeout=60, interval=0.3, message=f"{service} reads in the access log")


async def test_licence_reads_are_scoped_to_the_hall_where_the_results_wait(iss: Issuance, infra, forms) -> None:  # type: ignore[no-untyped-def]
    await known_halls(iss, HALL, OTHER_HALL)
    application_id, tracking, applicant, _ = await released_application(iss)
    [licence] = await iss.licences(application_id)
    url = f"/licences/{licence.licence_no}"
    elsewhere = infra.auth("issuance_clerk", halls=[OTHER_HALL], sub="sec-log-clerk-b")
    here = infra.auth("issuance_clerk", halls=[HALL], sub="sec-log-clerk-a")
    refused = await iss.client.get(url, headers=elsewhere)
    assert refused.status_code == 404 and applicant.id_number not in refused.text  # not even that it exists
    other_department = infra.auth("approver", departments=["GA"], sub="sec-log-approver-ga")
    assert (await iss.client.get(url, headers=other_department)).status_code == 404
    read = await iss.client.get(url, headers=here)
    assert read.status_code == 200 and read.json()["holder_id"] == applicant.id_number, read.text
    holder = infra.auth("applicant", sub=applicant.id_number)
    assert (await iss.client.get(url, headers=holder)).status_code == 200
    assert (await iss.client.get(f"/verify/{licence.licence_no}")).status_code == 200  # the public check stays
    # once the holder moves the results, the new hall reads and the old one no longer does
    moved = await iss.client.post(f"/pickups/{tracking}/transfer", json={"to_hall": OTHER_HALL}, headers=holder)
    assert moved.status_code == 200, moved.text
    assert (await iss.client.get(url, headers=elsewhere)).status_code == 200
    assert (await iss.client.get(url, headers=here)).status_code == 404

    entries = await _logged(forms, infra, applicant.id_number, "issuance", count=3)
    seen = {(e["reader"], e["hall"], e["purpose"], e["subject"]) for e in entries}
    assert ("sec-log-clerk-a", HALL, "licence", licence.licence_no) in seen
    assert ("sec-log-clerk-b", OTHER_HALL, "licence", licence.licence_no) in seen
    assert applicant.id_number in {e["reader"] for e in entries}  # the holder's own read too
    assert all(e["outcome"] == "read" for e in entries)
    assert not any(e["reader"] == "sec-log-approver-ga" for e in entries)  # refused reads showed nothing


async def test_an_application_read_at_the_front_desk_is_in_the_log(acceptance, forms, infra, reference_catalog) -> None:  # type: ignore[no-untyped-def]
    admin = infra.auth("catalog_admin")
    created = await forms.post("/catalog/versions", json=reference_catalog, headers=admin)
    assert created.status_code == 201, created.text
    assert (await forms.post(f"/catalog/versions/{created.json()['version']}/publish", headers=admin)).status_code == 200
    await acceptance_knows(acceptance, "RS-001")
    person = new_id_number()
    clerk = infra.auth("clerk", halls=["SEC-LOG-HALL"], sub="sec-log-front-desk")
    opened = await acceptance.post("/applications", headers=clerk, json={
        "hall": "SEC-LOG-HALL", "matter": "RS-001",
        "applicant": {"type": "natural_person", "id_number": person, "name": "周八"}})
    assert opened.status_code == 201, opened.text
    application_id = opened.json()["id"]
    read = await acceptance.get(f"/applications/{application_id}", headers=clerk)
    assert read.status_code == 200 and person in read.text
    stranger = infra.auth("clerk", halls=["SEC-LOG-OTHER"], sub="sec-log-stranger")
    assert (await acceptance.get(f"/applications/{application_id}", headers=stranger)).status_code == 403
    [entry] = await _logged(forms, infra, person, "acceptance")
    assert (entry["reader"], entry["roles"], entry["hall"], entry["purpose"], entry["application_ref"]) == (
        "sec-log-front-desk", ["clerk"], "SEC-LOG-HALL", "application", application_id)


async def _task_of(approval, infra, person: str):  # type: ignore[no-untyped-def]
    """An approval task for ``person``, opened from an application.accepted sent over the broker."""
    sender = Sender(infra)
    try:
        [task] = await open_application(approval, sender, approval_accepted(approval_item(), id_number=person))
    finally:
        await sender.bus.stop()
    return task


async def test_a_task_read_in_the_back_office_is_in_the_log(approval, forms, infra) -> None:  # type: ignore[no-untyped-def]
    person = new_id_number()
    task = await _task_of(approval, infra, person)
    approver = infra.auth("approver", departments=["SCJG"], sub="sec-log-approver")
    read = await approval.get(f"/tasks/{task.id}", headers=approver)
    assert read.status_code == 200 and person in read.text, read.text
    [entry] = await _logged(forms, infra, person, "approval")
    assert (entry["reader"], entry["department"], entry["purpose"], entry["subject"]) == (
        "sec-log-approver", "SCJG", "task", task.id)
    assert entry["application_ref"] == task.application_id


async def test_a_claim_answered_with_the_applicant_in_full_is_in_the_log(approval, forms, infra) -> None:  # type: ignore[no-untyped-def]
    """A change's answer shows the task as GET does (the applicant's identifier, values, materials): the
    approver who claims without opening the task first has read it all the same."""
    person = new_id_number()
    task = await _task_of(approval, infra, person)
    approver = infra.auth("approver", departments=["SCJG"], sub="sec-log-claimer")
    claimed = await approval.post(f"/tasks/{task.id}/claim", headers=approver)
    assert claimed.status_code == 200 and person in claimed.text, claimed.text
    [entry] = await _logged(forms, infra, person, "approval")
    assert (entry["reader"], entry["department"], entry["purpose"], entry["subject"]) == (
        "sec-log-claimer", "SCJG", "task", task.id)
