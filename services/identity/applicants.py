"""Applicants' login by one-time code sent to a mobile number the applicant gave on an application."""

import hmac
import math
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.identity import repository
from services.identity.audit_log import Refusal, record_event
from services.identity.config import IdentitySettings
from services.identity.issuer import Issuer
from services.identity.schemas import CodeSent, TokenResponse
from services.identity.sender import CodeSender
from shared.auth import Role, audiences_for, mint_token


async def learn_contact(session: AsyncSession, *, issuer: Issuer, id_number: str, mobile: str | None) -> None:
    """An accepted application tells which mobile number an applicant gave (kept as keyed hashes)."""
    if not mobile:
        return
    await repository.upsert_contact(
        session, applicant_key=issuer.keyed_hash(id_number.upper()), mobile_key=issuer.keyed_hash(mobile)
    )


async def request_code(
    session: AsyncSession,
    *,
    settings: IdentitySettings,
    issuer: Issuer,
    sender: CodeSender,
    id_number: str,
    mobile: str,
    client_ip: str | None,
) -> CodeSent | Refusal:
    """Send a one-time code if the number belongs to the applicant; the answer never tells which."""
    now = datetime.now(UTC)
    applicant_key, mobile_key = issuer.keyed_hash(id_number), issuer.keyed_hash(mobile)
    last = await repository.last_challenge_at(session, mobile_key=mobile_key)
    if last is not None and (now - last).total_seconds() < settings.otp_resend_seconds:
        retry = max(1, math.ceil(settings.otp_resend_seconds - (now - last).total_seconds()))
        return Refusal(429, "a code was sent recently; wait before asking again", retry_after=retry)
    await repository.delete_expired_challenges(session, before=now - timedelta(days=1))
    known = not settings.otp_require_known_contact or await repository.contact_known(
        session, applicant_key=applicant_key, mobile_key=mobile_key
    )
    code = f"{secrets.randbelow(10**6):06d}"
    challenge = await repository.add_challenge(
        session,
        values={
            "id": uuid.uuid4().hex,
            "applicant_key": applicant_key,
            "mobile_key": mobile_key,
            "code_hash": issuer.keyed_hash(code) if known else "",
            "created_at": now,
            "expires_at": now + timedelta(seconds=settings.otp_ttl_seconds),
        },
    )
    if known:
        await sender.send_code(mobile=mobile, code=code, ttl_seconds=settings.otp_ttl_seconds)
    await record_event(
        session,
        action="otp_sent" if known else "otp_withheld",
        subject=id_number,
        subject_kind="applicant",
        client_ip=client_ip,
    )
    return CodeSent(
        challenge_id=challenge.id,
        expires_in=settings.otp_ttl_seconds,
        resend_after=settings.otp_resend_seconds,
    )


async def login_applicant(
    session: AsyncSession,
    *,
    settings: IdentitySettings,
    issuer: Issuer,
    challenge_id: str,
    id_number: str,
    mobile: str,
    code: str,
    client_ip: str | None,
) -> TokenResponse | Refusal:
    """Exchange a one-time code for an applicant token (single use, expiring, limited attempts)."""
    now = datetime.now(UTC)
    challenge = await repository.get_challenge_for_update(session, challenge_id=challenge_id)
    reason: str | None = None
    if challenge is None:
        reason = "unknown_challenge"
    elif challenge.used_at is not None:
        reason = "already_used"
    elif challenge.expires_at <= now:
        reason = "expired"
    elif challenge.attempts >= settings.otp_max_attempts:
        reason = "too_many_attempts"
    else:
        challenge.attempts += 1
        matches = (
            bool(challenge.code_hash)
            and hmac.compare_digest(challenge.applicant_key, issuer.keyed_hash(id_number))
            and hmac.compare_digest(challenge.mobile_key, issuer.keyed_hash(mobile))
            and hmac.compare_digest(challenge.code_hash, issuer.keyed_hash(code))
        )
        if not matches:
            reason = "wrong_code"
    if reason is not None or challenge is None:
        await record_event(
            session,
            action="login_failed",
            subject=id_number,
            subject_kind="applicant",
            client_ip=client_ip,
            reason=reason,
        )
        return Refusal(401, "invalid or expired code")
    challenge.used_at = now
    await session.flush()
    token = mint_token(
        issuer.key,
        sub=id_number,
        roles=[Role.APPLICANT],
        issuer=settings.auth_issuer,
        audience=audiences_for([Role.APPLICANT], audience=settings.auth_audience),
        ttl_seconds=settings.applicant_token_ttl_seconds,
    )
    await record_event(
        session, action="login_succeeded", subject=id_number, subject_kind="applicant", client_ip=client_ip
    )
    return TokenResponse(
        access_token=token,
        expires_in=settings.applicant_token_ttl_seconds,
        roles=[Role.APPLICANT],
        halls=[],
        departments=[],
    )
