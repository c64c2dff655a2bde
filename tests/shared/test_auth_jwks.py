"""The JWKS cache of shared.auth.KeySet: async fetching, key rotation, coalesced and rate-limited
refreshes, stale keys while the issuer is down, and no stalled request while it is slow."""

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, HTTPException
from structlog.testing import capture_logs

from shared.auth import (
    Authenticator,
    KeySet,
    Principal,
    SigningKey,
    generate_signing_key,
    mint_token,
    require,
)
from shared.infra import wait_for
from shared.problems import install_problem_handlers

JWKS_URL = "https://sso.example.test/realms/onewindow/certs"


class Issuer:
    """A JWKS endpoint whose keys, speed and health a test controls; counts the requests it gets."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        self.requests = 0
        self.delay = 0.0
        self.down = False
        self.extra: list[dict[str, Any]] = []

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json={"keys": [k.jwks()["keys"][0] for k in self.keys] + self.extra})

    def keyset(self, **kwargs: Any) -> KeySet:
        return KeySet(jwks_url=JWKS_URL, transport=httpx.MockTransport(self.handle), **kwargs)


def token(key: SigningKey, *, kid: str | None = None, sub: str = "clerk-1") -> str:
    if kid is None:
        return mint_token(key, sub=sub, roles=["clerk"], halls=["ZS-CITY"])
    return mint_token(SigningKey(kid=kid, private_pem=key.private_pem), sub=sub, roles=["clerk"])


def authenticator(keys: KeySet) -> Authenticator:
    return Authenticator(keys=keys, issuer="onewindow-dev-issuer", audience="onewindow")


async def timed(call: Callable[[], Awaitable[Any]]) -> tuple[Any, float]:
    started = time.monotonic()
    result = await call()
    return result, time.monotonic() - started


async def test_key_rotation_fetches_the_new_kid_once() -> None:
    old, new = generate_signing_key(), generate_signing_key()
    issuer = Issuer(old)
    auth = authenticator(issuer.keyset())
    assert (await auth.verify(token(old))).sub == "clerk-1"
    assert (await auth.verify(token(old, sub="clerk-2"))).sub == "clerk-2"
    assert issuer.requests == 1  # cached

    issuer.keys = [old, new]  # the issuer rotates: a token signed with the new key arrives
    principals = await asyncio.gather(*(auth.verify(token(new, sub=f"c{i}")) for i in range(20)))
    assert [p.sub for p in principals] == [f"c{i}" for i in range(20)]
    assert issuer.requests == 2  # twenty concurrent unknown-kid requests, one refresh
    await auth.verify(token(new))
    await auth.verify(token(old))
    assert issuer.requests == 2


async def test_a_flood_of_unknown_kids_does_not_hammer_the_issuer() -> None:
    key = generate_signing_key()
    issuer = Issuer(key)
    auth = authenticator(issuer.keyset(min_refresh_seconds=60))
    await auth.verify(token(key))
    forged = [token(key, kid=f"made-up-{i}") for i in range(200)]
    results = await asyncio.gather(*(auth.verify(t) for t in forged), return_exceptions=True)
    assert all(isinstance(r, HTTPException) and r.status_code == 401 for r in results)
    assert issuer.requests == 2  # one refresh for the first made-up kid; the rest are refused from the cache
    await auth.verify(token(key))  # the real key still works


async def test_unknown_kid_refreshes_again_after_the_minimum_interval() -> None:
    key, rotated = generate_signing_key(), generate_signing_key()
    issuer = Issuer(key)
    keys = issuer.keyset(min_refresh_seconds=0.2)
    auth = authenticator(keys)
    await auth.verify(token(key))
    issuer.keys = [rotated]
    await asyncio.sleep(0.25)
    await auth.verify(token(rotated))
    assert issuer.requests == 2
    with pytest.raises(HTTPException):  # the old key is gone from the issuer, and so from the cache
        await auth.verify(token(key))


async def test_a_slow_issuer_does_not_stall_requests_with_a_cached_key() -> None:
    key, unknown = generate_signing_key(), generate_signing_key()
    issuer = Issuer(key)
    keys = issuer.keyset(cache_seconds=0.05, min_refresh_seconds=0, timeout_seconds=3)
    auth = authenticator(keys)
    await auth.verify(token(key))
    issuer.delay = 30  # the issuer hangs; the cache has gone stale
    await asyncio.sleep(0.1)
    principals, elapsed = await timed(lambda: asyncio.gather(*(auth.verify(token(key)) for _ in range(50))))
    assert len(principals) == 50 and elapsed < 1.5  # with the cached key, not after the 3 s fetch timeout
    assert issuer.requests == 2  # one background refresh for all of them

    # only a token with a kid the cache does not know waits, and at most the timeout
    result, waited = await timed(lambda: asyncio.gather(auth.verify(token(unknown)), return_exceptions=True))
    assert isinstance(result[0], HTTPException) and result[0].status_code == 401
    assert waited < 6  # one fetch timeout (3 s), not the issuer's 30 s
    await wait_for(lambda: keys.last_error, timeout=10, message="the hung refresh times out")
    assert keys.last_error is not None and "TimeoutError" in keys.last_error
    assert (await auth.verify(token(key))).sub == "clerk-1"


async def test_requests_through_an_app_are_not_stalled_by_a_hanging_issuer() -> None:
    key = generate_signing_key()
    issuer = Issuer(key)
    app = FastAPI()
    install_problem_handlers(app)
    app.state.authenticator = authenticator(issuer.keyset(cache_seconds=0.05, min_refresh_seconds=0,
                                                          timeout_seconds=5))

    @app.get("/me")
    async def me(principal: Annotated[Principal, require("clerk")]) -> dict[str, str]:
        return {"sub": principal.sub}

    headers = {"Authorization": f"Bearer {token(key)}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.get("/me", headers=headers)).json() == {"sub": "clerk-1"}
        issuer.delay = 30
        await asyncio.sleep(0.1)
        answers, elapsed = await timed(
            lambda: asyncio.gather(*(client.get("/me", headers=headers) for _ in range(20))))
    assert [a.status_code for a in answers] == [200] * 20 and elapsed < 2.5  # not after the 5 s fetch timeout


async def test_an_unreachable_issuer_leaves_the_cached_keys_in_use() -> None:
    key = generate_signing_key()
    issuer = Issuer(key)
    keys = issuer.keyset(cache_seconds=0.01, min_refresh_seconds=0)
    auth = authenticator(keys)
    await auth.verify(token(key))
    issuer.down = True
    with capture_logs() as logs:
        for _ in range(5):
            await asyncio.sleep(0.02)
            await auth.verify(token(key))  # stale but good
            await keys.refresh()
    assert issuer.requests >= 5 and keys.last_error and "ConnectError" in keys.last_error
    assert [e["event"] for e in logs] == ["cannot load the JWKS; verifying with the cached keys"]  # once
    issuer.down = False
    with capture_logs() as logs:
        await keys.refresh()
    assert keys.last_error is None and [e["event"] for e in logs] == ["JWKS loaded again"]


async def test_nothing_cached_and_issuer_down_is_401_without_retrying_per_request() -> None:
    key = generate_signing_key()
    issuer = Issuer(key)
    issuer.down = True
    auth = authenticator(issuer.keyset(min_refresh_seconds=60))
    for _ in range(5):
        with pytest.raises(HTTPException) as refused:
            await auth.verify(token(key))
        assert refused.value.status_code == 401
    assert issuer.requests == 1


async def test_keys_that_cannot_sign_are_ignored() -> None:
    key = generate_signing_key()
    issuer = Issuer(key)
    # what a Keycloak realm publishes next to its signing keys: an encryption key, and a type PyJWT lacks
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    enc = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    issuer.extra = [enc | {"kid": "enc-1", "use": "enc", "alg": "RSA-OAEP"}, {"kty": "nope", "kid": "x"}]
    keys = issuer.keyset()
    assert (await authenticator(keys).verify(token(key))).sub == "clerk-1"
    assert set(keys._keys) == {key.kid}


async def test_jwks_file_rotation(tmp_path: Path) -> None:
    old, new = generate_signing_key(), generate_signing_key()
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(old.jwks()))
    auth = authenticator(KeySet(jwks_file=str(path), min_refresh_seconds=0))
    assert (await auth.verify(token(old))).sub == "clerk-1"
    path.write_text(json.dumps(new.jwks()))
    assert (await auth.verify(token(new))).sub == "clerk-1"  # unknown kid: the file is read again
    with pytest.raises(HTTPException):
        await authenticator(KeySet()).verify(token(old))  # no JWKS configured
