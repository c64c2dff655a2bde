"""The licence library: reading licences, their status, and public verification by number, QR or file."""

from datetime import date

import pytest

from services.issuance import library, numbers
from services.issuance.models import Licence
from shared.problems import Unprocessable
from tests.issuance.issuance_helpers import HALL, Issuance, released_application


async def test_document_check_endpoint(iss: Issuance, issued) -> None:
    good = await iss.client.post(
        "/verify/document", json={"canonical": issued["canonical"], "signature": issued["signature"]}
    )
    assert good.json() == {
        "signature_valid": True,
        "canonical_form": True,
        "licence_no": issued["licence_no"],
        "status": "valid",
    }
    tampered = issued["canonical"].replace(issued["valid_from"], "2000-01-01")
    bad = await iss.client.post(
        "/verify/document", json={"canonical": tampered, "signature": issued["signature"]}
    )
    assert bad.json()["signature_valid"] is False and bad.json()["status"] is None


async def test_public_verification_shows_only_what_a_verifier_needs(iss: Issuance, issued) -> None:
    response = await iss.client.get(
        f"/verify/{issued['licence_no'].lower().replace('-', ' ')}"
    )  # typed loosely
    assert response.status_code == 200, response.text
    view = response.json()
    assert view["status"] == "valid" and view["signature_valid"] is True
    assert view["licence_type_name"] == "食品经营许可证" and view["issuing_department"] == "SCJG"
    assert view["holder_name"] == "张**" and issued["holder_id"] not in response.text
    assert "data" not in view and "canonical" not in view
    assert issued["qr_payload"].endswith(f"/verify/{issued['licence_no']}")
    qr = await iss.client.get(f"/verify/{issued['licence_no']}/qr.svg")
    assert qr.status_code == 200 and qr.headers["content-type"].startswith("image/svg")


async def test_unknown_and_forged_licence_numbers(iss: Issuance) -> None:
    unknown = numbers.new_licence_no(2026)
    assert (await iss.client.get(f"/verify/{unknown}")).status_code == 404
    compact = numbers.normalise(unknown)
    forged = compact[:-1] + next(c for c in numbers.ALPHABET if c != compact[-1])
    response = await iss.client.get(f"/verify/{forged}")
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "licence_no"
    garbage = await iss.client.get("/verify/hello")
    assert garbage.status_code == 422


async def test_licence_reads_are_limited_to_holder_department_and_staff(iss: Issuance, issued, infra) -> None:
    no = issued["licence_no"]
    stranger = infra.auth("applicant", sub="110101199003071234")
    assert (await iss.client.get(f"/licences/{no}", headers=stranger)).status_code == 404
    other_dept = infra.auth("approver", departments=["XF"])
    assert (await iss.client.get(f"/licences/{no}", headers=other_dept)).status_code == 404
    assert (await iss.client.get(f"/licences/{no}", headers=infra.auth("auditor"))).status_code == 200
    assert (await iss.client.get(f"/licences/{no}")).status_code == 401
    mine = await iss.client.get("/licences", headers=issued["_holder"])
    assert [lic["licence_no"] for lic in mine.json()] == [no]
    listed = await iss.client.get(
        "/licences",
        params={"holder_id": issued["holder_id"]},
        headers=infra.auth("issuance_clerk", halls=[HALL]),
    )
    assert listed.status_code == 200 and issued["holder_id"] not in listed.text


async def test_expired_licences_verify_as_expired(iss: Issuance) -> None:
    from datetime import date

    from sqlalchemy import update

    from services.issuance.models import Licence

    application_id, _, _, _ = await released_application(iss)
    [licence] = await iss.licences(application_id)
    async with iss.runtime.sessionmaker() as session, session.begin():  # time passes: five years later
        await session.execute(
            update(Licence)
            .where(Licence.licence_no == licence.licence_no)
            .values(valid_until=date(2020, 1, 1))
        )
    view = (await iss.client.get(f"/verify/{licence.licence_no}")).json()
    assert view["status"] == "expired"


def test_status_is_stored_for_revocation_and_computed_for_expiry() -> None:
    today = date(2026, 6, 1)
    assert library.effective_status(Licence(status="valid", valid_until=None), today) == "valid"
    assert library.effective_status(Licence(status="valid", valid_until=today), today) == "valid"  # last day
    assert (
        library.effective_status(Licence(status="valid", valid_until=date(2026, 5, 31)), today) == "expired"
    )
    assert (
        library.effective_status(Licence(status="revoked", valid_until=date(2020, 1, 1)), today) == "revoked"
    )


def test_licence_numbers_are_checked_before_the_library_is_asked() -> None:
    number = numbers.new_licence_no(2026)
    assert library.checked_licence_no(number.lower().replace("-", " ")) == number
    with pytest.raises(Unprocessable) as raised:
        library.checked_licence_no(number[:-1] + ("0" if number[-1] != "0" else "1"))
    assert [e.field for e in raised.value.errors or []] == ["licence_no"]
