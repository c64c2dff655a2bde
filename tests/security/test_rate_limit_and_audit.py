"""Public endpoints are rate limited per client and route (429 + Retry-After); refusals are audited.

The limiter itself (memory and shared Redis store) is tested in tests/shared/test_auth_rate_limit.py."""

import httpx
from structlog.testing import capture_logs

from shared.auth import RateLimiter
from shared.validators import id_number_check_digit


def _client(app, ip: str) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(ip, 4242)), base_url="http://rl")


async def test_public_endpoint_answers_429_with_retry_after(identity) -> None:
    app = identity.app
    saved = app.state.rate_limiter
    app.state.rate_limiter = RateLimiter(3)
    try:
        body = {"username": "nobody-rl", "password": "x"}
        async with _client(app, "198.51.100.7") as client:
            answers = [await client.post("/auth/login", json=body) for _ in range(4)]
            assert [a.status_code for a in answers] == [401, 401, 401, 429]
            limited = answers[-1]
            assert limited.headers["content-type"].startswith("application/problem+json")
            assert limited.json()["status"] == 429
            assert 1 <= int(limited.headers["Retry-After"]) <= 60
            # another public route has its own bucket; operations endpoints are never limited
            assert (await client.get("/.well-known/jwks.json")).status_code == 200
            assert [(await client.get("/healthz")).status_code for _ in range(10)] == [200] * 10
        async with _client(app, "198.51.100.8") as other:  # another client is not affected
            assert (await other.post("/auth/login", json=body)).status_code == 401
    finally:
        app.state.rate_limiter = saved


async def test_refusals_are_audited_with_masked_subjects(identity, infra) -> None:
    first17 = "44190019900307123"
    applicant = first17 + id_number_check_digit(first17)
    with capture_logs() as logs:
        await identity.get("/auth/security-events", headers=infra.auth("applicant", sub=applicant))
        await identity.get("/auth/security-events")
    audits = [e for e in logs if e.get("event") == "security_audit"]
    denied = [e for e in audits if e["action"] == "access_denied"]
    assert [e["status"] for e in denied] == [403, 401]
    assert denied[0]["route"] == "/auth/security-events" and denied[0]["reason"] == "missing_role"
    assert denied[0]["sub"] == applicant[:6] + "********" + applicant[-4:]
    assert applicant not in repr(audits)
    assert denied[1]["reason"] == "no_token" and denied[1]["sub"] is None


async def test_logins_are_audited_in_the_log_and_the_table(identity, infra) -> None:
    with capture_logs() as logs:
        await identity.post(
            "/auth/login", json={"username": "liaison.scjg", "password": "onewindow-demo-2026"}
        )
    assert any(e.get("event") == "security_audit" and e["action"] == "login_succeeded" for e in logs)
    page = (
        await identity.get(
            "/auth/security-events",
            params={"action": "login_succeeded", "limit": 50},
            headers=infra.auth("auditor"),
        )
    ).json()
    row = next(e for e in page["items"] if e["subject"] == "liaison.scjg")
    assert row["detail"]["roles"] == ["liaison"] and row["client_ip"] == "127.0.0.1"
