"""One correlation id from the kiosk to the licence: the ticket's id (the kiosk sends none) names the flow;
ticket.issued, ticket.called, ticket.served, the application opened from the ticket, its approval task, its
results, its licence and every event about them carry it, although every request on the way brings an
X-Correlation-ID of its own. Asserted on each service's outbox and on the response bodies (ticket,
application, task, pickup, licence). Same five services and broker as test_ticket_to_licence.py."""

import uuid
from dataclasses import dataclass
from typing import Any

import pytest_asyncio

from shared.infra import wait_for
from shared.testing import new_id_number
from tests.e2e.e2e_helpers import (
    MATTER,
    acceptance_knows,
    envelopes,
    link_services,
    ok,
    open_hall_with_one_window,
)

HALL = f"E2C-{uuid.uuid4().hex[:6].upper()}"

def _request(headers: dict[str, str], name: str) -> dict[str, str]:
    """``headers`` plus a request correlation id of its own, which must not leak into the flow."""
    return headers | {"X-Correlation-ID": f"request-{name}-{uuid.uuid4().hex[:8]}"}


@dataclass(frozen=True)
class Flow:
    """What one walk from a ticket to a collected licence showed on the way."""

    ticket_id: str
    application_id: str
    tracking_code: str
    licence_no: str
    bodies: dict[str, dict[str, Any]]  # response bodies by what they show


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def flow(  # type: ignore[no-untyped-def]
    forms, ticketing, acceptance, approval, issuance, infra, reference_catalog
) -> Flow:
    """Kiosk ticket, call, application from the ticket, ticket finished, approval, pickup, licence."""
    hall_admin = infra.auth("hall_admin", halls=[HALL])
    clerk = infra.auth("clerk", halls=[HALL], sub="e2c-clerk", name="王小明")
    await open_hall_with_one_window(forms=forms, ticketing=ticketing, catalog=reference_catalog,
                                    admin=infra.auth("catalog_admin"), hall_admin=hall_admin, clerk=clerk,
                                    hall=HALL, name="关联号测试大厅")
    await link_services(ticketing=ticketing, acceptance=acceptance, approval=approval, issuance=issuance)
    await acceptance_knows(acceptance, MATTER)
    bodies: dict[str, dict[str, Any]] = {}

    async def take_ticket() -> dict[str, Any] | None:  # the kiosk sends no correlation id
        response = await ticketing.post(f"/halls/{HALL}/tickets", json={"matter_code": MATTER},
                                        headers=infra.auth("kiosk", sub="kiosk:e2c-1", halls=[HALL]))
        return response.json() if response.status_code == 201 else None

    bodies["ticket"] = ticket = await wait_for(take_ticket, timeout=60, interval=0.5, message="ticketing knows the matter")
    bodies["called"] = await ok(await ticketing.post(f"/halls/{HALL}/windows/W01/call-next",
                                                      headers=_request(clerk, "call")))
    assert bodies["called"]["id"] == ticket["id"]

    id_number = new_id_number()
    applicant = {"type": "natural_person", "id_number": id_number, "name": "李四", "mobile": "13712345678"}

    # first try right after call-next: acceptance reads the ticket (and its flow id) through from ticketing
    bodies["draft"] = draft = await ok(await acceptance.post(
        "/applications", headers=_request(clerk, "open"),
        json={"hall": HALL, "ticket_id": ticket["id"], "applicant": applicant},
    ), 201)
    bodies["served"] = await ok(await ticketing.post(
        f"/tickets/{ticket['id']}/finish", headers=_request(clerk, "finish"),
        json={"outcome": "accepted", "application_id": draft["id"]},
    ))
    bodies["accepted"] = submitted = await ok(await acceptance.post(
        f"/applications/{draft['id']}/submit", headers=_request(clerk, "submit"),
        json={"values": {"person.name": "李四", "person.id_number": id_number, "person.mobile": "13712345678",
                         "entity.name": "李四小吃店", "premises.address": "中山市石岐区民族路8号",
                         "entity.business_scope": "小吃服务"},
              "presented": ["ID_CARD", "PREMISES_PROOF"]},
    ))
    assert submitted["status"] == "accepted", submitted
    application_id, tracking_code = submitted["id"], submitted["tracking_code"]

    approver = infra.auth("approver", departments=["SCJG"], sub="e2c-approver")

    [row] = await ok(await approval.get(  # first try right after submit
        "/tasks", headers=_request(approver, "tasks"), params={"application_id": application_id}
    ))
    bodies["task_row"] = row
    assert row["id"] == submitted["items"][0]["task_id"]
    await ok(await approval.post(f"/tasks/{row['id']}/claim", headers=_request(approver, "claim")))
    bodies["task"] = await ok(await approval.post(f"/tasks/{row['id']}/approve", headers=_request(approver, "approve"),
                                                   json={"opinion": "准予登记"}))

    issuance_clerk = infra.auth("issuance_clerk", halls=[HALL], sub="e2c-issuance")

    bodies["pickup"] = view = await ok(await issuance.get(  # first scan right after the approval
        f"/pickups/{tracking_code}", params={"hall": HALL}, headers=_request(issuance_clerk, "scan")
    ))
    assert view["status"] == "ready", view
    [result] = view["items"]
    bodies["collected"] = await ok(await issuance.post(
        f"/pickups/{tracking_code}/handover", headers=_request(issuance_clerk, "handover"),
        json={"hall": HALL, "id_number": id_number},
    ))
    bodies["licence"] = await ok(await issuance.get(f"/licences/{result['document_no']}",
                                                     headers=_request(issuance_clerk, "licence")))

    async def collected_at_front_desk() -> dict[str, Any] | None:
        body = (await acceptance.get(f"/applications/{application_id}", headers=clerk)).json()
        return body if body.get("status") == "collected" else None

    bodies["application"] = await wait_for(collected_at_front_desk, timeout=60, interval=0.3,
                                           message="acceptance sees collected")
    return Flow(ticket_id=ticket["id"], application_id=application_id, tracking_code=tracking_code,
                licence_no=result["document_no"], bodies=bodies)


async def test_every_response_on_the_way_shows_the_ticket_s_id(flow: Flow) -> None:
    assert flow.bodies["ticket"]["correlation_id"] == flow.ticket_id  # the kiosk sent none: the ticket names it
    shown = {name: body.get("correlation_id") for name, body in flow.bodies.items()}
    assert shown == dict.fromkeys(flow.bodies, flow.ticket_id), shown


async def test_every_event_of_the_flow_carries_the_ticket_s_id(
    flow: Flow, ticketing, acceptance, approval, issuance
) -> None:
    cid = flow.ticket_id
    of_ticket = await envelopes(ticketing, "ticketing", lambda e: (e["key"].astext == flow.ticket_id,))
    assert [e["type"] for e in of_ticket] == ["ticket.issued", "ticket.called", "ticket.served"]
    assert {e["correlation_id"] for e in of_ticket} == {cid}

    types: dict[str, set[str]] = {}
    for client, schema in [(acceptance, "acceptance"), (approval, "approval"), (issuance, "issuance")]:
        about = await envelopes(
            client, schema, lambda e: (e["payload"]["application_id"].astext == flow.application_id,)
        )
        assert about and {e["correlation_id"] for e in about} == {cid}, (schema, about)
        types[schema] = {e["type"] for e in about}
    assert "application.accepted" in types["acceptance"]
    assert {"approval.task_opened", "approval.decided"} <= types["approval"]
    assert {"licence.issued", "delivery.result_ready", "delivery.collected", "notification.requested"} <= types[
        "issuance"
    ]
    # and the licence's own key carries it too
    [issued] = await envelopes(issuance, "issuance", lambda e: (e["key"].astext == flow.licence_no,))
    assert issued["type"] == "licence.issued" and issued["correlation_id"] == cid


async def test_a_revocation_by_request_keeps_the_flow_s_id(flow: Flow, infra, issuance) -> None:
    """licence.revoked raised by a department's request carries the licence's flow id, not the request's."""
    approver = infra.auth("approver", departments=["SCJG"], sub="e2c-approver")
    revoked = await ok(await issuance.post(f"/licences/{flow.licence_no}/revoke",
                                            headers=_request(approver, "revoke"), json={"reason": "事后核查不合格"}))
    assert revoked["status"] == "revoked" and revoked["correlation_id"] == flow.ticket_id
    events = await envelopes(
        issuance, "issuance",
        lambda e: (e["payload"]["application_id"].astext == flow.application_id,
                   e["type"].astext.in_(["licence.revoked", "notification.requested"])),
    )
    assert "licence.revoked" in {e["type"] for e in events}
    assert {e["correlation_id"] for e in events} == {flow.ticket_id}
