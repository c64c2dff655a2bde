"""Walking skeleton and full flow: from a ticket to a collected licence through all five services over the
real broker, with one correlation id. Each service's outbox feeds another service's state:
forms (catalog.*) -> ticketing and acceptance know the matter; ticketing (ticket.called) -> acceptance opens
from the ticket; acceptance (application.accepted) -> approval opens a task; approval (approval.decided) ->
issuance releases a licence; issuance (licence.issued, delivery.*) -> forms learns verified values and
acceptance shows the application collected.

The walk from the ticket to the hand-over runs once per module (the ``flow`` fixture); each test checks one
outcome of it, so any single test also runs on its own.

Each person's first try works right after the step before (read-your-writes, docs/*.md): the clerk opens
from the ticket just called, the approver finds the task just submitted under the id the submit response
named, the issuance window sees the licence just approved — no waiting for the broker on the way."""

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

HALL = f"E2E-{uuid.uuid4().hex[:6].upper()}"


@dataclass(frozen=True)
class Flow:
    """What one walk from a ticket to a collected licence left behind."""

    clerk: dict[str, str]  # the window clerk's Authorization header
    id_number: str
    application_id: str
    tracking_code: str
    correlation_id: str  # of application.accepted
    result: dict[str, Any]  # the released result, as issuance showed it at the pickup window
    collected: dict[str, Any]  # issuance's answer to the hand-over


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def flow(  # type: ignore[no-untyped-def]
    forms, ticketing, acceptance, approval, issuance, infra, reference_catalog
) -> Flow:
    """A citizen takes a ticket, is called, applies, the department approves, the licence is collected."""
    # ticketing: a hall open all day with one window skilled for the matter
    hall_admin = infra.auth("hall_admin", halls=[HALL])
    clerk = infra.auth("clerk", halls=[HALL], sub="e2e-clerk", name="王小明")
    await open_hall_with_one_window(forms=forms, ticketing=ticketing, catalog=reference_catalog,
                                    admin=infra.auth("catalog_admin"), hall_admin=hall_admin, clerk=clerk,
                                    hall=HALL, name="端到端测试大厅")
    await link_services(ticketing=ticketing, acceptance=acceptance, approval=approval, issuance=issuance,
                        forms=forms)
    await acceptance_knows(acceptance, MATTER)  # the catalogue's publication, not part of the citizen's walk

    async def take_ticket() -> dict[str, Any] | None:
        response = await ticketing.post(f"/halls/{HALL}/tickets", json={"matter_code": MATTER},
                                        headers=infra.auth("kiosk", sub="kiosk:e2e-1", halls=[HALL]))
        return response.json() if response.status_code == 201 else None

    ticket = await wait_for(take_ticket, timeout=60, interval=0.5, message="ticketing knows the matter")
    called = await ok(await ticketing.post(f"/halls/{HALL}/windows/W01/call-next", headers=clerk))
    assert called["id"] == ticket["id"]

    # acceptance: open from the called ticket, submit with complete materials
    id_number = new_id_number()
    applicant = {"type": "natural_person", "id_number": id_number, "name": "李四", "mobile": "13712345678"}

    # the clerk's first try, right after call-next (ticket.called may still be on its way)
    draft = await ok(
        await acceptance.post(
            "/applications",
            headers=clerk,
            json={"hall": HALL, "ticket_id": ticket["id"], "applicant": applicant},
        ),
        201,
    )
    assert draft["correlation_id"] == ticket["correlation_id"]
    submitted = await ok(
        await acceptance.post(
            f"/applications/{draft['id']}/submit",
            headers=clerk,
            json={
                "values": {
                    "person.name": "李四",
                    "person.id_number": id_number,
                    "person.mobile": "13712345678",
                    "entity.name": "李四小吃店",
                    "premises.address": "中山市石岐区民族路8号",
                    "entity.business_scope": "小吃服务",
                },
                "presented": ["ID_CARD", "PREMISES_PROOF"],
            },
        )
    )
    assert submitted["status"] == "accepted", submitted
    application_id, tracking_code = submitted["id"], submitted["tracking_code"]
    assert tracking_code
    [task] = [item["task_id"] for item in submitted["items"]]  # named at submit, before approval heard of it
    assert task

    # approval: the department decides; the approver's first try right after submit finds the task
    approver = infra.auth("approver", departments=["SCJG"], sub="e2e-approver")
    tasks = await ok(await approval.get("/tasks", headers=approver, params={"application_id": application_id}))
    assert [t["id"] for t in tasks] == [task]
    await ok(await approval.post(f"/tasks/{task}/claim", headers=approver))
    await ok(await approval.post(f"/tasks/{task}/approve", headers=approver, json={"opinion": "准予登记"}))

    # issuance: the licence is released; the citizen collects it at the hall's issuance window
    issuance_clerk = infra.auth("issuance_clerk", halls=[HALL], sub="e2e-issuance")

    # the window's first scan right after the approval shows the licence
    view = await ok(await issuance.get(f"/pickups/{tracking_code}", params={"hall": HALL}, headers=issuance_clerk))
    assert view["status"] == "ready", view
    [result] = view["items"]
    assert result["document_no"]
    collected = await ok(
        await issuance.post(
            f"/pickups/{tracking_code}/handover",
            headers=issuance_clerk,
            json={"hall": HALL, "id_number": id_number},
        )
    )
    [accepted] = await envelopes(
        acceptance,
        "acceptance",
        lambda e: (e["type"].astext == "application.accepted", e["key"].astext == application_id),
    )
    return Flow(
        clerk=clerk,
        id_number=id_number,
        application_id=application_id,
        tracking_code=tracking_code,
        correlation_id=accepted["correlation_id"],
        result=result,
        collected=collected,
    )


async def test_ticket_to_collected_licence(flow: Flow, issuance) -> None:
    assert flow.result["kind"] == "licence" and flow.result["matter_code"] == MATTER
    assert flow.collected["status"] == "collected"
    verification = await ok(await issuance.get(f"/verify/{flow.result['document_no']}"))
    assert verification["status"] == "valid" and verification["licence_type"] == "BIZ_LICENCE"


async def test_one_correlation_id_on_every_event_of_the_flow(
    flow: Flow, ticketing, acceptance, approval, issuance
) -> None:
    """One correlation id on every event of the flow, in every service's outbox."""
    application_id, correlation_id = flow.application_id, flow.correlation_id
    events: list[dict[str, Any]] = []
    for client, schema in [
        (ticketing, "ticketing"),
        (acceptance, "acceptance"),
        (approval, "approval"),
        (issuance, "issuance"),
    ]:
        events += await envelopes(client, schema, lambda e: (e["correlation_id"].astext == correlation_id,))
    types = {e["type"] for e in events}
    assert {
        "ticket.called",
        "application.accepted",
        "approval.task_opened",
        "licence.issued",
        "delivery.result_ready",
        "notification.requested",
        "delivery.collected",
    } <= types, types
    assert {e["producer"] for e in events} == {"ticketing", "acceptance", "approval", "issuance"}
    # and nothing about this application went out of acceptance or issuance under another id
    for client, schema in [(acceptance, "acceptance"), (issuance, "issuance")]:
        about = await envelopes(
            client, schema, lambda e: (e["payload"]["application_id"].astext == application_id,)
        )
        assert about and {e["correlation_id"] for e in about} == {correlation_id}, schema


async def test_front_desk_and_citizen_see_the_application_collected(flow: Flow, acceptance) -> None:
    """issuance -> acceptance: the front desk and the citizen see the application collected."""

    async def collected_at_front_desk() -> dict[str, Any] | None:
        view = (await acceptance.get(f"/applications/{flow.application_id}", headers=flow.clerk)).json()
        return view if view.get("status") == "collected" else None

    front = await wait_for(collected_at_front_desk, timeout=60, interval=0.3, message="acceptance sees collected")
    assert {"accepted", "collected"} <= {h["status"] for h in front["history"]}, front["history"]
    progress = await ok(await acceptance.get(f"/progress/{flow.tracking_code}"))
    assert progress["status"] == "collected"
    assert flow.id_number not in str(progress) and "李四" not in str(progress)


async def test_forms_learns_the_licence_into_the_profile(flow: Flow, forms) -> None:
    """issuance -> forms: the licence's data is verified in the applicant's profile and locked in prefill."""

    async def learnt_from_licence() -> dict[str, Any] | None:
        response = await forms.post(
            "/prefill",
            headers=flow.clerk,
            json={"applicant_id": flow.id_number, "matter": MATTER, "application_ref": flow.application_id},
        )
        fields = {f["key"]: f for f in response.json().get("fields", [])} if response.status_code == 200 else {}
        entity = fields.get("entity.name") or {}
        return fields if entity.get("source") == "licence_issued" else None

    fields = await wait_for(learnt_from_licence, timeout=60, interval=0.3, message="forms learns the licence")
    assert fields["entity.name"]["value"] == "李四小吃店"
    assert fields["entity.name"]["verified"] and not fields["entity.name"]["editable"]


async def test_approval_events_keep_the_flow_correlation_id(flow: Flow, approval) -> None:
    about = await envelopes(
        approval, "approval", lambda e: (e["payload"]["application_id"].astext == flow.application_id,)
    )
    assert about and {e["correlation_id"] for e in about} == {flow.correlation_id}
