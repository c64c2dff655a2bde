"""Who may do what: bearer JWTs (asymmetric, verified against a JWKS) and per-route role policies.

Every route declares its policy with ``require(...)`` (staff, devices, applicants) or
``public()`` (no login). Object-level checks (hall, department, applicant) use the Principal's
scopes: ``principal.check_hall(hall)`` etc.
"""

import json
import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

ALGORITHMS = ["EdDSA", "RS256", "ES256"]


class Role(StrEnum):
    CLERK = "clerk"  # front-desk comprehensive acceptance
    APPROVER = "approver"
    LIAISON = "liaison"
    ISSUANCE_CLERK = "issuance_clerk"
    HALL_ADMIN = "hall_admin"
    CATALOG_ADMIN = "catalog_admin"
    AUDITOR = "auditor"
    KIOSK = "kiosk"
    DISPLAY = "display"
    APPLICANT = "applicant"
    SERVICE = "service"  # service-to-service calls (acceptance -> forms)


@dataclass(frozen=True)
class Principal:
    """The verified caller."""

    sub: str
    roles: frozenset[str]
    halls: frozenset[str] = field(default_factory=frozenset)
    departments: frozenset[str] = field(default_factory=frozenset)
    name: str | None = None

    def has(self, *roles: str) -> bool:
        return bool(self.roles & set(roles))

    @property
    def applicant_id(self) -> str | None:
        """For applicant tokens, the ID number or credit code they proved."""
        return self.sub if Role.APPLICANT in self.roles else None

    def may_act_in_hall(self, hall: str | None) -> bool:
        return hall is not None and ("*" in self.halls or hall in self.halls)

    def may_act_for_department(self, department: str | None) -> bool:
        return department is not None and ("*" in self.departments or department in self.departments)

    def check_hall(self, hall: str | None) -> None:
        """403 unless the caller works in ``hall``."""
        if not self.may_act_in_hall(hall):
            raise HTTPException(403, f"not allowed in hall {hall}")

    def check_department(self, department: str | None) -> None:
        """403 unless the caller serves ``department``."""
        if not self.may_act_for_department(department):
            raise HTTPException(403, f"not allowed for department {department}")


class KeySet:
    """Public keys tokens are verified against: a JWKS file (embedded issuer) or URL (OIDC)."""

    def __init__(self, *, jwks_file: str | None = None, jwks_url: str | None = None) -> None:
        self.jwks_file = jwks_file
        self.jwks_url = jwks_url
        self._client = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300) if jwks_url else None
        self._keys: dict[str, Any] | None = None
        self._loaded_at = 0.0

    def key_for(self, token: str) -> Any:
        if self._client is not None:
            return self._client.get_signing_key_from_jwt(token).key
        if not self.jwks_file:
            raise jwt.InvalidTokenError("no JWKS configured")
        if self._keys is None or time.monotonic() - self._loaded_at > 30:
            data = json.loads(Path(self.jwks_file).read_text())
            self._keys = {k["kid"]: jwt.PyJWK(k).key for k in data["keys"]}
            self._loaded_at = time.monotonic()
        kid = jwt.get_unverified_header(token).get("kid")
        if kid not in self._keys:
            raise jwt.InvalidTokenError("unknown key id")
        return self._keys[kid]


class Authenticator:
    """Verifies bearer tokens: signature, algorithm allow-list, issuer, audience, expiry."""

    def __init__(self, *, keys: KeySet, issuer: str, audience: str) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience

    def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") not in ALGORITHMS:
                raise jwt.InvalidAlgorithmError("algorithm not allowed")
            claims = jwt.decode(
                token,
                self.keys.key_for(token),
                algorithms=ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except (jwt.PyJWTError, ValueError, KeyError, OSError) as exc:
            raise HTTPException(401, f"invalid token: {exc}", headers={"WWW-Authenticate": "Bearer"}) from exc
        return Principal(
            sub=str(claims["sub"]),
            roles=frozenset(claims.get("roles", [])),
            halls=frozenset(claims.get("halls", [])),
            departments=frozenset(claims.get("departments", [])),
            name=claims.get("name"),
        )


_bearer = HTTPBearer(auto_error=False)


def _authenticator(request: Request) -> Authenticator:
    return request.app.state.authenticator


async def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The caller of a protected route; 401 without a valid bearer token."""
    if credentials is None:
        raise HTTPException(401, "authentication required", headers={"WWW-Authenticate": "Bearer"})
    return _authenticator(request).verify(credentials.credentials)


def require(*roles: str) -> Any:
    """Dependency: the caller must hold one of ``roles`` (403 otherwise). Declares the route's policy."""
    allowed = frozenset(str(r) for r in roles)

    async def _check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not principal.roles & allowed:
            raise HTTPException(403, f"requires one of the roles: {', '.join(sorted(allowed))}")
        return principal

    _check.policy = {"roles": sorted(allowed)}  # type: ignore[attr-defined]
    return Depends(_check)


def public() -> Any:
    """Dependency that declares a route public (no login); the policy check accepts it."""

    async def _public() -> None:
        return None

    _public.policy = {"public": True}  # type: ignore[attr-defined]
    return Depends(_public)


# ---- keys and tokens for the embedded issuer, tests and the mint command ----------------------


@dataclass
class SigningKey:
    kid: str
    private_pem: bytes

    @property
    def private_key(self) -> Ed25519PrivateKey:
        key = serialization.load_pem_private_key(self.private_pem, password=None)
        assert isinstance(key, Ed25519PrivateKey)
        return key

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(self.private_key.public_key()))
        return {"keys": [jwk | {"kid": self.kid, "alg": "EdDSA", "use": "sig"}]}


def generate_signing_key() -> SigningKey:
    """A fresh Ed25519 key pair."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return SigningKey(kid=uuid.uuid4().hex[:16], private_pem=pem)


def load_or_create_keys(directory: Path) -> tuple[SigningKey, Path]:
    """Keys of the embedded issuer under ``directory`` (created once); returns the key and JWKS path."""
    directory.mkdir(parents=True, exist_ok=True)
    pem_path, kid_path, jwks_path = directory / "issuer.pem", directory / "issuer.kid", directory / "jwks.json"
    if not pem_path.exists():
        key = generate_signing_key()
        pem_path.write_bytes(key.private_pem)
        pem_path.chmod(0o600)
        kid_path.write_text(key.kid)
    key = SigningKey(kid=kid_path.read_text().strip(), private_pem=pem_path.read_bytes())
    jwks_path.write_text(json.dumps(key.jwks()))
    return key, jwks_path


def mint_token(
    key: SigningKey,
    *,
    sub: str,
    roles: list[str],
    halls: list[str] | None = None,
    departments: list[str] | None = None,
    name: str | None = None,
    issuer: str = "onewindow-dev-issuer",
    audience: str = "onewindow",
    ttl_seconds: int = 3600,
) -> str:
    """A signed access token with the OneWindow claims."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": sub,
        "iat": now,
        "nbf": now - 5,
        "exp": now + ttl_seconds,
        "jti": uuid.uuid4().hex,
        "roles": roles,
        "halls": halls or [],
        "departments": departments or [],
    }
    if name:
        claims["name"] = name
    return jwt.encode(claims, key.private_key, algorithm="EdDSA", headers={"kid": key.kid})
