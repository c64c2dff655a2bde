"""Every query of the issuance service."""

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.issuance.models import Application, Licence, NotificationLog, Result


async def insert_application_stub(session: AsyncSession, *, values: dict[str, Any]) -> None:
    """Create the application row unless it exists (a decision may arrive before the acceptance)."""
    await session.execute(insert(Application).values(**values).on_conflict_do_nothing())


async def upsert_accepted(session: AsyncSession, *, values: dict[str, Any]) -> None:
    """Create or complete the application from ``application.accepted`` (once: later copies change nothing).

    The acceptance's correlation id wins over the one a decision that overtook it brought along.
    """
    stmt = insert(Application).values(**values)
    updatable = {k: stmt.excluded[k] for k in values if k not in ("application_id", "status")}
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[Application.application_id],
            set_=updatable,
            where=Application.accepted.is_(False),
        )
    )


async def insert_result(session: AsyncSession, *, values: dict[str, Any]) -> bool:
    """Record a decided item; False if that item already had a decision (a duplicate)."""
    result = await session.execute(
        insert(Result).values(**values).on_conflict_do_nothing().returning(Result.item_id)
    )
    return result.first() is not None


async def lock_application(session: AsyncSession, application_id: str) -> Application | None:
    """The application, row-locked for the rest of the transaction."""
    return (
        await session.execute(
            select(Application).where(Application.application_id == application_id).with_for_update()
        )
    ).scalar_one_or_none()


async def get_application(session: AsyncSession, application_id: str) -> Application | None:
    return await session.get(Application, application_id)


async def by_tracking_code(session: AsyncSession, tracking_code: str) -> Application | None:
    return (
        await session.execute(select(Application).where(Application.tracking_code == tracking_code))
    ).scalar_one_or_none()


async def results_of(session: AsyncSession, application_id: str) -> list[Result]:
    return list(
        (
            await session.execute(
                select(Result).where(Result.application_id == application_id).order_by(Result.item_id)
            )
        ).scalars()
    )


async def get_result(session: AsyncSession, application_id: str, item_id: str) -> Result | None:
    return await session.get(Result, (application_id, item_id), with_for_update=True)


async def claim_for_delivery(session: AsyncSession, *, application_id: str, values: dict[str, Any]) -> bool:
    """Atomically move a ready application to collected/mailed; False if someone else got there first."""
    result = await session.execute(
        update(Application)
        .where(Application.application_id == application_id, Application.status == "ready")
        .values(**values)
        .returning(Application.application_id)
        .execution_options(synchronize_session=False)
    )
    return result.first() is not None


async def get_licence(session: AsyncSession, licence_no: str, *, lock: bool = False) -> Licence | None:
    return await session.get(Licence, licence_no, with_for_update=lock or None)


async def licence_for_item(session: AsyncSession, application_id: str, item_id: str) -> Licence | None:
    return (
        await session.execute(
            select(Licence)
            .where(Licence.application_id == application_id, Licence.item_id == item_id)
            .with_for_update()
        )
    ).scalar_one_or_none()


async def licences_of_holder(session: AsyncSession, holder_id: str, *, limit: int = 200) -> list[Licence]:
    return list(
        (
            await session.execute(
                select(Licence)
                .where(Licence.holder_id == holder_id)
                .order_by(Licence.issued_at.desc())
                .limit(limit)
            )
        ).scalars()
    )


async def log_notification(session: AsyncSession, *, values: dict[str, Any]) -> bool:
    """Record a delivered notification; False if it was already delivered."""
    result = await session.execute(
        insert(NotificationLog)
        .values(**values)
        .on_conflict_do_nothing()
        .returning(NotificationLog.notification_id)
    )
    return result.first() is not None
