"""Issue 13, findings 5 and 12: rate limits bypassed with a spoofed ``X-Forwarded-For``; request bodies of
any size parsed before a 422.

Forwarded headers are now trusted only from the proxies in ``<SVC>_FORWARDED_ALLOW_IPS`` (none by default;
``make run`` and compose start uvicorn with ``--no-proxy-headers``), and bodies over ``<SVC>_MAX_BODY_BYTES``
are a 413 before they are read (shared/edge.py). Real service apps.
"""

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio

from services.ticketing.config import TicketingSettings
from services.ticketing.main import create_app
from shared.auth import RateLimiter
from shared.testing import running


def _from(app, address: str) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 50000)), base_url="http://t")


async def test_a_spoofed_forwarded_for_is_ignored_by_default(ticketing) -> None:  # type: ignore[no-untyped-def]
    state = ticketing.app.state
    previous, state.rate_limiter = state.rate_limiter, RateLimiter(3)
    try:
        answers = [await ticketing.get("/halls/SPOOF-HALL/queue", headers={"X-Forwarded-For": f"198.51.100.{i}"})
                   for i in range(5)]
    finally:
        state.rate_limiter = previous
    assert [a.status_code for a in answers][3:] == [429, 429], [a.status_code for a in answers]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def behind_proxy(infra) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    """A ticketing replica that trusts one proxy (127.0.0.1), 3 public requests a minute, 64 KB bodies."""
    settings = infra.settings(TicketingSettings, forwarded_allow_ips="127.0.0.1", public_rate_limit_per_minute=3,
                              max_body_bytes=65536, topic_prefix=f"{infra.topic_prefix}edge{uuid.uuid4().hex[:4]}.")
    async with running(create_app(settings)) as client:
        yield client


async def test_behind_a_trusted_proxy_each_client_has_its_own_budget(behind_proxy) -> None:  # type: ignore[no-untyped-def]
    app = behind_proxy.app
    async with _from(app, "127.0.0.1") as proxy, _from(app, "10.9.9.9") as direct:
        first = [await proxy.get("/halls/EDGE/queue", headers={"X-Forwarded-For": "203.0.113.1"}) for _ in range(4)]
        assert [a.status_code for a in first][3] == 429  # one client behind the proxy: its own 3
        other = await proxy.get("/halls/EDGE/queue", headers={"X-Forwarded-For": "203.0.113.2"})
        assert other.status_code != 429  # another client behind the same proxy
        # a client that is not the proxy cannot pose as anyone: it is counted as itself
        spoofed = [await direct.get("/halls/EDGE/queue", headers={"X-Forwarded-For": f"203.0.113.{50 + i}"})
                   for i in range(4)]
        assert [a.status_code for a in spoofed][3] == 429


async def test_a_body_over_the_limit_is_refused_before_it_is_read(behind_proxy, infra) -> None:  # type: ignore[no-untyped-def]
    kiosk = infra.auth("kiosk", halls=["EDGE"], sub="kiosk:edge")
    big = b'{"matter_code": "' + b"A" * 200_000 + b'"}'
    declared = await behind_proxy.post("/halls/EDGE/tickets", content=big, headers=kiosk | {
        "Content-Type": "application/json"})
    assert declared.status_code == 413 and declared.headers["content-type"] == "application/problem+json"
    assert declared.json()["code"] == "body_too_large"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"matter_code": "'
        for _ in range(20):
            yield b"B" * 10_000
        yield b'"}'

    streamed = await behind_proxy.post("/halls/EDGE/tickets", content=chunks(), headers=kiosk | {
        "Content-Type": "application/json"})
    assert streamed.status_code == 413, streamed.text
    small = await behind_proxy.post("/halls/EDGE/tickets", json={"matter_code": "NOPE-1"}, headers=kiosk)
    assert small.status_code not in (413, 500)  # under the limit: the route answers (unknown hall or matter)
