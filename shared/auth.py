"""Who may do what: bearer JWTs (asymmetric, verified against a JWKS) and per-route role policies.

Every route declares its policy with ``require(...)`` (staff, devices, applicants) or
``public()`` (no login, rate limited per client IP and route). Object-level checks (hall,
department, applicant) use the Principal's scopes: ``principal.check_hall(hall)`` etc.
Security events (denied requests, logins, token minting) are written as structured log lines
with ``event=security_audit`` by ``audit(...)``; personal data in them is masked.
"""

import json
import math
import threading
import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import jwt
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.privacy import mask_id_number, scrub

ALGORITHMS = ["EdDSA", "RS256", "ES256"]
DEFAULT_PUBLIC_RATE_LIMIT = 120

_audit_log = structlog.get_logger("onewindow.security")


def mask_subject(sub: str | None) -> str | None:
    """A token subject safe for logs: ID numbers / credit codes / mobiles masked, long ids shortened."""
    if not sub:
        return sub
    masked = scrub(sub)
    if masked == sub and any(ch.isdigit() for ch in sub) and len(sub) >= 11:
        masked = mask_id_number(sub) or sub  # numeric-looking identifiers the patterns do not know
    return masked


def audit(action: str, **fields: Any) -> None:
    """Write one security audit line (event=security_audit); never pass personal data unmasked."""
    if "sub" in fields:
        fields["sub"] = mask_subject(fields["sub"])
    _audit_log.info("security_audit", action=action, **fields)


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
            audit("scope_denied", scope="hall", hall=hall, sub=self.sub, roles=sorted(self.roles))
            raise HTTPException(403, f"not allowed in hall {hall}")

    def check_department(self, department: str | None) -> None:
        """403 unless the caller serves ``department``."""
        if not self.may_act_for_department(department):
            audit(
                "scope_denied",
                scope="department",
                department=department,
                sub=self.sub,
                roles=sorted(self.roles),
            )
            raise HTTPException(403, f"not allowed for department {department}")

    def check_applicant(self, applicant_id: str | None) -> None:
        """403 unless the caller is an applicant and ``applicant_id`` is theirs (staff: use hall checks)."""
        if self.applicant_id is None or applicant_id != self.applicant_id:
            audit("scope_denied", scope="applicant", sub=self.sub, roles=sorted(self.roles))
            raise HTTPException(403, "not your application")


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
            raise HTTPException(
                401,
                f"invalid token: {type(exc).__name__}",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            ) from exc
        roles, halls, departments = (
            claims.get("roles", []),
            claims.get("halls", []),
            claims.get("departments", []),
        )
        if not all(
            isinstance(v, list) and all(isinstance(x, str) for x in v) for v in (roles, halls, departments)
        ):
            raise HTTPException(
                401, "invalid token: malformed claims", headers={"WWW-Authenticate": "Bearer"}
            )
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
        request.state.audit_reason = "no_token"
        raise HTTPException(401, "authentication required", headers={"WWW-Authenticate": "Bearer"})
    try:
        principal = _authenticator(request).verify(credentials.credentials)
    except HTTPException as exc:
        request.state.audit_reason = str(exc.detail)
        raise
    request.state.principal = principal
    return principal


def require(*roles: str) -> Any:
    """Dependency: the caller must hold one of ``roles`` (403 otherwise). Declares the route's policy."""
    allowed = frozenset(str(r) for r in roles)
    if not allowed:
        raise ValueError("require() needs at least one role")

    async def _check(
        request: Request, principal: Annotated[Principal, Depends(current_principal)]
    ) -> Principal:
        if not principal.roles & allowed:
            request.state.audit_reason = "missing_role"
            raise HTTPException(403, f"requires one of the roles: {', '.join(sorted(allowed))}")
        return principal

    _check.policy = {"roles": sorted(allowed)}  # type: ignore[attr-defined]
    return Depends(_check)


class RateLimiter:
    """In-process token buckets per (client, route): ``per_minute`` requests, refilled continuously.

    Each replica limits on its own; behind N replicas the effective limit is N times higher.
    """

    def __init__(self, per_minute: int, *, max_keys: int = 100_000) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.max_keys = max_keys
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: tuple[str, str], *, now: float | None = None) -> float:
        """Consume one token; 0 when allowed, else the seconds until one is available."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                if len(self._buckets) > self.max_keys:
                    self._prune(now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate

    def _prune(self, now: float) -> None:
        """Forget buckets that have refilled completely (they behave like new ones)."""
        full_after = self.capacity / self.rate
        for key in [k for k, (_, last) in self._buckets.items() if now - last >= full_after]:
            del self._buckets[key]
        while len(self._buckets) > self.max_keys:  # still too many: drop the oldest
            del self._buckets[min(self._buckets, key=lambda k: self._buckets[k][1])]


def rate_limiter(app: Any) -> RateLimiter:
    """The app's limiter (``app.state.rate_limiter``), created from its settings on first use."""
    limiter: RateLimiter | None = getattr(app.state, "rate_limiter", None)
    if limiter is None:
        settings = getattr(app.state, "settings", None) or getattr(
            getattr(app.state, "runtime", None), "settings", None
        )
        limiter = RateLimiter(getattr(settings, "public_rate_limit_per_minute", DEFAULT_PUBLIC_RATE_LIMIT))
        app.state.rate_limiter = limiter
    return limiter


def client_ip(request: Request) -> str:
    """The client address (behind a proxy, run uvicorn with --proxy-headers so this is the real client)."""
    return request.client.host if request.client else "unknown"


def public(*, rate_limited: bool = True) -> Any:
    """Dependency that declares a route public (no login), rate limited per client IP and route.

    ``rate_limited=False`` only for operations endpoints (health, readiness, metrics) and static
    documents such as the JWKS.
    """

    async def _public(request: Request) -> None:
        if not rate_limited:
            return None
        route = request.scope.get("route")
        key = (client_ip(request), f"{request.method} {getattr(route, 'path', request.url.path)}")
        wait = rate_limiter(request.app).take(key)
        if wait > 0:
            request.state.audit_reason = "rate_limited"
            raise HTTPException(
                429, "too many requests", headers={"Retry-After": str(max(1, math.ceil(wait)))}
            )
        return None

    _public.policy = {"public": True, "rate_limited": rate_limited}  # type: ignore[attr-defined]
    return Depends(_public)


def route_policy(route: Any) -> dict[str, Any] | None:
    """The policy a route declares (through require()/public() anywhere in its dependency tree)."""
    dependant = getattr(route, "dependant", None)
    stack = [dependant] if dependant is not None else []
    while stack:
        current = stack.pop()
        policy = getattr(current.call, "policy", None)
        if policy is not None:
            return policy
        stack.extend(current.dependencies)
    return None


class SecurityAuditMiddleware:
    """Audits every refused request (401, 403, 429) once, whoever refused it (auth or a service check).

    A route that writes its own, richer audit record sets ``request.state.audited = True``.
    """

    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status: dict[str, int] = {}

        async def _send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        await self.app(scope, receive, _send)
        code = status.get("code")
        state = scope.get("state") or {}
        if code in (401, 403, 429) and not state.get("audited"):
            principal: Principal | None = state.get("principal")
            route = scope.get("route")
            client = scope.get("client")
            audit(
                "rate_limited" if code == 429 else "access_denied",
                status=code,
                service=self.service,
                method=scope.get("method"),
                route=getattr(route, "path", "unmatched"),
                reason=state.get("audit_reason", "refused_by_service"),
                sub=principal.sub if principal else None,
                roles=sorted(principal.roles) if principal else None,
                client_ip=client[0] if client else None,
            )


def install_security(app: FastAPI, *, service: str, per_minute: int = DEFAULT_PUBLIC_RATE_LIMIT) -> None:
    """Rate limiter, audit of refused requests, and 401/403/429 problem responses in the OpenAPI document."""
    app.state.rate_limiter = RateLimiter(per_minute)
    app.add_middleware(SecurityAuditMiddleware, service=service)
    _install_openapi_policies(app)


_PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details",
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "code": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                },
                "required": ["field", "message"],
            },
        },
    },
    "required": ["title", "status"],
}


def _problem(description: str) -> dict[str, Any]:
    ref = {"$ref": "#/components/schemas/Problem"}
    return {"description": description, "content": {"application/problem+json": {"schema": ref}}}


def api_routes(app: FastAPI) -> list[Any]:
    """Every HTTP and WebSocket route of ``app`` as served (router prefixes and dependencies applied)."""
    from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts

    return [
        context
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, (APIRoute, APIWebSocketRoute))
    ]


def _install_openapi_policies(app: FastAPI) -> None:
    """Document each route's policy: 401/403 for protected, 429 for rate-limited public, problem 422s."""
    from fastapi.routing import APIRoute

    generate = app.openapi  # FastAPI's own (cached per routes version)
    documented: dict[str, int] = {}

    def openapi() -> dict[str, Any]:
        schema = generate()
        if documented.get("id") == id(schema):
            return schema
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = _PROBLEM_SCHEMA
        for context in api_routes(app):
            if not isinstance(context.original_route, APIRoute):
                continue
            policy = route_policy(context) or {}
            for method in context.methods or ():
                operation = schema.get("paths", {}).get(context.path_format, {}).get(method.lower())
                if operation is None:
                    continue
                responses = operation.setdefault("responses", {})
                if "422" in responses:
                    responses["422"] = _problem("Invalid request (field-level errors)")
                if policy.get("roles"):
                    responses.setdefault("401", _problem("Missing, expired or invalid bearer token"))
                    responses.setdefault(
                        "403", _problem(f"Requires one of: {', '.join(policy['roles'])}, in scope")
                    )
                    operation["x-roles"] = policy["roles"]
                elif policy.get("rate_limited"):
                    responses.setdefault("429", _problem("Rate limited; see Retry-After"))
        documented["id"] = id(schema)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


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
    pem_path, kid_path, jwks_path = (
        directory / "issuer.pem",
        directory / "issuer.kid",
        directory / "jwks.json",
    )
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
