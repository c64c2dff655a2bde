"""Bearer tokens: only unexpired tokens signed by a JWKS key for our issuer and audience are accepted."""

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from shared.auth import SigningKey, generate_signing_key, mint_token

ME = "/auth/me"


def _b64(data: dict) -> str:  # type: ignore[type-arg]
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(**overrides):  # type: ignore[no-untyped-def]
    now = int(time.time())
    return {
        "iss": "onewindow-dev-issuer",
        "aud": "onewindow",
        "sub": "eve",
        "iat": now,
        "exp": now + 600,
        "roles": ["auditor"],
        "halls": ["*"],
        "departments": ["*"],
    } | overrides


def _signed(infra, claims, **headers):  # type: ignore[no-untyped-def]
    key = infra.signing_key
    return jwt.encode(claims, key.private_key, algorithm="EdDSA", headers={"kid": key.kid} | headers)


async def _me(identity, token: str):  # type: ignore[no-untyped-def]
    return await identity.get(ME, headers={"Authorization": f"Bearer {token}"})


async def test_a_valid_token_is_accepted(identity, infra) -> None:
    answer = await _me(identity, infra.token("auditor", sub="auditor-7", halls=["*"]))
    assert answer.status_code == 200 and answer.json()["sub"] == "auditor-7"


def _hs256(claims, kid: str, secret: bytes) -> str:  # type: ignore[no-untyped-def]
    import hashlib
    import hmac

    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{_b64(claims)}"
    signature = base64.urlsafe_b64encode(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())
    return f"{signing_input}.{signature.rstrip(b'=').decode()}"


def _bad_tokens(infra) -> dict[str, str]:  # type: ignore[no-untyped-def]
    key = infra.signing_key
    public_pem = key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(time.time())
    forged = SigningKey(kid=key.kid, private_pem=generate_signing_key().private_pem)
    stranger = generate_signing_key()
    no_exp = _claims()
    del no_exp["exp"]
    return {
        "expired": mint_token(key, sub="eve", roles=["auditor"], ttl_seconds=-60),
        "not yet valid": _signed(infra, _claims(nbf=now + 3600)),
        "wrongly signed, known kid": mint_token(forged, sub="eve", roles=["auditor"]),
        "unknown kid": mint_token(stranger, sub="eve", roles=["auditor"]),
        "wrong audience": mint_token(key, sub="eve", roles=["auditor"], audience="other-app"),
        "wrong issuer": mint_token(key, sub="eve", roles=["auditor"], issuer="https://evil.example"),
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': key.kid})}.{_b64(_claims())}.",
        "HS256 with the public key as secret": _hs256(_claims(), key.kid, public_pem),
        "missing exp": _signed(infra, no_exp),
        "roles as a string": _signed(infra, _claims(roles="auditor")),
        "tampered payload": (
            lambda t: (
                t.split(".")[0]
                + "."
                + _b64(_claims(roles=["auditor", "catalog_admin"]))
                + "."
                + t.split(".")[2]
            )
        )(mint_token(key, sub="eve", roles=["clerk"])),
        "garbage": "a.b.c",
        # header/algorithm confusions: the algorithm must come from the key, not from the header
        "RS256 header with the Ed25519 kid": _unsigned({"alg": "RS256", "typ": "JWT", "kid": key.kid}),
        "ES256 header with the Ed25519 kid": _unsigned({"alg": "ES256", "typ": "JWT", "kid": key.kid}),
        "PS256 header with the Ed25519 kid": _unsigned({"alg": "PS256", "typ": "JWT", "kid": key.kid}),
        "alg missing": _unsigned({"typ": "JWT", "kid": key.kid}),
        "kid missing": _unsigned({"alg": "EdDSA", "typ": "JWT"}),
        "kid as a number": _unsigned({"alg": "EdDSA", "typ": "JWT", "kid": 7}),
        "kid as a list": _unsigned({"alg": "EdDSA", "typ": "JWT", "kid": [key.kid]}),
        "embedded jwk of another key": jwt.encode(
            _claims(),
            stranger.private_key,
            algorithm="EdDSA",
            headers={"kid": key.kid, "jwk": stranger.jwks()["keys"][0]},
        ),
        "jku pointing elsewhere": jwt.encode(
            _claims(),
            stranger.private_key,
            algorithm="EdDSA",
            headers={"kid": key.kid, "jku": "https://evil.example/jwks"},
        ),
        "header not JSON": f"{base64.urlsafe_b64encode(b'not json').rstrip(b'=').decode()}.{_b64(_claims())}.c2ln",
        "four segments": mint_token(key, sub="eve", roles=["auditor"]) + ".extra",
        "characters outside base64url": "eyJ!!.eyJ@@.$$$",
        "oversized": _signed(infra, _claims(name="x" * 20_000)),
    }


def _unsigned(header: dict) -> str:  # type: ignore[type-arg]
    """A token with ``header``, valid claims and a made-up signature (64 bytes, like an Ed25519 one)."""
    return f"{_b64(header)}.{_b64(_claims())}.{base64.urlsafe_b64encode(bytes(64)).rstrip(b'=').decode()}"


@pytest.mark.parametrize(
    "name",
    [
        "expired",
        "not yet valid",
        "wrongly signed, known kid",
        "unknown kid",
        "wrong audience",
        "wrong issuer",
        "alg none",
        "HS256 with the public key as secret",
        "missing exp",
        "roles as a string",
        "tampered payload",
        "garbage",
        "RS256 header with the Ed25519 kid",
        "ES256 header with the Ed25519 kid",
        "PS256 header with the Ed25519 kid",
        "alg missing",
        "kid missing",
        "kid as a number",
        "kid as a list",
        "embedded jwk of another key",
        "jku pointing elsewhere",
        "header not JSON",
        "four segments",
        "characters outside base64url",
        "oversized",
    ],
)
async def test_bad_tokens_are_refused(identity, infra, name: str) -> None:
    answer = await _me(identity, _bad_tokens(infra)[name])
    assert answer.status_code == 401, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.headers["www-authenticate"].startswith("Bearer")


async def test_hs256_keyed_with_the_published_jwk_is_refused(identity) -> None:
    """Algorithm confusion: a symmetric signature keyed with what the JWKS endpoint publishes."""
    jwk = (await identity.get("/.well-known/jwks.json")).json()["keys"][0]
    for secret in (jwk["x"].encode(), json.dumps(jwk).encode()):
        assert (await _me(identity, _hs256(_claims(), jwk["kid"], secret))).status_code == 401


async def test_other_schemes_and_empty_tokens_are_refused(identity) -> None:
    for value in ("Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer ", "Token abc"):
        assert (await identity.get(ME, headers={"Authorization": value})).status_code == 401, value
