"""The issuance window scans a receipt right after the decision: the results and licence numbers are there
on the first scan. Issuance reads application.accepted (acceptance ``GET /accepted-events``) and
approval.decided (approval ``GET /applications/{id}/decided-events``) through — stubs here, both real in
tests/e2e — and handles them with its own consumer, so the broker's later deliveries change nothing."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from shared.events import Envelope
from shared.infra import wait_for
from shared.readthrough import EnvelopeClient
from tests.issuance.issuance_helpers import HALL, Issuance, accepted, decided, item, person, unique


class ProducersStub(httpx.AsyncBaseTransport):
    """acceptance's and approval's read-through routes; ``down`` names the producers refusing connections."""

    def __init__(self) -> None:
        self.accepted: dict[str, dict[str, Any]] = {}  # by tracking code
        self.decided: dict[str, list[dict[str, Any]]] = {}  # by application id
        self.calls: list[str] = []
        self.down: set[str] = set()
        app = FastAPI()

        @app.get("/accepted-events")
        async def accepted_events(tracking_code: str, request: Request) -> Any:
            self.calls.append(f"acceptance:{tracking_code}")
            found = self.accepted.get(tracking_code)
            return [found] if found else JSONResponse({"title": "Not found"}, status_code=404)

        @app.get("/applications/{application_id}/decided-events")
        async def decided_events(application_id: str) -> Any:
            self.calls.append(f"approval:{application_id}")
            return self.decided.get(application_id, [])

        self._up = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host in self.down:
            raise httpx.ConnectError("connection refused", request=request)
        return await self._up.handle_async_request(request)


@pytest.fixture
def producers(iss: Issuance) -> Iterator[ProducersStub]:
    stub = ProducersStub()
    state = iss.client.app.state  # type: ignore[attr-defined]
    before = state.acceptance_client, state.approval_client
    state.acceptance_client = EnvelopeClient(base_url="http://acceptance", timeout=1.0, producer="acceptance",
                                             transport=stub)
    state.approval_client = EnvelopeClient(base_url="http://approval", timeout=1.0, producer="approval",
                                           transport=stub)
    yield stub
    state.acceptance_client, state.approval_client = before


@pytest.fixture(scope="module")
def clerk(infra) -> dict[str, str]:
    return infra.auth("issuance_clerk", halls=[HALL], sub="clerk-zs")


def _case() -> tuple[str, str, Any, Any, Envelope, Envelope]:
    application_id, tracking = unique("APP"), unique("TRK")
    applicant, it = person(), item(unique("IT"), matter="SCJG-001", licence_type="BIZ_LICENCE", on_the_spot=True)
    accepted_env = Envelope.wrap(
        accepted(application_id, [it], applicant=applicant, tracking_code=tracking),
        producer="acceptance", correlation_id=f"flow-{application_id}",
    )
    decided_env = Envelope.wrap(
        decided(application_id, it, applicant=applicant, all_items=[it.item_id]),
        producer="approval", correlation_id=f"flow-{application_id}",
    )
    return application_id, tracking, applicant, it, accepted_env, decided_env


async def test_first_scan_right_after_the_decision(iss: Issuance, clerk, producers: ProducersStub) -> None:
    application_id, tracking, _, it, accepted_env, decided_env = _case()
    producers.accepted[tracking] = accepted_env.model_dump(mode="json")  # neither event reached issuance
    producers.decided[application_id] = [decided_env.model_dump(mode="json")]
    response = await iss.client.get(f"/pickups/{tracking}", params={"hall": HALL}, headers=clerk)
    assert response.status_code == 200, response.text
    view = response.json()
    assert view["status"] == "ready" and view["correlation_id"] == accepted_env.correlation_id
    [result] = view["items"]
    assert result["kind"] == "licence" and result["document_no"]  # the licence number, first try
    assert producers.calls == [f"acceptance:{tracking}", f"approval:{application_id}"]
    # released: a second scan asks nobody; the broker's later deliveries are duplicates
    again = await iss.client.get(f"/pickups/{tracking}", params={"hall": HALL}, headers=clerk)
    assert again.json()["items"] == view["items"] and len(producers.calls) == 2
    await iss.resend(accepted_env, stream="applications")
    await iss.resend(decided_env, stream="approvals")
    marker = await iss.send(decided(unique("APP"), it, applicant=person(), all_items=[it.item_id]),
                            correlation_id="marker")
    runtime = iss.runtime
    from sqlalchemy import select

    inbox = runtime.inbox_table

    async def handled() -> bool:
        async with runtime.sessionmaker() as session:
            return (await session.execute(select(inbox.c.event_id).where(inbox.c.event_id == marker.id))).first() \
                is not None

    await wait_for(handled, timeout=60, message="marker handled")
    assert len(await iss.licences(application_id)) == 1


async def test_pending_and_unknown(iss: Issuance, clerk, producers: ProducersStub) -> None:
    application_id, tracking, _, _, accepted_env, decided_env = _case()
    producers.accepted[tracking] = accepted_env.model_dump(mode="json")
    # not decided yet: pending, and approval is asked again on the next scan
    pending = await iss.client.get(f"/pickups/{tracking}", params={"hall": HALL}, headers=clerk)
    assert pending.status_code == 200 and pending.json()["status"] == "pending"
    # approval down: the scan shows what issuance knows
    producers.down = {"approval"}
    assert (await iss.client.get(f"/pickups/{tracking}", params={"hall": HALL}, headers=clerk)).json()[
        "status"
    ] == "pending"
    producers.down = set()
    producers.decided[application_id] = [decided_env.model_dump(mode="json")]
    ready = await iss.client.get(f"/pickups/{tracking}", params={"hall": HALL}, headers=clerk)
    assert ready.json()["status"] == "ready"
    # a tracking code nobody knows: 404; acceptance down: 503 + Retry-After (issuance cannot tell)
    unknown = unique("TRK")
    assert (await iss.client.get(f"/pickups/{unknown}", params={"hall": HALL}, headers=clerk)).status_code == 404
    producers.down = {"acceptance"}
    down = await iss.client.get(f"/pickups/{unknown}", params={"hall": HALL}, headers=clerk)
    assert down.status_code == 503 and down.headers["retry-after"] == "2"
    assert down.json()["code"] == "dependency_unavailable"
    scanned = await iss.client.post("/pickups/scan", json={"hall": HALL, "qr": f"https://x/progress/{unknown}"},
                                    headers=clerk)
    assert scanned.status_code == 503
