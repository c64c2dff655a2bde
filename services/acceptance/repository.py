"""Every query of the acceptance service."""

from datetime import date, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.acceptance.models import (
    Application,
    ApplicationItem,
    Bundle,
    CalledTicket,
    DailyCounter,
    Hall,
    Matter,
    StatusEntry,
)
from shared.db import upsert_newer


async def upsert_matter(session: AsyncSession, *, values: dict[str, Any]) -> None:
    """Insert or replace a matter unless a newer catalogue version is already held."""
    await upsert_newer(session, Matter, values=values, version="catalog_version", replace_equal=True)

async def upsert_bundle(session: AsyncSession, *, values: dict[str, Any]) -> None:
    """Insert or replace a bundle unless a newer catalogue version is already held."""
    await upsert_newer(session, Bundle, values=values, version="catalog_version", replace_equal=True)

async def upsert_ticket(session: AsyncSession, *, values: dict[str, Any]) -> None:
    """Record (or refresh) a called ticket."""
    stmt = insert(CalledTicket).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[CalledTicket.ticket_id], set_={k: stmt.excluded[k] for k in values if k != "ticket_id"}
    )
    await session.execute(stmt)


async def upsert_hall(session: AsyncSession, *, values: dict[str, Any]) -> None:
    """Insert or replace a hall unless a newer version of it is already held (a late copy changes nothing)."""
    await upsert_newer(session, Hall, values=values, version="hall_version")

async def get_hall(session: AsyncSession, *, code: str) -> Hall | None:
    return await session.get(Hall, code)


async def get_matters(session: AsyncSession, *, codes: list[str]) -> dict[str, Matter]:
    """Matters by code (absent codes are missing from the result)."""
    rows = (await session.execute(select(Matter).where(Matter.code.in_(codes)))).scalars().all()
    return {m.code: m for m in rows}


async def get_bundle(session: AsyncSession, *, code: str) -> Bundle | None:
    return await session.get(Bundle, code)


async def get_ticket(session: AsyncSession, *, ticket_id: str) -> CalledTicket | None:
    return await session.get(CalledTicket, ticket_id)


async def next_number(session: AsyncSession, *, hall: str, day: date) -> int:
    """The next application sequence number of ``hall`` on ``day`` (row-locked, no gaps on commit)."""
    stmt = (
        insert(DailyCounter)
        .values(hall=hall, day=day, last=1)
        .on_conflict_do_update(
            index_elements=[DailyCounter.hall, DailyCounter.day], set_={"last": DailyCounter.last + 1}
        )
        .returning(DailyCounter.last)
    )
    return (await session.execute(stmt)).scalar_one()


async def get_application(session: AsyncSession, *, application_id: str, lock: bool = False) -> Application | None:
    return await session.get(Application, application_id, with_for_update=lock)


async def lock_with_items(
    session: AsyncSession, *, application_id: str
) -> tuple[Application, list[ApplicationItem]] | None:
    """The application locked for a change and its items in order, in one statement (it was two on every
    event acceptance follows and every submit); None if there is no such application."""
    stmt = (
        select(Application, ApplicationItem)
        .outerjoin(ApplicationItem, ApplicationItem.application_id == Application.id)
        .where(Application.id == application_id)
        .order_by(ApplicationItem.position)
        .with_for_update(of=Application)
        .execution_options(populate_existing=True)
    )
    rows = (await session.execute(stmt)).all()
    if not rows:
        return None
    return rows[0][0], [item for _, item in rows if item is not None]


async def get_by_idempotency_key(session: AsyncSession, *, created_by: str, key: str) -> Application | None:
    stmt = select(Application).where(Application.created_by == created_by, Application.idempotency_key == key)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_by_tracking_code(session: AsyncSession, *, tracking_code: str) -> Application | None:
    stmt = select(Application).where(Application.tracking_code == tracking_code)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_items(session: AsyncSession, *, application_id: str) -> list[ApplicationItem]:
    stmt = (
        select(ApplicationItem)
        .where(ApplicationItem.application_id == application_id)
        .order_by(ApplicationItem.position)
    )
    return list((await session.execute(stmt)).scalars().all())


async def get_history(session: AsyncSession, *, application_id: str) -> list[StatusEntry]:
    """An application's history in the order things happened (arrival order breaks ties)."""
    stmt = (
        select(StatusEntry)
        .where(StatusEntry.application_id == application_id)
        .order_by(StatusEntry.at, StatusEntry.id)
    )
    return list((await session.execute(stmt)).scalars().all())


async def add_history(
    session: AsyncSession,
    *,
    application_id: str,
    status: str,
    at: datetime,
    source: str,
    item_id: str | None = None,
    note: str | None = None,
) -> None:
    session.add(
        StatusEntry(application_id=application_id, item_id=item_id, status=status, note=note, source=source, at=at)
    )


async def note_history(session: AsyncSession, *, application_id: str, status: str, note: str) -> None:
    """Set the note of the application's (application-level) history entries of ``status``."""
    await session.execute(
        update(StatusEntry)
        .where(StatusEntry.application_id == application_id, StatusEntry.status == status,
               StatusEntry.item_id.is_(None))
        .values(note=note)
        .execution_options(synchronize_session=False)
    )


async def list_applications(
    session: AsyncSession,
    *,
    applicant_id: str | None = None,
    halls: list[str] | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Application]:
    """Applications, newest first; ``halls`` restricts to those accepted or collected there."""
    stmt = select(Application).order_by(Application.created_at.desc(), Application.id).limit(limit).offset(offset)
    if applicant_id is not None:
        stmt = stmt.where(Application.applicant_id == applicant_id)
    if halls is not None:
        stmt = stmt.where(Application.hall.in_(halls) | Application.collect_hall.in_(halls))
    if status is not None:
        stmt = stmt.where(Application.status == status)
    return list((await session.execute(stmt)).scalars().all())
