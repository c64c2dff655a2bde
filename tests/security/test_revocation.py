"""Issue 13, finding 12: no way to revoke an 8-hour staff token.

A hall admin voids every token of a staff account (``POST /auth/staff/{username}/revoke-tokens``), anyone
logs out (``POST /auth/logout``); identity serves the revocation list (subjects hashed) and every service
polls it, refusing those tokens within its poll interval (real identity and ticketing apps).
"""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio

from shared.auth import RevocationList, subject_hash
from shared.infra import wait_for

DEMO_PASSWORD = "onewindow-demo-2026"


@pytest_asyncio.fixture(loop_scope="session")
async def polling(identity, ticketing) -> AsyncIterator[None]:  # type: ignore[no-untyped-def]
    """Ticketing polls this identity's revocation list every 0.1 s (make run: its URL, every 30 s)."""
    authenticator = ticketing.app.state.authenticator
    previous = authenticator.revocations
    authenticator.revocations = RevocationList(url="http://identity/auth/revocations", poll_seconds=0.1,
                                               transport=httpx.ASGITransport(app=identity.app))
    yield
    authenticator.revocations = previous


async def _token(identity: httpx.AsyncClient, username: str) -> dict[str, str]:
    answer = await identity.post("/auth/login", json={"username": username, "password": DEMO_PASSWORD})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def _refused(ticketing: httpx.AsyncClient, token: dict[str, str]) -> bool:
    answer = await ticketing.get("/halls/ZS-CITY/windows", headers=token)
    return answer.status_code == 401 and "revoked" in answer.text


async def test_an_admin_revokes_a_staff_account_s_tokens_everywhere(identity, ticketing, infra, polling) -> None:  # type: ignore[no-untyped-def]
    before = await _token(identity, "clerk.dl")
    assert (await ticketing.get("/halls/DL-TOWN/windows", headers=before)).status_code != 401
    other_hall = infra.auth("hall_admin", halls=["ZS-CITY"], sub="sec-rev-admin-zs")
    assert (await identity.post("/auth/staff/clerk.dl/revoke-tokens", headers=other_hall)).status_code == 403
    admin = infra.auth("hall_admin", halls=["DL-TOWN"], sub="sec-rev-admin-dl")
    revoked = await identity.post("/auth/staff/clerk.dl/revoke-tokens", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["subject"] == "clerk.dl", revoked.text

    async def refused() -> bool:
        answer = await ticketing.get("/halls/DL-TOWN/windows", headers=before)
        return answer.status_code == 401 and "revoked" in answer.text

    await wait_for(refused, timeout=10, interval=0.1, message="the revoked token refused at ticketing")
    listed = (await identity.get("/auth/revocations")).json()["subjects"]
    assert subject_hash("clerk.dl") in listed and "clerk.dl" not in str(listed)  # hashed, not the username
    await asyncio.sleep(1.1)  # a token issued after the revocation (iat is in whole seconds)
    after = await _token(identity, "clerk.dl")
    assert (await ticketing.get("/halls/DL-TOWN/windows", headers=after)).status_code != 401


async def test_logging_out_voids_the_caller_s_tokens(identity, ticketing, polling) -> None:  # type: ignore[no-untyped-def]
    token = await _token(identity, "halladmin.zs")
    assert (await ticketing.get("/halls/ZS-CITY/windows", headers=token)).status_code != 401
    out = await identity.post("/auth/logout", headers=token)
    assert out.status_code == 200 and out.json()["subject"] == "halladmin.zs", out.text
    await wait_for(lambda: _refused(ticketing, token), timeout=10, interval=0.1, message="logged-out token refused")


async def test_when_identity_cannot_answer_the_last_list_stays_in_force() -> None:
    answers = iter([httpx.Response(200, json={"subjects": {subject_hash("a"): 100}}),
                    httpx.Response(503), httpx.Response(503)])
    transport = httpx.MockTransport(lambda request: next(answers))
    revocations = RevocationList(url="http://identity/auth/revocations", poll_seconds=0.0, transport=transport)
    assert await revocations.revoked("a", 100) and not await revocations.revoked("a", 101)
    assert not await revocations.revoked("b", 1)
    await asyncio.sleep(0.01)
    await revocations.revoked("a", 100)  # starts a refresh that fails
    await asyncio.sleep(0.05)
    assert await revocations.revoked("a", 50) and revocations.last_error == "HTTPStatusError"
