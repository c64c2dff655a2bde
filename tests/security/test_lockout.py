"""Issue 13, finding 11: staff lock-out as a denial of service.

Five wrong passwords from any addresses locked any staff account for 15 minutes. Now the lock-out is per
account and address, backs off (each failure after a lock doubles it), is lifted by the account's
successful login from that address or by a hall admin's unlock (real identity service and database).
"""


import httpx
import pytest_asyncio

DEMO_PASSWORD = "onewindow-demo-2026"
ACCOUNT = "issuance.zs"  # hall ZS-CITY; no other test fails its password


@pytest_asyncio.fixture(loop_scope="session")
async def from_address(identity):  # type: ignore[no-untyped-def]
    """Clients of the identity app that connect from given addresses."""
    clients: list[httpx.AsyncClient] = []

    def make(address: str) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=identity.app, client=(address, 40000)),
                                   base_url="http://identity")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def _login(client: httpx.AsyncClient, password: str) -> httpx.Response:
    return await client.post("/auth/login", json={"username": ACCOUNT, "password": password})


async def test_an_attacker_locks_out_only_their_own_address_and_backs_off(identity, infra, from_address,  # type: ignore[no-untyped-def]
                                                                           monkeypatch) -> None:
    monkeypatch.setattr(identity.app.state.runtime.settings, "login_lockout_seconds", 60)
    attacker, clerk = from_address("203.0.113.7"), from_address("10.20.0.15")
    for _ in range(5):
        assert (await _login(attacker, "wrong")).status_code == 401
    locked = await _login(attacker, DEMO_PASSWORD)
    assert locked.status_code == 429 and 50 <= int(locked.headers["Retry-After"]) <= 60, locked.text
    # the real user, at the hall's address, is not locked out by it
    assert (await _login(clerk, DEMO_PASSWORD)).status_code == 200

    # back-off: once the lock has passed, one more failure locks for twice as long
    monkeypatch.setattr(identity.app.state.runtime.settings, "login_lockout_seconds", 1)
    import asyncio

    await asyncio.sleep(1.2)
    assert (await _login(attacker, "wrong")).status_code == 401  # the lock (1 s) is over: one more try
    again = await _login(attacker, DEMO_PASSWORD)
    assert again.status_code == 429 and int(again.headers["Retry-After"]) == 2, again.text

    # a hall admin of another hall may not lift it; the account's hall admin may
    elsewhere = infra.auth("hall_admin", halls=["DL-TOWN"], sub="sec-admin-dl")
    assert (await identity.post(f"/auth/staff/{ACCOUNT}/unlock", headers=elsewhere)).status_code == 403
    assert (await identity.post("/auth/staff/nobody.here/unlock", headers=elsewhere)).status_code == 404
    clerk_token = infra.auth("issuance_clerk", halls=["ZS-CITY"])
    assert (await identity.post(f"/auth/staff/{ACCOUNT}/unlock", headers=clerk_token)).status_code == 403
    admin = infra.auth("hall_admin", halls=["ZS-CITY"], sub="sec-admin-zs")
    unlocked = await identity.post(f"/auth/staff/{ACCOUNT}/unlock", headers=admin)
    assert unlocked.status_code == 200 and unlocked.json() == {"username": ACCOUNT, "unlocked_by": "sec-admin-zs"}
    assert (await _login(attacker, DEMO_PASSWORD)).status_code == 200  # failures before the unlock do not count

    auditor = infra.auth("auditor", sub="sec-auditor")
    events = (await identity.get("/auth/security-events", params={"action": "login_unlocked"},
                                 headers=auditor)).json()["items"]
    assert any(e["subject"] == ACCOUNT and e["detail"].get("by") == "sec-admin-zs" for e in events)


async def test_a_successful_login_from_an_address_resets_its_count(identity, from_address) -> None:  # type: ignore[no-untyped-def]
    desk = from_address("10.20.0.99")
    for _ in range(4):
        assert (await _login(desk, "typo")).status_code == 401
    assert (await _login(desk, DEMO_PASSWORD)).status_code == 200
    for _ in range(4):  # four more after the success: still not five in a row
        assert (await _login(desk, "typo")).status_code == 401
    assert (await _login(desk, DEMO_PASSWORD)).status_code == 200
