"""Right after submit: ``GET /tasks?application_id=`` shows the tasks on the first try. Approval reads the
application.accepted envelope through from acceptance's outbox (``GET /accepted-events``, a stub here; both
real: tests/e2e) and handles it with its own consumer, so the broker's later delivery changes nothing;
503 + Retry-After when acceptance cannot answer. Task ids are the ones acceptance named at submit."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from shared.ids import approval_task_id
from shared.infra import wait_for
from shared.readthrough import EnvelopeClient
from tests.approval.approval_support import (
    accepted,
    approver,
    envelope,
    handled,
    item,
    open_application,
    outbox_events,
    supplemented,
    tasks_of,
)


class AcceptanceStub(httpx.AsyncBaseTransport):
    """acceptance ``GET /accepted-events``: envelopes by application id; ``mode`` down = connection refused."""

    def __init__(self) -> None:
        self.envelopes: dict[str, dict[str, Any]] = {}
        self.calls: list[dict[str, Any]] = []
        self.mode = "up"
        app = FastAPI()

        @app.get("/accepted-events")
        async def accepted_events(application_id: str, request: Request) -> Any:
            self.calls.append({"application_id": application_id, "authorization": request.headers.get("authorization")})
            if application_id not in self.envelopes:
                return JSONResponse({"title": "Not found"}, status_code=404)
            return [self.envelopes[application_id]]

        self._up = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.mode == "down":
            raise httpx.ConnectError("connection refused", request=request)
        return await self._up.handle_async_request(request)


@pytest.fixture
def acceptance(approval) -> Iterator[AcceptanceStub]:
    """Approval's acceptance link pointed at a stub for one test."""
    stub = AcceptanceStub()
    before = approval.app.state.acceptance_client
    approval.app.state.acceptance_client = EnvelopeClient(
        base_url="http://acceptance", timeout=1.0, producer="acceptance", transport=stub
    )
    yield stub
    approval.app.state.acceptance_client = before


async def test_first_try_right_after_submit(approval, infra, sender, acceptance) -> None:
    scjg, xf = item("SCJG-003", "SCJG"), item("XF-001", "XF")
    event = accepted(scjg, xf)
    env = envelope(event)
    acceptance.envelopes[event.application_id] = env.model_dump(mode="json")  # the broker has not brought it
    headers = approver(infra, "scjg-1", "SCJG")
    response = await approval.get("/tasks", params={"application_id": event.application_id}, headers=headers)
    assert response.status_code == 200, response.text
    [task] = response.json()  # only the caller's department
    assert task["id"] == approval_task_id(scjg.item_id) and task["item_id"] == scjg.item_id
    assert task["correlation_id"] == env.correlation_id
    assert acceptance.calls[-1]["authorization"] == headers["Authorization"]
    claimed = await approval.post(f"/tasks/{task['id']}/claim", headers=headers)  # the id from the submit response
    assert claimed.status_code == 200, claimed.text
    # the application is known now: acceptance is not asked again
    calls = len(acceptance.calls)
    bundle = await approval.get(f"/applications/{event.application_id}", headers=approver(infra, "xf-1", "XF"))
    assert bundle.status_code == 200 and len(acceptance.calls) == calls

    # the broker's delivery of the same envelope, later, is a duplicate: nothing opens twice
    await sender.send(event, env=env)
    marker = await sender.send(supplemented(event.application_id, at=event.accepted_at.date()))
    await wait_for(lambda: handled(approval, marker.id), timeout=60, message="marker handled")
    assert sorted(t.id for t in await tasks_of(approval, event.application_id)) == sorted(
        [approval_task_id(scjg.item_id), approval_task_id(xf.item_id)]
    )
    assert len(await outbox_events(approval, "approval.task_opened", application_id=event.application_id)) == 2
    assert (await approval.get(f"/tasks/{task['id']}", headers=headers)).json()["assignee"] == "scjg-1"


async def test_acceptance_down_is_503_with_retry_after(approval, infra, acceptance) -> None:
    event = accepted(item("SCJG-003", "SCJG"))
    acceptance.envelopes[event.application_id] = envelope(event).model_dump(mode="json")
    acceptance.mode = "down"
    headers = approver(infra, "scjg-1", "SCJG")
    response = await approval.get("/tasks", params={"application_id": event.application_id}, headers=headers)
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "2" and response.json()["code"] == "dependency_unavailable"
    assert await tasks_of(approval, event.application_id) == []
    acceptance.mode = "up"
    again = await approval.get("/tasks", params={"application_id": event.application_id}, headers=headers)
    assert again.status_code == 200 and len(again.json()) == 1


async def test_unknown_application_is_an_empty_list_and_the_filter_filters(approval, infra, sender, acceptance) -> None:
    headers = approver(infra, "scjg-1", "SCJG")
    nothing = await approval.get("/tasks", params={"application_id": "app-never-accepted"}, headers=headers)
    assert nothing.status_code == 200 and nothing.json() == []
    first, second = accepted(item("SCJG-003", "SCJG")), accepted(item("SCJG-003", "SCJG"))
    await open_application(approval, sender, first)
    await open_application(approval, sender, second)
    calls = len(acceptance.calls)
    listed = await approval.get("/tasks", params={"application_id": first.application_id}, headers=headers)
    assert [t["application_id"] for t in listed.json()] == [first.application_id]
    assert len(acceptance.calls) == calls  # approval knew it: no read-through
