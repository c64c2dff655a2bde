"""Staff login against the seed accounts: tokens every service accepts, failures audited, lock-out."""

import json
import logging
from pathlib import Path

import jwt

DEMO_PASSWORD = "onewindow-demo-2026"


async def test_login_gives_a_scoped_token_every_service_accepts(identity, forms, infra) -> None:
    answer = await identity.post("/auth/login", json={"username": "Clerk.ZS", "password": DEMO_PASSWORD})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["roles"] == ["clerk"] and body["halls"] == ["ZS-CITY"] and body["token_type"] == "Bearer"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert {"iss", "aud", "exp", "iat", "sub", "jti"} <= claims.keys()
    assert claims["exp"] - claims["iat"] == body["expires_in"]
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    me = await identity.get("/auth/me", headers=headers)
    assert me.json() == {
        "sub": "clerk.zs",
        "name": "前台综合受理员(市中心)",
        "staff_no": "ZS0101",
        "unit": "市行政服务中心综合受理窗口",
        "roles": ["clerk"],
        "halls": ["ZS-CITY"],
        "departments": [],
    }
    # forms verifies it against the same JWKS: a clerk is authenticated there but not a catalogue admin
    assert (await forms.post("/catalog/versions", json={}, headers=headers)).status_code == 403


async def test_jwks_and_discovery_describe_the_issuer(identity, infra) -> None:
    jwks = (await identity.get("/.well-known/jwks.json")).json()
    assert [k["kid"] for k in jwks["keys"]] == [infra.signing_key.kid]
    assert all("d" not in k for k in jwks["keys"])  # public halves only
    discovery = (await identity.get("/.well-known/openid-configuration")).json()
    assert discovery["issuer"] == "onewindow-dev-issuer"
    assert discovery["jwks_uri"].endswith("/.well-known/jwks.json")


async def test_wrong_password_is_refused_and_audited_without_the_password(identity, infra, caplog) -> None:
    with caplog.at_level(logging.INFO):
        answer = await identity.post(
            "/auth/login", json={"username": "approver.ga", "password": "guess-1234"}
        )
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "guess-1234" not in caplog.text
    auditor = infra.auth("auditor", sub="auditor-1")
    events = (
        await identity.get("/auth/security-events", params={"action": "login_failed"}, headers=auditor)
    ).json()
    mine = [e for e in events["items"] if e["subject"] == "approver.ga"]
    assert mine and mine[0]["detail"] == {"reason": "wrong_password"} and mine[0]["subject_kind"] == "staff"
    unknown = await identity.post("/auth/login", json={"username": "nobody", "password": "x"})
    assert unknown.status_code == 401 and unknown.json()["title"] == answer.json()["title"]


async def test_repeated_failures_lock_the_account_even_for_the_right_password(identity, infra) -> None:
    for _ in range(5):
        failed = await identity.post("/auth/login", json={"username": "display.zs-a", "password": "wrong"})
        assert failed.status_code == 401
    locked = await identity.post("/auth/login", json={"username": "display.zs-a", "password": DEMO_PASSWORD})
    assert locked.status_code == 429
    assert 1 <= int(locked.headers["Retry-After"]) <= 15 * 60
    other = await identity.post("/auth/login", json={"username": "kiosk.zs-01", "password": DEMO_PASSWORD})
    assert other.status_code == 200  # the lock is per account
    auditor = infra.auth("auditor", sub="auditor-1")
    events = (
        await identity.get("/auth/security-events", params={"action": "login_locked"}, headers=auditor)
    ).json()
    assert any(e["subject"] == "display.zs-a" for e in events["items"])


async def test_security_events_are_for_auditors_only(identity, infra) -> None:
    assert (await identity.get("/auth/security-events")).status_code == 401
    assert (
        await identity.get("/auth/security-events", headers=infra.auth("hall_admin", halls=["ZS-CITY"]))
    ).status_code == 403


async def test_login_request_forbids_extra_fields(identity) -> None:
    answer = await identity.post(
        "/auth/login", json={"username": "clerk.zs", "password": "x", "roles": ["auditor"]}
    )
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "roles"


def test_seed_file_holds_only_hashes() -> None:
    from services.identity.config import IdentitySettings
    from services.identity.staff import load_staff

    path = IdentitySettings().staff_seed_file
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    assert all(DEMO_PASSWORD not in json.dumps(a) for a in raw["accounts"])
    accounts = load_staff(path=path)
    assert {r for a in accounts.values() for r in a.roles} >= {
        "clerk",
        "approver",
        "liaison",
        "issuance_clerk",
        "hall_admin",
        "catalog_admin",
        "auditor",
        "kiosk",
        "display",
    }
