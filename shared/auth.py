"""Who may do what: bearer JWTs (asymmetric, verified against a JWKS) and per-route role policies.

Every route declares its policy with ``require(...)`` (staff, devices, applicants) or
``public()`` (no login, rate limited per client IP and route). Object-level checks (hall,
department, applicant) use the Principal's scopes: ``principal.check_hall(hall)`` etc.
Security events (denied requests, logins, token minting) are written as structured log lines
with ``event=security_audit`` by ``audit(...)``; personal data in them is masked.
"""

import asyncio
import hashlib
import json
import math
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import httpx
import jwt
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from limits import RateLimitItemPerMinute
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.privacy import mask_id_number, scrub
from shared.registry import SERVICES

ALGORITHMS = ["EdDSA", "RS256", "ES256"]
MAX_TOKEN_CHARS = 8192  # our tokens are < 1 KB; a bigger one is refused before any parsing
DEFAULT_PUBLIC_RATE_LIMIT = 120
DEFAULT_RATE_LIMIT_STORAGE = "memory://"

_audit_log = structlog.get_logger("onewindow.security")
_log = structlog.get_logger("onewindow.auth")


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
    # Staff number (工号) and the unit (department) a staff member belongs to, as the issuer knows them;
    # shown on the window pad, so an OIDC provider without these claims leaves them None.
    staff_no: str | None = None
    unit: str | None = None

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
    """Public keys tokens are verified against: a JWKS file (embedded issuer) or URL (OIDC provider).

    The keys are cached in the process and reloaded without ever stalling a request that carries a
    known ``kid``:

    - after ``cache_seconds`` (URL 300 s, file 30 s) the next request starts a refresh in the
      background and is verified with the cached keys meanwhile (stale while revalidating);
    - a token with an unknown ``kid`` (the issuer rotated its key) waits for one refresh, at most
      ``timeout_seconds``; after such a refresh (or a failed one) the next may start only
      ``min_refresh_seconds`` later, so a flood of made-up ``kid`` values costs the issuer one
      request per interval (meanwhile they are refused from the cache);
    - concurrent refreshes are one request: every caller awaits the same task;
    - if the issuer is unreachable or answers nonsense, the last good keys stay in use (logged once).

    Besides an unknown ``kid``, only the very first load (nothing cached yet) makes requests wait.

    Hand-written (on httpx and PyJWT's ``PyJWKSet``) because the libraries are worse here:
    ``jwt.PyJWKClient`` is synchronous (urllib), so a slow issuer blocked the event loop of every
    service, and it neither coalesces refreshes nor rate-limits unknown-``kid`` refreshes;
    pyjwt-key-fetcher 0.8.0 (async) brings aiohttp and aiocache, does not coalesce concurrent misses,
    cannot see a rotated key until its 5-minute cache expires, and never forgets a key it once saw (a
    key the issuer withdrew stays valid).
    """

    def __init__(
        self,
        *,
        jwks_file: str | None = None,
        jwks_url: str | None = None,
        cache_seconds: float | None = None,
        min_refresh_seconds: float = 10.0,
        timeout_seconds: float = 2.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.jwks_file = jwks_file
        self.jwks_url = jwks_url
        self.cache_seconds = cache_seconds if cache_seconds is not None else (300.0 if jwks_url else 30.0)
        self.min_refresh_seconds = min_refresh_seconds
        self.timeout_seconds = timeout_seconds
        self.transport = transport  # tests: an httpx.MockTransport
        self.fetches = 0  # JWKS loads attempted (tests, diagnostics)
        self.last_error: str | None = None
        self._keys: dict[str, Any] = {}
        self._loaded_at: float | None = None  # monotonic time of the last successful load
        self._quiet_until = 0.0  # no refresh starts before (after an unknown-kid or a failed one)
        self._refresh: asyncio.Task[None] | None = None

    @property
    def source(self) -> str | None:
        return self.jwks_url or self.jwks_file

    async def key_for(self, token: str) -> Any:
        """The public key for ``token``'s ``kid``; raises ``jwt.InvalidTokenError`` if there is none."""
        kid = jwt.get_unverified_header(token).get("kid")
        if self.source is None:
            raise jwt.InvalidTokenError("no JWKS configured")
        if not isinstance(kid, str):
            raise jwt.InvalidTokenError("token without a key id")
        now = time.monotonic()
        if self._loaded_at is None or kid not in self._keys:
            # nothing cached yet, or a kid we do not know: this request needs the issuer's answer
            task = self._refreshing()
            if task is None and now >= self._quiet_until:
                if self._loaded_at is not None:  # an unknown kid: rate-limit the next ones
                    self._quiet_until = now + self.min_refresh_seconds
                task = self._start_refresh()
            if task is not None:
                await asyncio.shield(task)  # a cancelled request does not cancel the shared refresh
        elif (
            now - self._loaded_at > self.cache_seconds and now >= self._quiet_until and not self._refreshing()
        ):
            self._start_refresh()  # in the background: this request uses the cached key
        key = self._keys.get(kid)
        if key is None:
            raise jwt.InvalidTokenError(
                "unknown key id" if self._loaded_at is not None else "JWKS unavailable"
            )
        return key

    async def refresh(self) -> None:
        """Load the keys now (joins a refresh already under way); errors are kept in ``last_error``."""
        await asyncio.shield(self._refreshing() or self._start_refresh())

    def _refreshing(self) -> asyncio.Task[None] | None:
        return self._refresh if self._refresh is not None and not self._refresh.done() else None

    def _start_refresh(self) -> asyncio.Task[None]:
        self._refresh = asyncio.create_task(self._load(), name="jwks-refresh")
        return self._refresh

    async def _load(self) -> None:
        self.fetches += 1
        try:
            data = await asyncio.wait_for(self._read(), self.timeout_seconds)
            keys = {
                jwk.key_id: jwk  # the PyJWK: its algorithm, not the token's header, decides how to verify
                for jwk in jwt.PyJWKSet.from_dict(data).keys  # skips keys of unknown types
                if jwk.key_id and jwk.public_key_use in (None, "sig")
            }
            if not keys:
                raise jwt.PyJWKSetError("the JWKS has no signing key with a kid")
        except Exception as exc:  # issuer down, slow or answering nonsense: keep what we have
            reason = f"{type(exc).__name__}: {exc}"[:300]
            if self.last_error is None:
                _log.warning(
                    "cannot load the JWKS; verifying with the cached keys",
                    source=self.source,
                    error=reason,
                    cached_keys=len(self._keys),
                )
            self.last_error = reason
            self._quiet_until = max(self._quiet_until, time.monotonic() + self.min_refresh_seconds)
            return
        if self.last_error is not None:
            _log.info("JWKS loaded again", source=self.source)
        self._keys, self._loaded_at, self.last_error = keys, time.monotonic(), None

    async def _read(self) -> dict[str, Any]:
        if self.jwks_url:
            async with httpx.AsyncClient(timeout=self.timeout_seconds, transport=self.transport) as client:
                response = await client.get(self.jwks_url, headers={"Accept": "application/json"})
                response.raise_for_status()
                return response.json()
        assert self.jwks_file is not None
        return json.loads(await asyncio.to_thread(Path(self.jwks_file).read_text))


# The services a role's token is for: identity mints ``aud`` = "<audience>.<service>" for each, so a
# kiosk's token is refused at acceptance (401) and a clerk's at approval, whatever their roles say. Kept
# exact by tests/security/test_audiences.py: a role is listed for a service iff one of its routes admits it.
_ALL_SERVICES = SERVICES.names
ROLE_AUDIENCES: dict[str, tuple[str, ...]] = {
    "clerk": ("identity", "forms", "ticketing", "acceptance"),
    "approver": ("identity", "forms", "acceptance", "approval", "issuance"),
    "liaison": ("identity", "acceptance", "approval"),
    "issuance_clerk": ("identity", "ticketing", "acceptance", "approval", "issuance"),
    "hall_admin": ("identity", "ticketing", "acceptance", "approval"),
    "catalog_admin": ("identity", "forms"),
    "auditor": _ALL_SERVICES,
    "kiosk": ("identity", "ticketing"),
    "display": ("identity",),  # the board's routes are public
    "applicant": ("identity", "forms", "ticketing", "acceptance", "issuance"),
    "service": ("identity", "forms", "ticketing", "acceptance", "approval"),
}


def audiences_for(roles: list[str], *, audience: str) -> list[str]:
    """The per-service audiences of a token with ``roles`` (identity mints these instead of the shared one)."""
    services = {s for role in roles for s in ROLE_AUDIENCES.get(role, ())}
    return [f"{audience}.{s}" for s in _ALL_SERVICES if s in services]


def subject_hash(sub: str) -> str:
    """How the revocation list names a subject (its SHA-256): the list is public, the usernames are not."""
    return hashlib.sha256(sub.encode("utf-8")).hexdigest()


class RevocationList:
    """Tokens void before they expire: identity's ``GET /auth/revocations`` names, per subject (hashed),
    the time up to which that subject's tokens were revoked (a logout, a hall admin's revoke). Polled
    like the JWKS: the first check loads it (within ``timeout_seconds``), then a request after
    ``poll_seconds`` refreshes it in the background, so a revocation takes effect within about that long.
    When identity cannot answer the last list stays in force (an outage of identity must not stop the
    halls), logged once."""

    def __init__(
        self, *, url: str, poll_seconds: float = 30.0, timeout_seconds: float = 2.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url, self.poll_seconds, self.timeout_seconds, self.transport = url, poll_seconds, timeout_seconds, transport
        self._before: dict[str, int] = {}
        self._loaded_at: float | None = None
        self._refresh: asyncio.Task[None] | None = None
        self.last_error: str | None = None

    async def revoked(self, sub: str, issued_at: int) -> bool:
        """Whether a token of ``sub`` issued at ``issued_at`` (unix seconds) was revoked."""
        now = time.monotonic()
        running = self._refresh is not None and not self._refresh.done()
        if self._loaded_at is None:
            if not running:
                self._refresh = asyncio.create_task(self._load(), name="revocations-refresh")
            assert self._refresh is not None
            await asyncio.shield(self._refresh)
        elif now - self._loaded_at > self.poll_seconds and not running:
            self._refresh = asyncio.create_task(self._load(), name="revocations-refresh")
        before = self._before.get(subject_hash(sub))
        return before is not None and issued_at <= before

    async def _load(self) -> None:
        try:
            async with httpx.AsyncClient(timeout=self.timeout_seconds, transport=self.transport) as client:
                response = await asyncio.wait_for(client.get(self.url), self.timeout_seconds)
                response.raise_for_status()
                subjects = response.json()["subjects"]
            self._before = {str(k): int(v) for k, v in subjects.items()}
            if self.last_error is not None:
                _log.info("revocation list loaded again", source=self.url)
            self.last_error = None
        except Exception as exc:  # keep the last list
            if self.last_error is None:
                _log.warning("cannot load the revocation list; the last one stays in force", source=self.url,
                             error=f"{type(exc).__name__}"[:100])
            self.last_error = type(exc).__name__
        self._loaded_at = time.monotonic()  # failed or not: poll again after the interval


VERIFIED_CACHE_SECONDS = 300.0
VERIFIED_CACHE_SIZE = 10_000


class Authenticator:
    """Verifies bearer tokens: signature, algorithm allow-list, issuer, audience, expiry."""

    def __init__(
        self, *, keys: KeySet, issuer: str, audience: str, revocations: RevocationList | None = None,
        service: str | None = None, accept_shared_audience: bool = True,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        # this service's own audience ("onewindow.ticketing"), and the shared one unless the operator
        # turned it off (external providers and older tokens carry only "onewindow")
        own = [f"{audience}.{service}"] if service else []
        self.audience: str | list[str] = own + ([audience] if accept_shared_audience or not own else [])
        self.revocations = revocations  # None: no revocation list configured (auth_revocations_url)
        # token -> (principal, iat, remember until): Ed25519 verification of the same token on every call
        # of a window or kiosk was the largest single cost of a request
        self._verified: dict[str, tuple[Principal, int, float]] = {}

    async def verify(self, token: str) -> Principal:
        """The principal of a valid token, else 401. A token verified once is remembered until it expires
        (at most ``VERIFIED_CACHE_SECONDS``, so a key withdrawn from the JWKS stops it within minutes); the
        revocation list is consulted on every call."""
        cached = self._verified.get(token)
        if cached is not None and cached[2] > time.time():
            principal, issued_at = cached[0], cached[1]
        else:
            principal, issued_at, until = await self._verify_signed(token)
            if len(self._verified) >= VERIFIED_CACHE_SIZE:
                self._verified.clear()  # a burst of distinct tokens: start over rather than grow
            self._verified[token] = (principal, issued_at, until)
        if self.revocations is not None and await self.revocations.revoked(principal.sub, issued_at):
            raise HTTPException(401, "invalid token: revoked (logged out or revoked by an admin)",
                                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return principal

    async def _verify_signed(self, token: str) -> tuple[Principal, int, float]:
        """(principal, iat, remember until) of a token whose signature and claims check out, else 401."""
        try:
            if len(token) > MAX_TOKEN_CHARS:
                raise jwt.InvalidTokenError("token too long")
            header = jwt.get_unverified_header(token)
            if header.get("alg") not in ALGORITHMS:
                raise jwt.InvalidAlgorithmError("algorithm not allowed")
            key = await self.keys.key_for(token)
            # The algorithm comes from the key: a header naming another one (RS256 with the Ed25519 key's
            # kid) is refused here instead of reaching a key loader that raises TypeError (a 500).
            if header.get("alg") != key.algorithm_name:
                raise jwt.InvalidAlgorithmError("algorithm does not match the key")
            claims = jwt.decode(
                token,
                key,
                algorithms=[key.algorithm_name],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
            issued_at, expires = int(claims["iat"]), float(claims["exp"])
        except Exception as exc:  # any malformed or mismatched token is the caller's fault: 401, never 500
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
        principal = Principal(
            sub=str(claims["sub"]),
            roles=frozenset(roles),
            halls=frozenset(halls),
            departments=frozenset(departments),
            name=claims.get("name"),
            staff_no=_optional_text(claims.get("staff_no"), limit=20),
            unit=_optional_text(claims.get("unit"), limit=100),
        )
        return principal, issued_at, min(expires, time.time() + VERIFIED_CACHE_SECONDS)


def _optional_text(value: Any, *, limit: int) -> str | None:
    """An optional display claim: a non-empty string of at most ``limit`` characters, else None (a
    malformed one is ignored, not trusted)."""
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > limit:
        return None
    return value.strip()


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
        principal = await _authenticator(request).verify(credentials.credentials)
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


class TokenBuckets:
    """In-process token buckets per key: ``per_minute`` requests, refilled continuously, keys bounded.

    Hand-written rather than limits' memory store: that store sweeps every key after each hit
    (the moving window with a thread hop per key), which measured 40-750 us of CPU per request with
    10-10,000 clients against about 2 us here, on the hot path of every public route.
    """

    def __init__(self, per_minute: int, *, max_keys: int = 100_000) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.max_keys = max_keys
        self._buckets: dict[tuple[str, ...], tuple[float, float]] = {}

    def take(self, key: tuple[str, ...], *, now: float | None = None) -> float:
        """Consume one token; 0 when allowed, else the seconds until one is available."""
        now = time.monotonic() if now is None else now
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


class RateLimiter:
    """``per_minute`` requests per (client, route), in this replica's memory or in a shared store.

    ``storage_uri`` picks where the counts live: ``memory://`` (default: token buckets in each
    replica, so behind N replicas a client gets N times the budget) or a store the replicas share,
    counted by the ``limits`` library: ``redis://host:6379/0`` (also ``rediss://``,
    ``redis+sentinel://``, ``redis+cluster://``; the async variants of limits' storage URIs, with or
    without the ``async+`` prefix), with limits' moving window: exactly ``per_minute`` requests in
    any 60 seconds, atomic in Redis.

    If the shared store fails (down, or slower than ``store_timeout_seconds``) the replica falls back
    to counting in its own memory and tries the store again after ``retry_store_seconds`` — a
    Redis outage neither opens the public routes wide nor stalls them. (limits' async API has no
    such fallback.)
    """

    def __init__(
        self,
        per_minute: int,
        *,
        storage_uri: str = "memory://",
        namespace: str = "onewindow",
        store_timeout_seconds: float = 0.25,
        retry_store_seconds: float = 5.0,
    ) -> None:
        self.item = RateLimitItemPerMinute(per_minute)
        self.namespace = namespace
        self.storage_uri = _async_storage_uri(storage_uri)
        self.retry_store_seconds = retry_store_seconds
        self.store_error: str | None = None
        self._store_down_until = 0.0
        self._local = TokenBuckets(per_minute)
        memory = urllib.parse.urlsplit(self.storage_uri).scheme == "async+memory"
        self.storage = None if memory else _make_storage(self.storage_uri, timeout=store_timeout_seconds)
        self._shared = None if self.storage is None else MovingWindowRateLimiter(self.storage)

    @property
    def shared(self) -> bool:
        """True when the counts live in a store other replicas see."""
        return self._shared is not None

    async def take(self, key: tuple[str, str]) -> float:
        """Count one request of ``key`` = (client, route); 0 when allowed, else seconds until one is."""
        identifiers = (self.namespace, *key)
        if self._shared is not None and time.monotonic() >= self._store_down_until:
            try:
                if await self._shared.hit(self.item, *identifiers):
                    self._store_answered()
                    return 0.0
                stats = await self._shared.get_window_stats(self.item, *identifiers)
                self._store_answered()
                return max(1.0, stats.reset_time - time.time())
            except (StorageError, OSError, TimeoutError) as exc:
                self._store_failed(exc)  # counted locally until the store answers again
        wait = self._local.take(identifiers)
        return 0.0 if wait == 0 else max(1.0, wait)  # Retry-After is whole seconds, at least one

    def _store_answered(self) -> None:
        if self.store_error is not None:
            _log.info("rate limit store answers again", store=_redact(self.storage_uri))
            self.store_error = None

    def _store_failed(self, exc: BaseException) -> None:
        if self.store_error is None:
            _log.warning(
                "rate limit store unreachable; limiting in this replica's memory meanwhile",
                store=_redact(self.storage_uri),
                error=repr(exc)[:300],
            )
        self.store_error = repr(exc)[:300]
        self._store_down_until = time.monotonic() + self.retry_store_seconds

    async def aclose(self) -> None:
        """Close the shared store's connections (limits has no close; its client has)."""
        client = getattr(getattr(self.storage, "bridge", None), "storage", None)
        close = getattr(client, "aclose", None)
        if close is not None:
            await close()


def _async_storage_uri(uri: str) -> str:
    """limits' async URI for ``uri`` (``memory://`` -> ``async+memory://``)."""
    return uri if uri.startswith("async+") else f"async+{uri}"


def _redact(uri: str) -> str:
    """``uri`` without a password, for logs."""
    parts = urllib.parse.urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _make_storage(uri: str, *, timeout: float) -> Any:
    scheme = urllib.parse.urlsplit(uri).scheme
    if "redis" not in scheme:
        return storage_from_string(uri, wrap_exceptions=True)
    # the official client (redis-py) rather than limits' default coredis; one attempt with a short
    # timeout, because redis-py's default of 3 retries with backoff would stall the request instead
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    options: dict[str, Any] = {
        "implementation": "redispy",
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), 0),
    }
    return storage_from_string(uri, wrap_exceptions=True, **options)


def rate_limiter(app: Any) -> RateLimiter:
    """The app's limiter (``app.state.rate_limiter``), created from its settings on first use."""
    limiter: RateLimiter | None = getattr(app.state, "rate_limiter", None)
    if limiter is None:
        settings = getattr(app.state, "settings", None) or getattr(
            getattr(app.state, "runtime", None), "settings", None
        )
        limiter = RateLimiter(
            getattr(settings, "public_rate_limit_per_minute", DEFAULT_PUBLIC_RATE_LIMIT),
            storage_uri=getattr(settings, "rate_limit_storage_uri", None) or DEFAULT_RATE_LIMIT_STORAGE,
            namespace=getattr(settings, "service_name", None) or "onewindow",
        )
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
        wait = await rate_limiter(request.app).take(key)
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


def install_security(
    app: FastAPI,
    *,
    service: str,
    per_minute: int = DEFAULT_PUBLIC_RATE_LIMIT,
    storage_uri: str = DEFAULT_RATE_LIMIT_STORAGE,
) -> None:
    """Rate limiter, audit of refused requests, and 401/403/429 problem responses in the OpenAPI document.

    ``storage_uri``: where the rate limiter counts (``memory://``, or ``redis://...`` shared by the
    replicas; see ``RateLimiter``). Budgets are per service: its name prefixes every key.
    """
    app.state.rate_limiter = RateLimiter(per_minute, storage_uri=storage_uri, namespace=service)
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
    staff_no: str | None = None,
    unit: str | None = None,
    issuer: str = "onewindow-dev-issuer",
    audience: str | list[str] = "onewindow",
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
    if staff_no:
        claims["staff_no"] = staff_no
    if unit:
        claims["unit"] = unit
    return jwt.encode(claims, key.private_key, algorithm="EdDSA", headers={"kid": key.kid})
