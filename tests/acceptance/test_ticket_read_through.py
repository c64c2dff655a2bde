"""Opening from a ticket right after call-next: acceptance asks ticketing when ``ticket.called`` has not
arrived yet (first try works, with the ticket's correlation id); 503 + Retry-After when ticketing cannot
answer; 422 when the ticket was not called. Ticketing is a stub speaking ``GET /tickets/{id}/call``
(its real side: tests/ticketing/test_ticket_call.py; both together: tests/e2e)."""

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from services.acceptance.models import Application, CalledTicket, backbone
from services.ticketing.schemas import TicketCallOut
from shared.events.ticketing import TicketCalled
from shared.infra import wait_for
from tests.acceptance.conftest import HALL, OTHER_HALL, TicketingStub, open_app, person, publish


def _called(ticket_id: str, *, hall: str = HALL, called: bool = True) -> dict[str, Any]:
    """Ticketing's answer for a ticket (the route's own response model: the contract)."""
    return TicketCallOut(
        ticket_id=uuid.UUID(ticket_id), hall=hall, number="A042", matter_code="RS-003", zone="A",
        status="called" if called else "waiting", window="W03" if called else None,
        staff_id="clerk-tx-1" if called else None, called_at=datetime.now(UTC) if called else None,
        correlation_id=f"flow-{ticket_id[:8]}",
    ).model_dump(mode="json")


async def _applications_from(acc: Any, ticket_id: str) -> int:
    async with acc.app.state.runtime.sessionmaker() as session:
        query = select(func.count()).select_from(Application).where(Application.ticket_id == ticket_id)
        return (await session.execute(query)).scalar_one()


@pytest.fixture
def ticketing(ticketing_stub: TicketingStub) -> Any:
    ticketing_stub.mode = "up"
    yield ticketing_stub
    ticketing_stub.mode = "up"


async def test_first_try_right_after_call_next(acc, catalog, clerk, ticketing) -> None:
    ticket_id = str(uuid.uuid4())  # acceptance never received ticket.called for it
    ticketing.tickets[ticket_id] = answer = _called(ticket_id)
    body = {"hall": HALL, "ticket_id": ticket_id, "applicant": person()}
    response = await acc.post("/applications", headers=clerk, json=body)
    assert response.status_code == 201, response.text
    draft = response.json()
    assert draft["ticket_id"] == ticket_id and draft["matter_code"] == "RS-003"
    runtime = acc.app.state.runtime
    async with runtime.sessionmaker() as session:
        app = await session.get(Application, draft["id"])
        ticket = await session.get(CalledTicket, ticket_id)
    assert app is not None and app.correlation_id == answer["correlation_id"]  # the ticket's flow
    assert ticket is not None and (ticket.window, ticket.staff_id, ticket.application_id) == (
        "W03", "clerk-tx-1", draft["id"]
    )
    [asked] = [c for c in ticketing.calls if c["ticket_id"] == ticket_id]
    assert asked["authorization"] == clerk["Authorization"]  # the clerk's own hall scope applies there
    # a second open from the same ticket reads acceptance's own record, ticketing is not asked again
    again = await acc.post("/applications", headers=clerk, json=body | {"applicant": person()})
    assert again.status_code == 201 and len([c for c in ticketing.calls if c["ticket_id"] == ticket_id]) == 1

    # the event arriving later is the same upsert: it changes nothing
    envelope = await publish(acc, TicketCalled(
        ticket_id=ticket_id, hall=HALL, number="A042", matter_code="RS-003", window="W03",
        staff_id="clerk-tx-1", called_at=datetime.fromisoformat(answer["called_at"]), zone="A",
    ), correlation_id=answer["correlation_id"], producer="ticketing")
    inbox = backbone.inbox_table

    async def handled() -> bool:
        async with runtime.sessionmaker() as session:
            rows = await session.execute(select(inbox.c.event_id).where(inbox.c.event_id == envelope.id))
            return rows.first() is not None

    await wait_for(handled, timeout=30, interval=0.2, message="ticket.called handled")
    async with runtime.sessionmaker() as session:
        after = await session.get(CalledTicket, ticket_id)
    assert after is not None
    assert (after.correlation_id, after.window, after.called_at, after.application_id) == (
        ticket.correlation_id, ticket.window, ticket.called_at, again.json()["id"]
    )


async def test_ticketing_down_is_503_with_retry_after(acc, catalog, clerk, ticketing) -> None:
    ticket_id = str(uuid.uuid4())
    ticketing.tickets[ticket_id] = _called(ticket_id)
    body = {"hall": HALL, "ticket_id": ticket_id, "applicant": person()}
    for mode in ("down", "error"):
        ticketing.mode = mode
        response = await acc.post("/applications", headers=clerk, json=body)
        assert response.status_code == 503, (mode, response.text)
        assert response.headers["retry-after"] == "2"
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "dependency_unavailable"
    assert await _applications_from(acc, ticket_id) == 0  # nothing stored
    ticketing.mode = "up"  # it is back: the retry works
    assert (await acc.post("/applications", headers=clerk, json=body)).status_code == 201


async def test_not_called_unknown_or_elsewhere_is_422(acc, catalog, clerk, ticketing) -> None:
    waiting, unknown, elsewhere = (str(uuid.uuid4()) for _ in range(3))
    ticketing.tickets[waiting] = _called(waiting, called=False)
    ticketing.tickets[elsewhere] = _called(elsewhere, hall=OTHER_HALL)
    for ticket_id, detail in [(waiting, "has not been called"), (unknown, "has not been called"),
                              ("T-not-a-uuid", "has not been called"), (elsewhere, "another hall")]:
        body = {"hall": HALL, "ticket_id": ticket_id, "applicant": person()}
        response = await acc.post("/applications", headers=clerk, json=body)
        assert response.status_code == 422, response.text
        assert detail in response.json()["detail"] and response.json()["errors"][0]["field"] == "ticket_id"
        assert await _applications_from(acc, ticket_id) == 0
    async with acc.app.state.runtime.sessionmaker() as session:
        assert await session.get(CalledTicket, elsewhere) is None  # rolled back with the refusal
        assert await session.get(CalledTicket, waiting) is None


# ---- after submit: the task ids are known, the accepted event is served to approval and issuance ----


async def test_submit_names_the_task_ids_and_serves_the_accepted_event(acc, catalog, clerk, infra) -> None:
    from shared.ids import approval_task_id
    from tests.acceptance.conftest import new_id_number

    id_number = new_id_number()
    draft = await open_app(acc, clerk, matter="SCJG-001", applicant=person(id_number))
    submitted = await acc.post(f"/applications/{draft['id']}/submit", headers=clerk, json={
        "values": {"person.name": "张三丰", "person.id_number": id_number, "person.mobile": "13812345678",
                   "entity.name": "三丰小店", "premises.address": "桐乡市振兴东路8号", "entity.business_scope": "零售"},
        "presented": ["ID_CARD", "PREMISES_PROOF"],
    })
    assert submitted.status_code == 200, submitted.text
    app = submitted.json()
    assert app["status"] == "accepted"
    [item] = app["items"]
    assert item["task_id"] == approval_task_id(item["item_id"])  # before approval heard anything

    url = "/accepted-events"
    scjg = infra.auth("approver", departments=["SCJG"], sub="a-1")
    by_id = await acc.get(url, params={"application_id": app["id"]}, headers=scjg)
    assert by_id.status_code == 200, by_id.text
    [envelope] = by_id.json()
    assert envelope["type"] == "application.accepted" and envelope["key"] == app["id"]
    assert envelope["payload"]["items"][0]["item_id"] == item["item_id"]
    issuance_clerk = infra.auth("issuance_clerk", halls=[HALL])
    by_code = await acc.get(url, params={"tracking_code": app["tracking_code"]}, headers=issuance_clerk)
    assert by_code.status_code == 200 and by_code.json() == [envelope]
    # the issuance window reads by the receipt's code only, never looks an application up by id
    by_id_at_window = await acc.get(url, params={"application_id": app["id"]}, headers=issuance_clerk)
    assert by_id_at_window.status_code == 404
    # only those who will handle it: another department, another hall, the clerk, the public: nothing
    for headers in (infra.auth("approver", departments=["GA"]), infra.auth("issuance_clerk", halls=[OTHER_HALL])):
        assert (await acc.get(url, params={"application_id": app["id"]}, headers=headers)).status_code == 404
    assert (await acc.get(url, params={"application_id": app["id"]}, headers=clerk)).status_code == 403
    assert (await acc.get(url, params={"application_id": app["id"]})).status_code == 401
    draft_only = await open_app(acc, clerk, matter="SCJG-001", applicant=person())
    assert (await acc.get(url, params={"application_id": draft_only["id"]}, headers=scjg)).status_code == 404
    both = await acc.get(url, params={"application_id": app["id"], "tracking_code": app["tracking_code"]},
                         headers=scjg)
    assert both.status_code == 422 and both.json()["errors"][0]["field"] == "application_id"
