"""The applicant's type against the matter (issue 14, item 2): a matter accepts natural persons or legal
persons as the catalogue says, a bundle only an applicant every member accepts; a mismatch is a 422 on
``applicant.type`` before anything is stored or forms is asked about the applicant."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from services.acceptance.models import Application, StatusEntry
from shared.events.ticketing import TicketCalled
from shared.infra import wait_for
from tests.acceptance.conftest import HALL, company, new_credit_code, new_id_number, open_app, person, publish


async def _stored(acc: Any, applicant_id: str) -> tuple[int, int, int]:
    """All applications, this applicant's, and all history rows of this applicant's applications."""
    async with acc.app.state.runtime.sessionmaker() as session:
        total = (await session.execute(select(func.count()).select_from(Application))).scalar_one()
        mine = (await session.execute(
            select(func.count()).select_from(Application).where(Application.applicant_id == applicant_id)
        )).scalar_one()
        history = (await session.execute(
            select(func.count()).select_from(StatusEntry).join(
                Application, Application.id == StatusEntry.application_id
            ).where(Application.applicant_id == applicant_id)
        )).scalar_one()
    return total, mine, history


def _type_errors(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert errors and all(e["field"] == "applicant.type" for e in errors), errors
    return errors


async def test_a_company_cannot_open_a_natural_person_matter(acc, catalog, clerk, forms_stub) -> None:
    uscc = new_credit_code()
    before = await _stored(acc, uscc)
    asked = len(forms_stub.calls)
    response = await acc.post("/applications", headers=clerk,
                              json={"hall": HALL, "matter": "RS-003", "applicant": company(uscc)})
    [error] = _type_errors(response)
    assert error["message"] == "失业登记 (RS-003) 仅受理自然人申请"
    assert error["type"] == "applicant_type_not_accepted"
    assert await _stored(acc, uscc) == (before[0], 0, 0)  # no draft row, no history
    assert len(forms_stub.calls) == asked  # forms was not asked about the company's profile
    # a retried request with an Idempotency-Key is refused the same way (nothing was stored under the key)
    retried = await acc.post("/applications", headers=clerk | {"Idempotency-Key": f"open-{uscc}"},
                             json={"hall": HALL, "matter": "RS-003", "applicant": company(uscc)})
    _type_errors(retried)
    assert await _stored(acc, uscc) == (before[0], 0, 0)


async def test_a_person_cannot_open_a_legal_person_matter(acc, catalog, clerk) -> None:
    response = await acc.post("/applications", headers=clerk,
                              json={"hall": HALL, "matter": "SCJG-002", "applicant": person()})
    [error] = _type_errors(response)
    assert error["message"] == "有限责任公司设立登记 (SCJG-002) 仅受理法人或其他组织申请"
    # the right types still open them
    assert (await open_app(acc, clerk, matter="RS-003", applicant=person()))["status"] == "draft"
    assert (await open_app(acc, clerk, matter="SCJG-002", applicant=company()))["status"] == "draft"


async def test_every_member_of_a_bundle_that_stands_on_its_own_must_accept_the_applicant(
    acc, catalog, clerk
) -> None:
    """Members that need an earlier member's licence act for what that member sets up (the new shop or
    company), so only the others are checked: a person cannot register a company, but can open a salon."""
    id_number = new_id_number()
    enterprise = await acc.post("/applications", headers=clerk,
                                json={"hall": HALL, "bundle": "ONE-ENTERPRISE", "applicant": person(id_number)})
    errors = _type_errors(enterprise)
    assert [e["message"] for e in errors] == [
        "企业开办一件事 (ONE-ENTERPRISE) 中的有限责任公司设立登记 (SCJG-002) 仅受理法人或其他组织申请"
    ]
    house = await acc.post("/applications", headers=clerk,
                           json={"hall": HALL, "bundle": "ONE-HOUSE-SALE", "applicant": company()})
    assert [e["message"] for e in _type_errors(house)] == [
        "二手房交易登记一件事 (ONE-HOUSE-SALE) 中的二手房转移登记 (ZRZY-001) 仅受理自然人申请"
    ]
    assert (await _stored(acc, id_number))[1:] == (0, 0)
    assert (await open_app(acc, clerk, bundle="ONE-HOUSE-SALE", applicant=person()))["bundle_code"] == (
        "ONE-HOUSE-SALE"
    )
    # 个体工商户设立 by a person, then the salon's permits for the new business
    assert (await open_app(acc, clerk, bundle="ONE-BEAUTY", applicant=person()))["bundle_code"] == "ONE-BEAUTY"


async def test_online_applicants_are_checked_too(acc, catalog, infra) -> None:
    uscc = new_credit_code()
    applicant = infra.auth("applicant", sub=uscc)
    before = await _stored(acc, uscc)
    response = await acc.post("/applications", headers=applicant, json={
        "hall": HALL, "matter": "RS-003", "channel": "web", "applicant": company(uscc)})
    [error] = _type_errors(response)
    assert "RS-003" in error["message"]
    assert await _stored(acc, uscc) == (before[0], 0, 0)
    ok = await acc.post("/applications", headers=applicant, json={
        "hall": HALL, "matter": "RS-002", "channel": "web", "applicant": company(uscc)})
    assert ok.status_code == 201, ok.text


async def test_the_matter_of_a_called_ticket_is_checked(acc, catalog, clerk) -> None:
    ticket_id = f"T-{new_id_number()[-8:]}"
    await publish(acc, TicketCalled(ticket_id=ticket_id, hall=HALL, number="B021", matter_code="RS-003",
                                    window="W06", staff_id="clerk-tx-1", called_at=datetime.now(UTC)),
                  producer="ticketing")
    uscc = new_credit_code()
    body = {"hall": HALL, "ticket_id": ticket_id, "applicant": company(uscc)}

    async def refused_for_its_type() -> Any:
        response = await acc.post("/applications", headers=clerk, json=body)
        assert response.status_code == 422, response.text  # unknown ticket first, then the type
        fields = [e["field"] for e in response.json()["errors"]]
        return response if fields == ["applicant.type"] else None

    response = await wait_for(refused_for_its_type, timeout=30, interval=0.3, message="ticket read model")
    assert "失业登记 (RS-003)" in response.json()["errors"][0]["message"]
    assert (await _stored(acc, uscc))[1] == 0
