"""Ticketing test helpers: a fresh hall per test module, matters in the read model, staffed windows."""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest_asyncio

from services.ticketing import catalog
from shared.events.catalog import MatterPublished

# (code, category, zone, avg_handling_minutes, daily_share_weight): a slice of the reference catalogue
MATTERS = [
    ("SCJG-001", "ENTERPRISE", "A", 15, 4.0),
    ("SCJG-003", "PERMIT", "A", 20, 3.0),
    ("SWJ-002", "TAX", "A", 10, 6.0),
    ("WGL-002", "PERMIT", "A", 25, 0.2),
    ("ZRZY-001", "LIVELIHOOD", "B", 40, 15.0),
    ("RS-001", "LIVELIHOOD", "B", 8, 12.0),
    ("GA-001", "POLICE", "C", 8, 3.0),
    ("MZ-001", "LIVELIHOOD", "C", 20, 0.3),
]
ALL_DAY = {"opens_at": "00:00:00", "closes_at": "23:59:59", "open_days": "all"}


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def tk(ticketing: httpx.AsyncClient) -> httpx.AsyncClient:
    """The ticketing client with the matter read model filled (as catalog.matter_published would)."""
    from shared import auth

    if hasattr(auth, "RateLimiter"):
        ticketing.app.state.rate_limiter = auth.RateLimiter(1_000_000)
        # the module halls take many numbers from one kiosk; the device budget has its own tests
        ticketing.app.state.kiosk_rate_limiter = auth.RateLimiter(1_000_000)
    for code, category, zone, minutes, weight in MATTERS:
        await remember_matter(ticketing, code, category=category, zone=zone, minutes=minutes, weight=weight)
    return ticketing


async def remember_matter(client: httpx.AsyncClient, code: str, *, name: str | None = None, category: str = "PERMIT",
                          zone: str = "A", minutes: float = 10, weight: float = 1.0) -> None:
    """Put a matter into ticketing's read model, as catalog.matter_published would."""
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.sessionmaker() as session, session.begin():
        await catalog.upsert_matter(session, event=MatterPublished(
            catalog_version=0, code=code, name=name or code, department=code.split("-")[0], category=category,
            zone=zone, applicant_type="natural_person", legal_limit_working_days=5, promised_limit_working_days=3,
            avg_handling_minutes=minutes, daily_share_weight=weight, published_at=datetime.now(UTC)))


@dataclass
class HallKit:
    """A hall of one test module and the tokens to work in it."""

    client: httpx.AsyncClient
    infra: Any
    code: str
    windows: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def admin(self) -> dict[str, str]:
        return self.infra.auth("hall_admin", halls=[self.code])

    @property
    def kiosk(self) -> dict[str, str]:
        """The hall's kiosk device token (channel kiosk)."""
        return self.infra.auth("kiosk", halls=[self.code], sub=f"kiosk:{self.code}-k1")

    def applicant(self, sub: str = "110101199003077777") -> dict[str, str]:
        """A logged-in applicant (channel web)."""
        return self.infra.auth("applicant", sub=sub)

    def clerk(self, window: str) -> dict[str, str]:
        return self.infra.auth("clerk", halls=[self.code], sub=f"clerk-{self.code}-{window}", name="王小明")

    async def window(self, code: str, zone: str, skills: Iterable[str], primary: Iterable[str] = (),
                     sign_in: bool = True) -> None:
        body = {"zone": zone, "name": f"{code}号窗", "skills": list(skills), "primary_skills": list(primary)}
        response = await self.client.put(f"/halls/{self.code}/windows/{code}", json=body, headers=self.admin)
        assert response.status_code == 200, response.text
        if sign_in:
            response = await self.client.post(f"/halls/{self.code}/windows/{code}/sign-in", headers=self.clerk(code),
                                              json={"staff_name": "王小明", "photo_url": "https://example/p.jpg"})
            assert response.status_code == 200, response.text

    async def take(self, matter: str, headers: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
        """A number from the hall's kiosk (or the caller of ``headers``); with its ``rating_secret``."""
        response = await self.client.post(f"/halls/{self.code}/tickets", json={"matter_code": matter, **extra},
                                          headers=headers or self.kiosk)
        assert response.status_code == 201, response.text
        return response.json()

    async def call(self, window: str) -> httpx.Response:
        return await self.client.post(f"/halls/{self.code}/windows/{window}/call-next", headers=self.clerk(window))

    async def act(self, window: str, ticket_id: str, action: str, body: dict[str, Any] | None = None,
                  params: dict[str, str] | None = None) -> httpx.Response:
        return await self.client.post(f"/tickets/{ticket_id}/{action}", headers=self.clerk(window), json=body,
                                      params=params)


async def new_hall(client: httpx.AsyncClient, infra: Any, **settings: Any) -> HallKit:
    """A fresh hall with zones A, B, C, open all day every day unless ``settings`` say otherwise."""
    code = f"T{uuid.uuid4().hex[:8].upper()}"
    kit = HallKit(client=client, infra=infra, code=code)
    body = {"name": "测试大厅", **ALL_DAY, "zones": [{"code": z, "name": f"{z}区"} for z in "ABC"], **settings}
    response = await client.put(f"/halls/{code}", json=body, headers=kit.admin)
    assert response.status_code == 200, response.text
    return kit
