"""The public-route rate limiter (shared.auth.RateLimiter, on the ``limits`` library): in memory, or in a
Redis the replicas share so that N replicas give a client one budget, not N."""

import os
import time
import urllib.parse
import uuid

import httpx
import pytest
from fastapi import FastAPI
from structlog.testing import capture_logs

from shared.auth import RateLimiter, TokenBuckets, install_security, public
from shared.infra import free_port, port_open
from shared.problems import install_problem_handlers

# A local Redis (CI runs on a machine that has one); the shared-store tests skip without it.
REDIS_URL = os.environ.get("ONEWINDOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_reachable() -> bool:
    parts = urllib.parse.urlsplit(REDIS_URL)
    return port_open(parts.port or 6379, parts.hostname or "127.0.0.1")


needs_redis = pytest.mark.skipif(not _redis_reachable(), reason=f"no Redis at {REDIS_URL}")


def _app(service: str, *, per_minute: int, storage_uri: str) -> FastAPI:
    app = FastAPI()
    install_security(app, service=service, per_minute=per_minute, storage_uri=storage_uri)
    install_problem_handlers(app)

    @app.get("/kiosk/tickets", dependencies=[public()])
    async def take_ticket() -> dict[str, str]:
        return {"ticket": "A001"}

    @app.get("/healthz", dependencies=[public(rate_limited=False)])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _client(app: FastAPI, ip: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(ip, 4242)), base_url="http://rl")


async def test_memory_limit_per_client_and_route() -> None:
    limiter = RateLimiter(60)
    key = ("10.0.0.1", "POST /x")
    assert [await limiter.take(key) for _ in range(60)] == [0.0] * 60
    wait = await limiter.take(key)
    assert 1 <= wait <= 60  # seconds until the moving window lets one more through
    assert await limiter.take(("10.0.0.2", "POST /x")) == 0  # other clients have their own budget
    assert await limiter.take(("10.0.0.1", "GET /y")) == 0  # and so has another route
    assert not limiter.shared


def test_token_bucket_refills_continuously() -> None:
    buckets = TokenBuckets(60)  # one a second, bursts of 60
    key = ("10.0.0.1", "POST /x")
    assert all(buckets.take(key, now=100.0) == 0 for _ in range(60))
    wait = buckets.take(key, now=100.0)
    assert wait == pytest.approx(1.0)
    assert buckets.take(key, now=101.01) == 0  # refilled one token
    assert buckets.take(("10.0.0.2", "POST /x"), now=101.01) == 0  # other clients have their own bucket


def test_buckets_are_bounded() -> None:
    buckets = TokenBuckets(60, max_keys=100)
    for i in range(1_000):
        buckets.take((f"10.0.{i // 256}.{i % 256}", "GET /"), now=float(i))
    assert len(buckets._buckets) <= 101


def test_storage_uri_forms() -> None:
    assert RateLimiter(5).storage_uri == "async+memory://"
    assert RateLimiter(5, storage_uri="async+memory://").storage_uri == "async+memory://"
    redis = RateLimiter(5, storage_uri="redis://:secret@127.0.0.1:6379/2")
    assert redis.storage_uri == "async+redis://:secret@127.0.0.1:6379/2" and redis.shared
    with pytest.raises(Exception, match="unknown storage scheme"):
        RateLimiter(5, storage_uri="nosuch://x")


async def test_memory_store_replicas_limit_on_their_own() -> None:
    service = f"rl-{uuid.uuid4().hex[:8]}"
    a, b = (_app(service, per_minute=2, storage_uri="memory://") for _ in range(2))
    async with _client(a, "203.0.113.5") as ca, _client(b, "203.0.113.5") as cb:
        assert [(await ca.get("/kiosk/tickets")).status_code for _ in range(3)] == [200, 200, 429]
        assert (await cb.get("/kiosk/tickets")).status_code == 200  # replica b has its own counts


@needs_redis
@pytest.mark.service  # a real Redis server, though not the `infra` fixture
async def test_replicas_sharing_redis_share_one_budget() -> None:
    service = f"rl-{uuid.uuid4().hex[:8]}"
    a, b = (_app(service, per_minute=3, storage_uri=REDIS_URL) for _ in range(2))
    other_service = _app(f"{service}-other", per_minute=3, storage_uri=REDIS_URL)
    try:
        async with _client(a, "203.0.113.9") as ca, _client(b, "203.0.113.9") as cb:
            with capture_logs() as logs:
                answers = [await ca.get("/kiosk/tickets"), await cb.get("/kiosk/tickets"),
                           await ca.get("/kiosk/tickets"), await cb.get("/kiosk/tickets"),
                           await ca.get("/kiosk/tickets")]
            assert [r.status_code for r in answers] == [200, 200, 200, 429, 429]
            limited = answers[3]
            assert limited.headers["content-type"].startswith("application/problem+json")
            assert limited.json()["status"] == 429
            assert 1 <= int(limited.headers["Retry-After"]) <= 60
            audits = [e for e in logs if e.get("event") == "security_audit"]
            assert [(e["action"], e["status"], e["route"]) for e in audits] == [
                ("rate_limited", 429, "/kiosk/tickets")] * 2
            assert audits[0]["client_ip"] == "203.0.113.9"
            assert (await cb.get("/healthz")).status_code == 200  # operations endpoints are never limited
        async with _client(b, "203.0.113.10") as other_client:  # another client has its own budget
            assert (await other_client.get("/kiosk/tickets")).status_code == 200
        async with _client(other_service, "203.0.113.9") as co:  # so has another service on the same store
            assert (await co.get("/kiosk/tickets")).status_code == 200
        assert a.state.rate_limiter.store_error is None
    finally:
        for app in (a, b, other_service):
            await app.state.rate_limiter.aclose()


async def test_unreachable_store_falls_back_to_memory_without_stalling() -> None:
    limiter = RateLimiter(2, storage_uri=f"redis://127.0.0.1:{free_port()}/0", retry_store_seconds=60)
    key = ("198.51.100.1", "GET /x")
    started = time.monotonic()
    with capture_logs() as logs:
        waits = [await limiter.take(key) for _ in range(3)]
    assert time.monotonic() - started < 2  # one refused connection, then memory: no per-request retries
    assert waits[:2] == [0.0, 0.0] and waits[2] >= 1  # still limited, by this replica alone
    assert limiter.store_error is not None
    assert [e["event"] for e in logs if e.get("log_level") == "warning"] == [
        "rate limit store unreachable; limiting in this replica's memory meanwhile"]  # said once
    await limiter.aclose()
