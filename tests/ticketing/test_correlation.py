"""A ticket owns its flow's correlation id: fixed when it is issued (the caller's X-Correlation-ID, else
the ticket id) and carried by every event of the ticket, whatever request causes the event."""

from typing import Any

from sqlalchemy import select

from services.ticketing import models
from tests.ticketing.conftest import new_hall


async def _envelopes(tk: Any, ticket_id: str) -> list[dict[str, Any]]:
    table = models.backbone.outbox_table
    async with tk.app.state.runtime.sessionmaker() as session:
        rows = await session.execute(
            select(table.c.envelope).where(table.c.key == ticket_id).order_by(table.c.seq)
        )
        return list(rows.scalars())


async def test_every_event_of_a_ticket_carries_the_ticket_s_correlation_id(tk, infra) -> None:
    kit = await new_hall(tk, infra)
    await kit.window("A01", "A", ["SCJG-001"])
    await kit.window("A02", "A", ["SCJG-001"])
    ticket = await kit.take("SCJG-001")  # the kiosk sends no correlation id
    assert ticket["correlation_id"] == ticket["id"]

    def clerk(window: str, request_id: str) -> dict[str, str]:
        return kit.clerk(window) | {"X-Correlation-ID": request_id}

    called = await tk.post(f"/halls/{kit.code}/windows/A01/call-next", headers=clerk("A01", "req-call"))
    assert called.status_code == 200 and called.json()["correlation_id"] == ticket["id"]
    assert called.headers["X-Correlation-ID"] == "req-call"  # the request keeps its own id for its logs
    for action, body in [("recall", None), ("no-show", None)]:
        response = await tk.post(f"/tickets/{ticket['id']}/{action}", headers=clerk("A01", f"req-{action}"),
                                 json=body)
        assert response.status_code == 200, response.text
    again = await tk.post(f"/halls/{kit.code}/windows/A02/call-next", headers=clerk("A02", "req-again"))
    assert again.json()["id"] == ticket["id"]
    for action, body in [("park", None), ("finish", {"outcome": "consulted"})]:
        if action == "finish":
            resumed = await tk.post(f"/tickets/{ticket['id']}/resume", headers=clerk("A02", "req-resume"),
                                    params={"window": "A02"})
            assert resumed.status_code == 200, resumed.text
        response = await tk.post(f"/tickets/{ticket['id']}/{action}", headers=clerk("A02", f"req-{action}"),
                                 json=body)
        assert response.status_code == 200, response.text
    rated = await tk.post(f"/tickets/{ticket['id']}/rating",
                          json={"score": 5, "rating_secret": ticket["rating_secret"]},
                          headers={"X-Correlation-ID": "req-rating"})
    assert rated.status_code == 200, rated.text

    envelopes = await _envelopes(tk, ticket["id"])
    assert [e["type"] for e in envelopes] == [
        "ticket.issued", "ticket.called", "ticket.called", "ticket.no_show", "ticket.called",
        "ticket.parked", "ticket.called", "ticket.served", "ticket.rated",
    ]
    assert {e["correlation_id"] for e in envelopes} == {ticket["id"]}
    fetched = await tk.get(f"/tickets/{ticket['id']}")
    assert fetched.json()["correlation_id"] == ticket["id"]


async def test_a_ticket_adopts_the_correlation_id_its_caller_sent(tk, infra) -> None:
    kit = await new_hall(tk, infra)
    await kit.window("B01", "B", ["RS-001"])
    taken = await tk.post(f"/halls/{kit.code}/tickets", json={"matter_code": "RS-001"},
                          headers={"X-Correlation-ID": "kiosk-7-0001", **kit.kiosk})
    assert taken.status_code == 201 and taken.json()["correlation_id"] == "kiosk-7-0001"
    called = await kit.call("B01")
    assert called.json()["correlation_id"] == "kiosk-7-0001"
    envelopes = await _envelopes(tk, taken.json()["id"])
    assert [e["type"] for e in envelopes] == ["ticket.issued", "ticket.called"]
    assert {e["correlation_id"] for e in envelopes} == {"kiosk-7-0001"}
