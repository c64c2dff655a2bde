"""Forms fixtures: the published reference catalogue, events of other producers via the real broker."""

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import jwt
import pytest
import pytest_asyncio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.forms.models import backbone
from services.forms.reading_basis import BasisClient
from shared.events import Event
from shared.outbox import Outbox


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def catalog_version(forms, infra, reference_catalog) -> int:
    """The reference catalogue, published once for the run; tests pin this version."""
    admin = infra.auth("catalog_admin")
    created = await forms.post("/catalog/versions", json=reference_catalog, headers=admin)
    assert created.status_code == 201, created.text
    version = created.json()["version"]
    published = await forms.post(f"/catalog/versions/{version}/publish", headers=admin)
    assert published.status_code == 200, published.text
    return version


@pytest.fixture(scope="session")
def emit(forms, infra) -> Callable[..., Awaitable[None]]:
    """Send an event of another producer through the outbox, the relay and the real broker."""

    async def _emit(event: Event, *, producer: str) -> None:
        runtime = forms.app.state.runtime
        outbox = Outbox(backbone.outbox_table, producer=producer, topic_prefix=infra.topic_prefix)
        async with runtime.sessionmaker() as session, session.begin():
            await outbox.add(session, event)
        runtime.relay.wake()

    return _emit


class AcceptanceStub(httpx.AsyncBaseTransport):
    """acceptance's ``GET /applications/{id}/reading-basis`` over applications the tests register:
    a clerk of the application's hall gets whether the applicant matches; anyone else 403; unknown 404.
    (The real acceptance answers it in tests/security/test_clerk_reads.py.)"""

    def __init__(self) -> None:
        self.applications: dict[str, tuple[str, str]] = {}  # id -> (hall, applicant id)
        self.calls = 0
        self.app = FastAPI()
        self._asgi = httpx.ASGITransport(app=self.app)

        @self.app.get("/applications/{application_id}/reading-basis")
        async def basis(application_id: str, applicant_id: str, request: Request) -> Any:
            self.calls += 1
            token = (request.headers.get("authorization") or "").removeprefix("Bearer ")
            claims = jwt.decode(token, options={"verify_signature": False})
            if application_id not in self.applications:
                return JSONResponse({"title": "Not found"}, status_code=404)
            hall, applicant = self.applications[application_id]
            if "clerk" not in claims.get("roles", []) or not ({hall, "*"} & set(claims.get("halls", []))):
                return JSONResponse({"title": "Forbidden"}, status_code=403)
            return {"application_id": application_id, "hall": hall, "status": "draft",
                    "applicant_matches": applicant == applicant_id}

    def open(self, applicant_id: str, *, hall: str = "ZS-CITY") -> str:
        """Register a draft of ``hall`` for ``applicant_id``; its id (the clerk's ``application_ref``)."""
        application_id = f"APP-{uuid.uuid4().hex[:12]}"
        self.applications[application_id] = (hall, applicant_id)
        return application_id

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._asgi.handle_async_request(request)


@pytest_asyncio.fixture(scope="package", loop_scope="session", autouse=True)
async def acceptance_stub(forms) -> AsyncIterator[AcceptanceStub]:  # type: ignore[no-untyped-def]
    """Forms' reading-basis checks go to the stub while the forms tests run (restored afterwards)."""
    stub = AcceptanceStub()
    state = forms.app.state
    previous = state.basis_client
    state.basis_client = BasisClient(base_url="http://acceptance", timeout=2.0, cache_seconds=60, transport=stub)
    yield stub
    await state.basis_client.aclose()
    state.basis_client = previous
