"""Every query of the forms service."""

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.forms.models import (
    CatalogVersion,
    Licence,
    Profile,
    ProfileRead,
    ProfileValue,
    ProfileValueHistory,
)


async def lock_versions(session: AsyncSession) -> None:
    """Serialise version numbering and publishing (transaction-scoped advisory lock)."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('forms.catalog_versions'))"))


async def next_version(session: AsyncSession) -> int:
    latest = (await session.execute(select(func.max(CatalogVersion.version)))).scalar_one()
    return (latest or 0) + 1


async def latest_published(session: AsyncSession) -> int | None:
    """Number of the newest published version."""
    return (
        await session.execute(select(func.max(CatalogVersion.version)).where(CatalogVersion.status == "published"))
    ).scalar_one()


async def list_versions(session: AsyncSession) -> Sequence[CatalogVersion]:
    return (await session.execute(select(CatalogVersion).order_by(CatalogVersion.version))).scalars().all()


async def ensure_profile(session: AsyncSession, *, applicant_id: str, applicant_type: str) -> None:
    """Create the profile if new; touch its update time otherwise."""
    stmt = insert(Profile).values(applicant_id=applicant_id, applicant_type=applicant_type)
    await session.execute(
        stmt.on_conflict_do_update(index_elements=[Profile.applicant_id], set_={"updated_at": func.now()})
    )


async def get_profile(session: AsyncSession, applicant_id: str) -> Profile | None:
    return await session.get(Profile, applicant_id)


async def record_values(session: AsyncSession, *, applicant_id: str, rows: list[dict[str, Any]]) -> None:
    """Append ``rows`` to the history and promote each where it outranks the current value.

    Each row: field_key, value, source, verified, application_ref, licence_no, matter_code, department,
    observed_at. Verified outranks declared; among equals the newer observation wins (events may arrive
    out of order).
    """
    if not rows:
        return
    rows = [r | {"applicant_id": applicant_id} for r in rows]
    await session.execute(insert(ProfileValueHistory), rows)
    stmt = insert(ProfileValue).values(rows)
    current = ProfileValue.__table__.c
    excluded = stmt.excluded
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[current.applicant_id, current.field_key],
            set_={c: excluded[c] for c in rows[0] if c not in ("applicant_id", "field_key")},
            where=or_(
                excluded.verified > current.verified,
                (excluded.verified == current.verified) & (excluded.observed_at >= current.observed_at),
            ),
        )
    )


async def current_values(session: AsyncSession, *, applicant_id: str, keys: list[str] | None = None) -> dict[str, Row[Any]]:
    """The best known values of an applicant, by field key (only ``keys`` if given); plain rows (hot path)."""
    table = ProfileValue.__table__
    query = select(table).where(table.c.applicant_id == applicant_id)
    if keys is not None:
        query = query.where(table.c.field_key.in_(keys))
    return {row.field_key: row for row in await session.execute(query)}


async def withdraw_licence_values(session: AsyncSession, *, licence_no: str) -> None:
    """A revoked licence no longer vouches for anything: withdraw its values, fall back to the next best."""
    await session.execute(
        update(ProfileValueHistory).where(ProfileValueHistory.licence_no == licence_no).values(withdrawn=True)
    )
    affected = (
        await session.execute(
            select(ProfileValue.applicant_id, ProfileValue.field_key).where(ProfileValue.licence_no == licence_no)
        )
    ).all()
    for applicant_id, key in affected:
        best = (
            await session.execute(
                select(ProfileValueHistory)
                .where(
                    ProfileValueHistory.applicant_id == applicant_id,
                    ProfileValueHistory.field_key == key,
                    ProfileValueHistory.withdrawn.is_(False),
                )
                .order_by(ProfileValueHistory.verified.desc(), ProfileValueHistory.observed_at.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        row = await session.get(ProfileValue, (applicant_id, key))
        assert row is not None
        if best is None:
            await session.delete(row)
            continue
        for attr in ("value", "source", "verified", "application_ref", "licence_no", "matter_code", "department", "observed_at"):
            setattr(row, attr, getattr(best, attr))


async def valid_licences(session: AsyncSession, *, holder_id: str, on: date) -> dict[str, Row[Any, Any]]:
    """Valid licences of a holder on ``on``, the newest per licence type; plain rows (hot path)."""
    table = Licence.__table__
    rows = await session.execute(
        select(table.c.licence_no, table.c.licence_type)
        .where(
            table.c.holder_id == holder_id,
            table.c.status == "valid",
            table.c.valid_from <= on,
            or_(table.c.valid_until.is_(None), table.c.valid_until >= on),
        )
        .order_by(table.c.issued_at)
    )
    return {row.licence_type: row for row in rows}


async def holder_licences(session: AsyncSession, *, holder_id: str) -> Sequence[Licence]:
    return (
        await session.execute(select(Licence).where(Licence.holder_id == holder_id).order_by(Licence.issued_at))
    ).scalars().all()


async def upsert_licence(session: AsyncSession, *, values: dict[str, Any]) -> None:
    """Store a licence (a redelivery or re-issue overwrites it, unless it was revoked)."""
    stmt = insert(Licence).values(**values)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[Licence.licence_no],
            set_={k: stmt.excluded[k] for k in values if k != "licence_no"},
            where=Licence.status != "revoked",
        )
    )


async def revoke_licence(session: AsyncSession, *, licence_no: str, reason: str, at: datetime) -> bool:
    """Mark a licence revoked; False if it is unknown."""
    result = await session.execute(
        update(Licence)
        .where(Licence.licence_no == licence_no)
        .values(status="revoked", revoked_at=at, revoke_reason=reason[:500])
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def add_read(
    session: AsyncSession,
    *,
    applicant_id: str,
    reader: str,
    roles: list[str],
    purpose: str,
    application_ref: str | None,
    subject: str | None,
    outcome: str = "read",
    hall: str | None = None,
    department: str | None = None,
    service: str = "forms",
    at: datetime | None = None,
) -> None:
    values: dict[str, Any] = {
        "applicant_id": applicant_id,
        "reader": reader[:100],
        "roles": ",".join(sorted(roles))[:200],
        "purpose": purpose,
        "application_ref": application_ref,
        "subject": subject,
        "outcome": outcome,
        "hall": hall[:40] if hall else None,
        "department": department[:40] if department else None,
        "service": service[:20],
    }
    if at is not None:
        values["at"] = at
    await session.execute(insert(ProfileRead).values(**values))


async def applicants_read_since(session: AsyncSession, *, reader: str, seconds: int) -> set[str]:
    """The applicants whose data ``reader`` read (not refused) in the last ``seconds``."""
    rows = await session.execute(
        select(ProfileRead.applicant_id)
        .where(
            ProfileRead.reader == reader[:100],
            ProfileRead.at > func.now() - text(f"interval '{int(seconds)} seconds'"),
            ProfileRead.outcome == "read",
        )
        .distinct()
    )
    return set(rows.scalars())


async def reads(session: AsyncSession, *, applicant_id: str, limit: int, offset: int) -> Sequence[ProfileRead]:
    return (
        await session.execute(
            select(ProfileRead)
            .where(ProfileRead.applicant_id == applicant_id)
            .order_by(ProfileRead.at.desc(), ProfileRead.id.desc())
            .limit(limit)
            .offset(offset)
        )
    ).scalars().all()


async def list_profiles(session: AsyncSession, *, applicant_type: str | None, limit: int, offset: int) -> list[Row[Any]]:
    """Profiles, most recently updated first, with how many values each holds."""
    counts = (
        select(ProfileValue.applicant_id, func.count().label("values"), func.count().filter(ProfileValue.verified).label("verified"))
        .group_by(ProfileValue.applicant_id)
        .subquery()
    )
    query = (
        select(Profile.applicant_id, Profile.applicant_type, Profile.updated_at,
               func.coalesce(counts.c["values"], 0).label("values"), func.coalesce(counts.c.verified, 0).label("verified"))
        .outerjoin(counts, counts.c.applicant_id == Profile.applicant_id)
        .order_by(Profile.updated_at.desc(), Profile.applicant_id)
        .limit(limit)
        .offset(offset)
    )
    if applicant_type is not None:
        query = query.where(Profile.applicant_type == applicant_type)
    return list(await session.execute(query))
