"""GET /tickets/{id}/call: what acceptance reads through when a clerk opens an application from a ticket
before ``ticket.called`` reached it (staff and services only; clerks see their own halls)."""

import uuid

import pytest

from tests.ticketing.conftest import HallKit, new_hall


@pytest.fixture(scope="module")
async def hall(tk, infra) -> HallKit:
    kit = await new_hall(tk, infra)
    await kit.window("A01", "A", ["SCJG-001"])
    return kit


async def test_the_call_as_the_event_says_it(hall: HallKit, infra) -> None:
    ticket = await hall.take("SCJG-001")
    waiting = await hall.client.get(f"/tickets/{ticket['id']}/call", headers=hall.clerk("A01"))
    assert waiting.status_code == 200, waiting.text
    assert waiting.json()["status"] == "waiting" and waiting.json()["called_at"] is None
    called = await hall.call("A01")
    assert called.status_code == 200 and called.json()["id"] == ticket["id"]
    view = (await hall.client.get(f"/tickets/{ticket['id']}/call", headers=hall.clerk("A01"))).json()
    assert view["status"] == "called" and view["window"] == "A01" and view["called_at"]
    assert view["staff_id"] == f"clerk-{hall.code}-A01"  # who signed in at the window
    assert view["correlation_id"] == ticket["correlation_id"] and view["hall"] == hall.code
    assert view["matter_code"] == "SCJG-001" and view["number"] == ticket["number"]
    service = await hall.client.get(f"/tickets/{ticket['id']}/call", headers=infra.auth("service", sub="acceptance"))
    assert service.status_code == 200 and service.json() == view


async def test_only_staff_of_the_hall(hall: HallKit, infra) -> None:
    ticket = await hall.take("SCJG-001")
    url = f"/tickets/{ticket['id']}/call"
    assert (await hall.client.get(url)).status_code == 401  # not a public route: staff ids, flow ids
    assert (await hall.client.get(url, headers=infra.auth("clerk", halls=["ELSEWHERE"]))).status_code == 403
    assert (await hall.client.get(url, headers=infra.auth("applicant", sub="x"))).status_code == 403
    unknown = await hall.client.get(f"/tickets/{uuid.uuid4()}/call", headers=hall.clerk("A01"))
    assert unknown.status_code == 404
    # the public view still shows no staff
    assert "staff_id" not in (await hall.client.get(f"/tickets/{ticket['id']}")).json()
