"""Identity queries."""

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.models import ApplicantContact, OtpChallenge, SecurityEvent, TokenRevocation


async def add_event(session: AsyncSession, *, values: dict[str, Any]) -> SecurityEvent:
    """Store one security event."""
    event = SecurityEvent(**values)
    session.add(event)
    await session.flush()
    return event


async def last_event_at(
    session: AsyncSession, *, subject: str, actions: list[str], client_ip: str | None = None
) -> datetime | None:
    """When ``subject`` last had one of ``actions`` (from ``client_ip``, when given)."""
    stmt = select(func.max(SecurityEvent.at)).where(
        SecurityEvent.subject == subject, SecurityEvent.action.in_(actions)
    )
    if client_ip is not None:
        stmt = stmt.where(SecurityEvent.client_ip == client_ip)
    return (await session.execute(stmt)).scalar_one()


async def event_times(
    session: AsyncSession, *, subject: str, action: str, since: datetime, client_ip: str | None
) -> list[datetime]:
    """When ``subject`` had ``action`` from ``client_ip`` after ``since``, oldest first."""
    stmt = (
        select(SecurityEvent.at)
        .where(SecurityEvent.subject == subject, SecurityEvent.action == action, SecurityEvent.at > since,
               SecurityEvent.client_ip.is_(None) if client_ip is None else SecurityEvent.client_ip == client_ip)
        .order_by(SecurityEvent.at)
    )
    return list((await session.execute(stmt)).scalars())


async def list_events(
    session: AsyncSession, *, action: str | None, before_id: int | None, limit: int
) -> list[SecurityEvent]:
    """Security events, newest first."""
    stmt = select(SecurityEvent).order_by(SecurityEvent.id.desc()).limit(limit)
    if action:
        stmt = stmt.where(SecurityEvent.action == action)
    if before_id:
        stmt = stmt.where(SecurityEvent.id < before_id)
    return list((await session.execute(stmt)).scalars())


async def upsert_contact(session: AsyncSession, *, applicant_key: str, mobile_key: str) -> None:
    """Remember (or refresh) that this mobile number was given for this applicant."""
    stmt = insert(ApplicantContact).values(applicant_key=applicant_key, mobile_key=mobile_key)
    stmt = stmt.on_conflict_do_update(
        index_elements=[ApplicantContact.applicant_key, ApplicantContact.mobile_key],
        set_={"last_seen_at": func.now()},
    )
    await session.execute(stmt)


async def contact_known(session: AsyncSession, *, applicant_key: str, mobile_key: str) -> bool:
    """Was this mobile number given on an accepted application of this applicant?"""
    stmt = select(ApplicantContact.applicant_key).where(
        ApplicantContact.applicant_key == applicant_key, ApplicantContact.mobile_key == mobile_key
    )
    return (await session.execute(stmt)).first() is not None


async def last_challenge_at(session: AsyncSession, *, mobile_key: str) -> datetime | None:
    """When the last code for this mobile number was asked for."""
    stmt = select(func.max(OtpChallenge.created_at)).where(OtpChallenge.mobile_key == mobile_key)
    return (await session.execute(stmt)).scalar_one()


async def add_challenge(session: AsyncSession, *, values: dict[str, Any]) -> OtpChallenge:
    """Store a challenge."""
    challenge = OtpChallenge(**values)
    session.add(challenge)
    await session.flush()
    return challenge


async def get_challenge_for_update(session: AsyncSession, *, challenge_id: str) -> OtpChallenge | None:
    """A challenge, locked until the end of the transaction (concurrent guesses are serialised)."""
    stmt = select(OtpChallenge).where(OtpChallenge.id == challenge_id).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def delete_expired_challenges(session: AsyncSession, *, before: datetime) -> None:
    """Forget challenges that expired before ``before``."""
    await session.execute(delete(OtpChallenge).where(OtpChallenge.expires_at < before))


async def revoke_tokens(session: AsyncSession, *, subject_hash: str, before: datetime, by: str) -> None:
    """Void the subject's tokens issued up to ``before`` (never moves an earlier revocation back)."""
    stmt = insert(TokenRevocation).values(subject_hash=subject_hash, revoked_before=before, revoked_by=by[:100])
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[TokenRevocation.subject_hash],
            set_={"revoked_before": func.greatest(TokenRevocation.revoked_before, stmt.excluded.revoked_before),
                  "revoked_by": stmt.excluded.revoked_by},
        )
    )


async def revocations_since(session: AsyncSession, since: datetime) -> list[TokenRevocation]:
    """Revocations that can still matter (tokens issued after ``since`` may still be valid)."""
    return list((await session.execute(select(TokenRevocation).where(TokenRevocation.revoked_before > since))).scalars())
