"""Acceptance test set-up: one acceptance app whose forms link can be switched between a contract stub of
forms ``/prefill``, a slow forms, and an unreachable forms URL; the reference catalogue published as
catalog.* events on the real broker; a reader of the ``applications`` topic.
"""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.acceptance.config import AcceptanceSettings
from services.acceptance.main import create_app
from shared.events import Envelope, Event
from shared.events.catalog import BundlePublished, MatterPublished
from shared.events.ticketing import HallPublished
from shared.infra import wait_for
from shared.testing import new_credit_code, new_id_number, running  # noqa: F401 (re-exported to tests)

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "data" / "catalog-reference.json"
UNREACHABLE_FORMS = "http://127.0.0.1:9"  # discard port: connection refused


# ---- identifiers ------------------------------------------------------------------------------

# new_id_number / new_credit_code: re-exported from shared.testing for the acceptance tests


# ---- a forms stub speaking the /prefill contract -------------------------------------------------


class FormsStub:
    """Profiles by applicant id: fields (key, value, verified) and licence-satisfied materials."""

    def __init__(self) -> None:
        self.profiles: dict[str, dict[str, Any]] = {}
        self.calls: list[dict[str, Any]] = []
        self.delay = 0.0
        self.app = FastAPI()

        @self.app.post("/prefill")
        async def prefill(request: Request) -> dict[str, Any]:
            body = await request.json()
            self.calls.append({"body": body, "authorization": request.headers.get("authorization")})
            if self.delay:
                await asyncio.sleep(self.delay)
            profile = self.profiles.get(body["applicant_id"], {})
            return {
                "applicant_id": body["applicant_id"],
                "matter": body.get("matter"),
                "bundle": body.get("bundle"),
                "catalog_version": 1,
                "fields": [
                    {"key": k, "label_zh": k, "label_en": k, "type": "string", "required": True, "value": v,
                     "source": "licence_issued" if verified else "applicant_declared", "verified": verified,
                     "editable": not verified}
                    for k, (v, verified) in profile.get("fields", {}).items()
                ],
                "missing_fields": [],
                "materials": [
                    {"code": code, "name": code, "required": True, "tolerable_missing": False, "satisfied": True,
                     "licence_no": no, "licence_type": code}
                    for code, no in profile.get("licences", {}).items()
                ],
            }


class SwitchableForms(httpx.AsyncBaseTransport):
    """Where acceptance's forms calls go: the stub (``up``), a real forms app (``real``), or the real
    network to an unreachable URL (``down``)."""

    def __init__(self, stub: FormsStub) -> None:
        self.stub = stub
        self.mode = "up"
        self._up = httpx.ASGITransport(app=stub.app)
        self._network = httpx.AsyncHTTPTransport()

    def use_real(self, app: FastAPI) -> None:
        """Route calls to a running forms app, in-process."""
        self._real = httpx.ASGITransport(app=app)
        self.mode = "real"

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.mode == "up":
            return await self._up.handle_async_request(request)
        if self.mode == "real":
            return await self._real.handle_async_request(request)
        return await self._network.handle_async_request(request)  # forms_url is unreachable


# ---- a ticketing stub speaking GET /tickets/{id}/call ---------------------------------------------


class TicketingStub(httpx.AsyncBaseTransport):
    """Called tickets by id (``calls`` records the lookups); ``mode`` down = connection refused, error = 500."""

    def __init__(self) -> None:
        self.tickets: dict[str, dict[str, Any]] = {}
        self.calls: list[dict[str, Any]] = []
        self.mode = "up"
        self.app = FastAPI()
        self._up = httpx.ASGITransport(app=self.app)

        @self.app.get("/tickets/{ticket_id}/call")
        async def call(ticket_id: str, request: Request) -> Any:
            self.calls.append({"ticket_id": ticket_id, "authorization": request.headers.get("authorization")})
            if self.mode == "error":
                return JSONResponse({"title": "Server error"}, status_code=500)
            if ticket_id not in self.tickets:
                return JSONResponse({"title": "Not found"}, status_code=404)
            return self.tickets[ticket_id]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.mode == "down":
            raise httpx.ConnectError("connection refused", request=request)
        return await self._up.handle_async_request(request)


@pytest.fixture(scope="session")
def ticketing_stub() -> TicketingStub:
    return TicketingStub()


# ---- the running app ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def forms_stub() -> FormsStub:
    return FormsStub()


@pytest.fixture(scope="session")
def forms_link(forms_stub: FormsStub) -> SwitchableForms:
    return SwitchableForms(forms_stub)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def acc(
    infra: Any, forms_link: SwitchableForms, ticketing_stub: TicketingStub
) -> AsyncIterator[httpx.AsyncClient]:
    """The acceptance app under test (forms reached through ``forms_link``, ticketing through its stub)."""
    settings = infra.settings(AcceptanceSettings, forms_url=UNREACHABLE_FORMS, forms_timeout_seconds=1.0,
                              forms_failure_threshold=50)  # the breaker has its own unit test
    app = create_app(settings, forms_transport=forms_link, ticketing_transport=ticketing_stub)
    async with running(app) as client:
        yield client


async def publish(client: httpx.AsyncClient, event: Event, *, correlation_id: str | None = None,
                  producer: str = "test") -> Envelope:
    """Put an event on the real broker as its producing service would."""
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    envelope = Envelope.wrap(event, producer=producer, correlation_id=correlation_id or event.aggregate_key())
    await runtime.bus.publish(envelope, stream=event.STREAM)
    return envelope


@pytest.fixture(scope="session")
def reference() -> dict[str, Any]:
    return json.loads(REFERENCE.read_text(encoding="utf-8"))


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def catalog(acc: httpx.AsyncClient, reference: dict[str, Any]) -> dict[str, Any]:
    """The reference catalogue as catalog.* events (version 0: a real forms publication supersedes it)."""
    now = datetime.now(UTC)
    materials = {m["code"]: m for m in reference["materials"]}
    for matter in reference["matters"]:
        await publish(acc, MatterPublished(
            catalog_version=0, code=matter["code"], name=matter["name"], department=matter["department"],
            category=matter["category"], zone="A", applicant_type=matter["applicant_type"],
            materials=[{"code": m["code"], "name": materials[m["code"]]["name"], "required": m["required"],
                        "tolerable_missing": m["tolerable_missing"],
                        "satisfied_by_licence_type": materials[m["code"]]["satisfied_by_licence_type"]}
                       for m in matter["materials"]],
            fields=matter["fields"], legal_limit_working_days=matter["legal_limit_working_days"],
            promised_limit_working_days=matter["promised_limit_working_days"], on_the_spot=matter["on_the_spot"],
            notify_commit_approval=matter["notify_commit_approval"],
            result_licence_type=matter["result_licence_type"],
            steps=["decision"] if matter["on_the_spot"] else ["review", "decision"], published_at=now,
        ), producer="forms")
    for bundle in reference["bundles"]:
        await publish(acc, BundlePublished(catalog_version=0, code=bundle["code"], name=bundle["name"],
                                           lead_department=bundle["lead_department"], matters=bundle["matters"],
                                           published_at=now), producer="forms")
    for hall in reference["halls"]:  # the reference halls, open, as ticketing publishes them (collect halls)
        await publish(acc, HallPublished(code=hall["code"], name=hall["name"], status="open", opens_at="08:30",
                                         closes_at="17:30", open_days="workdays", hall_version=0, updated_at=now),
                      producer="ticketing")
    from sqlalchemy import func, select

    from services.acceptance.models import Bundle, Hall, Matter

    runtime = acc.app.state.runtime  # type: ignore[attr-defined]

    async def loaded() -> bool:
        async with runtime.sessionmaker() as session:
            matters = (await session.execute(select(func.count()).select_from(Matter))).scalar_one()
            bundles = (await session.execute(select(func.count()).select_from(Bundle))).scalar_one()
            halls = (await session.execute(
                select(func.count()).select_from(Hall).where(Hall.code.in_([h["code"] for h in reference["halls"]]))
            )).scalar_one()
        return (matters >= len(reference["matters"]) and bundles >= len(reference["bundles"])
                and halls == len(reference["halls"]))

    await wait_for(loaded, timeout=60, message="catalogue read model")
    return reference


# ---- reading what acceptance published -----------------------------------------------------------


class EventLog:
    """Every envelope on one topic, read without a consumer group (no join wait)."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self, bootstrap: str, topic: str) -> None:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                    auto_offset_reset="earliest", enable_auto_commit=False,
                                    metadata_max_age_ms=2000)
        await consumer.start()

        async def run() -> None:
            try:
                while True:
                    batch = await consumer.getmany(timeout_ms=200)
                    for messages in batch.values():
                        self.envelopes += [Envelope.model_validate_json(m.value) for m in messages]
            finally:
                await consumer.stop()

        self._task = asyncio.create_task(run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def wait(self, predicate: Callable[[Envelope], bool], *, timeout: float = 30) -> Envelope:
        """The first envelope matching ``predicate`` (waits for it)."""
        return await wait_for(lambda: next((e for e in self.envelopes if predicate(e)), None), timeout=timeout,
                              message="event on the broker")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def published(acc: httpx.AsyncClient) -> AsyncIterator[EventLog]:
    """What acceptance put on the ``applications`` topic during the run."""
    runtime = acc.app.state.runtime  # type: ignore[attr-defined]
    topic = runtime.settings.topic("applications")
    await runtime.bus.ensure_topics([topic])
    log = EventLog()
    await log.start(runtime.settings.kafka_bootstrap, topic)
    yield log
    await log.stop()


# ---- drafts through the API (shared by the test modules) ------------------------------------------

HALL = "TX-CITY"
OTHER_HALL = "DL-TOWN"


def today() -> date:
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


@pytest.fixture(scope="module")
def clerk(infra: Any) -> dict[str, str]:
    return infra.auth("clerk", halls=[HALL], sub="clerk-tx-1")


def person(id_number: str | None = None) -> dict[str, Any]:
    return {"type": "natural_person", "id_number": id_number or new_id_number(), "name": "张三丰",
            "mobile": "13812345678"}


def company(code: str | None = None) -> dict[str, Any]:
    return {"type": "legal_person", "id_number": code or new_credit_code(), "name": "桐乡味道餐饮有限公司"}


def company_values(uscc: str) -> dict[str, Any]:
    """Every field the ONE-ENTERPRISE / restaurant matters ask for, valid."""
    return {
        "entity.name": "桐乡味道餐饮有限公司", "entity.type": "有限责任公司", "entity.uscc": uscc,
        "entity.legal_rep_name": "李四", "entity.legal_rep_id_number": new_id_number(),
        "entity.registered_address": "桐乡市梧桐街道庆丰路1号", "entity.registered_capital": "100",
        "entity.business_scope": "餐饮服务", "entity.contact_mobile": "13900001111",
        "premises.address": "桐乡市梧桐街道庆丰路1号", "premises.area_sqm": "120",
        "food.business_items": ["热食类食品制售"], "food.safety_manager": "王五",
        "seal.count": 3, "seal.kinds": ["公章", "财务专用章"], "tax.accountant_name": "赵六",
        "tax.accountant_mobile": "13700002222",
    }


async def open_app(acc: Any, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    body.setdefault("hall", HALL)
    response = await acc.post("/applications", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()
