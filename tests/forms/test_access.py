"""Who may read whose data: applicants their own only, staff by role, identifiers checked; every read recorded."""

import pytest

from services.forms import access
from shared.auth import Principal, Role
from shared.problems import Forbidden, Unprocessable
from tests.forms.forms_helpers import new_credit_code, new_id_number, prefill_body


def _principal(*roles: str, sub: str = "someone") -> Principal:
    return Principal(sub=sub, roles=frozenset(roles))


def test_staff_readers_read_anyone_and_an_applicant_only_their_own() -> None:
    person, other = new_id_number(), new_id_number(male=False)
    for role in access.STAFF_READERS:
        access.check_applicant_access(_principal(role), person)
    access.check_applicant_access(_principal(Role.APPLICANT, sub=person), person)
    with pytest.raises(Forbidden):
        access.check_applicant_access(_principal(Role.APPLICANT, sub=person), other)
    for outsider in (Role.APPROVER, Role.AUDITOR, Role.CATALOG_ADMIN):
        with pytest.raises(Forbidden):
            access.check_applicant_access(
                _principal(outsider, sub=person), person
            )  # staff, not the applicant
    # the staff roles are the caller's choice: the profile view lets auditors in, not the service
    access.check_applicant_access(_principal(Role.AUDITOR), person, staff=(Role.CLERK, Role.AUDITOR))
    with pytest.raises(Forbidden):
        access.check_applicant_access(_principal(Role.SERVICE), person, staff=(Role.CLERK, Role.AUDITOR))


def test_an_applicant_id_is_an_id_number_or_a_credit_code() -> None:
    assert access.check_applicant_id(new_id_number()) == "natural_person"
    assert access.check_applicant_id(new_credit_code()) == "legal_person"
    for bogus in ("", "BOGUS-" + new_credit_code(), new_id_number()[:-1] + "Z"):
        with pytest.raises(Unprocessable) as refused:
            access.check_applicant_id(bogus, field="holder_id")
        assert refused.value.errors is not None
        assert [e.field for e in refused.value.errors] == ["holder_id"]


async def test_an_applicant_prefills_only_their_own_data(forms, infra, catalog_version) -> None:
    person, other = new_id_number(), new_id_number(male=False)
    own = await forms.post(
        "/prefill",
        json=prefill_body(person, catalog_version, matter="RS-003"),
        headers=infra.auth("applicant", sub=person),
    )
    assert own.status_code == 200
    theirs = await forms.post(
        "/prefill",
        json=prefill_body(other, catalog_version, matter="RS-003"),
        headers=infra.auth("applicant", sub=person),
    )
    assert theirs.status_code == 403


async def test_every_read_is_in_the_applicants_access_log(forms, infra, catalog_version, acceptance_stub) -> None:
    person = new_id_number()
    clerk = infra.auth("clerk", halls=["ZS-CITY"], sub="clerk-audit-1")
    ref = acceptance_stub.open(person)
    assert (await forms.post(
        "/prefill", json=prefill_body(person, catalog_version, matter="RS-003", ref=ref), headers=clerk
    )).status_code == 200
    assert (await forms.get(
        "/forms/RS-003/print", params={"applicant_id": person, "application_ref": ref}, headers=clerk
    )).status_code == 200
    # without an application of the clerk's hall for this applicant: refused, and on record as refused
    no_ref = await forms.post("/prefill", json=prefill_body(person, catalog_version, matter="RS-003"), headers=clerk)
    assert no_ref.status_code == 403 and no_ref.json()["code"] == "no_reading_basis", no_ref.text
    service = infra.auth("service", sub="acceptance")
    await forms.post(
        "/validate",
        json={
            "matter": "RS-003",
            "values": {"person.name": "赵六"},
            "partial": True,
            "applicant_id": person,
            "application_ref": "APP-A2",
        },
        headers=service,
    )
    refused = await forms.post(
        "/validate",
        json={
            "matter": "RS-003",
            "values": {"person.id_number": new_id_number()},
            "partial": True,
            "applicant_id": person,
            "application_ref": "APP-A3",
        },
        headers=service,
    )
    assert refused.status_code == 422 and refused.json()["errors"][0]["type"] == "locked"
    assert refused.headers["content-type"].startswith("application/problem+json")
    log = await forms.get(f"/profiles/{person}/access-log", headers=infra.auth("applicant", sub=person))
    assert log.status_code == 200, log.text
    items = log.json()["items"]
    assert [(i["reader"], i["purpose"], i["application_ref"], i["outcome"]) for i in items] == [
        ("acceptance", "validate", "APP-A3", "read"),  # a refused validation read the profile too
        ("acceptance", "validate", "APP-A2", "read"),
        ("clerk-audit-1", "prefill", None, "refused"),
        ("clerk-audit-1", "print", ref, "read"),
        ("clerk-audit-1", "prefill", ref, "read"),
    ]
    assert items[-1]["roles"] == ["clerk"] and items[-1]["subject"] == "RS-003"
    other = new_id_number()
    assert (
        await forms.get(f"/profiles/{person}/access-log", headers=infra.auth("applicant", sub=other))
    ).status_code == 403
    assert (await forms.get(f"/profiles/{person}/access-log", headers=clerk)).status_code == 403
    audited = await forms.get(
        f"/profiles/{person}/access-log", headers=infra.auth("auditor", sub="auditor-1")
    )
    assert (
        audited.status_code == 200 and audited.json()["applicant_id"] == person[:6] + "********" + person[-4:]
    )
