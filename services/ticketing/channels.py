"""Who may take a number, and through which channel: kiosks, the web, the window (docs/ticketing.md).

- ``kiosk``: a kiosk device token (role ``kiosk``, ``halls`` claim with the hall, the device account's
  sub, e.g. ``kiosk.zs-01``, from identity or an external provider's client-credentials client); each device has a budget of tickets per minute (429 beyond).
- ``web``: a logged-in applicant (the ticket records who; a cap of waiting tickets per day, tickets.py),
  or an anonymous visitor with a single-use proof from the integrator's captcha service.
- ``window``: a clerk of the hall issues a number for a walk-in at the counter.
- ``appointment``: the kiosk check-in of a booking (appointments.py).
"""

import hashlib
import hmac
import math
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import HTTPException, Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.ticketing import repository as repo
from services.ticketing.config import TicketingSettings
from shared.auth import Principal, RateLimiter, Role
from shared.problems import Forbidden

WINDOW_ROLES = (Role.CLERK, Role.ISSUANCE_CLERK)
TAKE_ROLES = (Role.KIOSK, Role.APPLICANT, *WINDOW_ROLES)
_PROOF = re.compile(r"^(?P<nonce>[A-Za-z0-9_-]{16,64})\.(?P<expiry>\d{1,12})\.(?P<mac>[0-9a-f]{64})$")


def channel_of(principal: Principal) -> str:
    """The channel a caller takes numbers through (a kiosk token wins over other roles it holds)."""
    if principal.has(Role.KIOSK):
        return "kiosk"
    if principal.has(*WINDOW_ROLES):
        return "window"
    return "web"  # an applicant: require() admitted nothing else


def kiosk_limiter(settings: TicketingSettings) -> RateLimiter:
    """The per-device ticket budget (``app.state.kiosk_rate_limiter``, made with the app); it counts where
    the public limits count (``rate_limit_storage_uri``: per replica, or shared in Redis)."""
    return RateLimiter(settings.kiosk_tickets_per_minute, storage_uri=settings.rate_limit_storage_uri,
                       namespace=f"{settings.service_name}:kiosk")


async def admit(request: Request, *, principal: Principal, hall: str, kiosk_per_minute: int) -> str:
    """Check that ``principal`` may take a number in ``hall`` and return its channel: kiosks and staff only
    in their halls (403), each kiosk device within its budget (429 with Retry-After)."""
    channel = channel_of(principal)
    if channel in ("kiosk", "window"):
        principal.check_hall(hall)
    if channel == "kiosk":
        limiter: RateLimiter = request.app.state.kiosk_rate_limiter
        wait = await limiter.take((principal.sub, "tickets"))
        if wait > 0:
            request.state.audit_reason = "device_budget"
            raise HTTPException(
                429, f"this kiosk took {kiosk_per_minute} tickets in the last minute; try again shortly",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
    return channel


@dataclass(frozen=True)
class Proof:
    """A verified captcha proof (not yet spent)."""

    nonce: str
    expires_at: datetime


def proof_mac(secret: str, *, nonce: str, expiry: int, hall: str) -> str:
    """The integrator's signature of a proof: hex HMAC-SHA256(secret, "<nonce>.<expiry>.<hall>")."""
    message = f"{nonce}.{expiry}.{hall}".encode()
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify_proof(
    proof: str, *, hall: str, secret: str | None, max_ttl_seconds: int, now: float | None = None
) -> Proof:
    """Check a proof ``<nonce>.<expiry unix>.<hex mac>`` for ``hall``: signature (constant time), not
    expired, expiring at most ``max_ttl_seconds`` ahead. 403 problems with a code saying which."""
    if secret is None:
        raise Forbidden("this hall takes web tickets from logged-in applicants only (no captcha proofs accepted)",
                        code="proofs_not_accepted")
    match = _PROOF.fullmatch(proof)
    if match is None:
        raise Forbidden("the proof is malformed: <nonce>.<expiry unix seconds>.<hex HMAC-SHA256>",
                        code="proof_invalid")
    nonce, expiry = match["nonce"], int(match["expiry"])
    expected = proof_mac(secret, nonce=nonce, expiry=expiry, hall=hall)
    if not hmac.compare_digest(expected, match["mac"]):
        raise Forbidden("the proof's signature is wrong (or it was made for another hall)", code="proof_invalid")
    now = time.time() if now is None else now
    if expiry <= now:
        raise Forbidden("the proof has expired; solve the captcha again", code="proof_expired")
    if expiry > now + max_ttl_seconds:
        raise Forbidden(f"the proof expires too far ahead (at most {max_ttl_seconds} s)", code="proof_invalid")
    return Proof(nonce=nonce, expires_at=datetime.fromtimestamp(expiry, UTC))


async def spend_proof(session: AsyncSession, *, proof: Proof, hall: str, now: datetime | None = None) -> None:
    """Use a verified proof up (in the ticket's transaction: a failed ticket leaves it unused); 403 when
    it was used before."""
    now = now or datetime.now(UTC)
    if not await repo.spend_web_proof(session, nonce=proof.nonce, hall=hall, expires_at=proof.expires_at,
                                      now=now):
        raise Forbidden("the proof was used already; each proof takes one ticket", code="proof_used")
