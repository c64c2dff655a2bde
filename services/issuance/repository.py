"""Every query of the issuance service."""

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.issuance.models import (
    Application,
    Hall,
    Licence,
    NotificationLog,
    PickupCheck,
    PickupCode,
    Result,
)
from shared.db import upsert_newer


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
            select(Application)
            .where(Application.application_id == application_id)
            .with_for_update()
            .execution_options(populate_existing=True)
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




async def upsert_hall(session: AsyncSession, *, values: dict[str, Any]) -> None:
    """Insert or replace a hall unless a newer version of it is already held (a late copy changes nothing)."""
    await upsert_newer(session, Hall, values=values, version="hall_version")

async def get_hall(session: AsyncSession, code: str) -> Hall | None:
    return await session.get(Hall, code)


async def get_pickup_code(session: AsyncSession, application_id: str) -> PickupCode | None:
    return await session.get(PickupCode, application_id, populate_existing=True)


async def put_pickup_code(session: AsyncSession, *, values: dict[str, Any]) -> None:
    """Store the application's new pickup code (hash), replacing the previous one."""
    stmt = insert(PickupCode).values(**values)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[PickupCode.application_id],
            set_={k: stmt.excluded[k] for k in values if k != "application_id"},
        )
    )


async def spend_pickup_code_try(session: AsyncSession, *, application_id: str) -> None:
    """Count one wrong try of the application's pickup code."""
    await session.execute(
        update(PickupCode)
        .where(PickupCode.application_id == application_id)
        .values(tries=PickupCode.tries + 1)
        .execution_options(synchronize_session=False)
    )


async def use_pickup_code(session: AsyncSession, *, application_id: str, now: datetime) -> bool:
    """Mark the pickup code used (once)."""
    result = await session.execute(
        update(PickupCode)
        .where(PickupCode.application_id == application_id, PickupCode.used_at.is_(None))
        .values(used_at=now)
        .returning(PickupCode.application_id)
        .execution_options(synchronize_session=False)
    )
    return result.first() is not None


async def add_pickup_check(session: AsyncSession, *, values: dict[str, Any]) -> int:
    """Record a step of the identity check; its id."""
    check = PickupCheck(**values)
    session.add(check)
    await session.flush()
    return check.id


async def pass_pickup_check(session: AsyncSession, check_id: int) -> None:
    await session.execute(
        update(PickupCheck)
        .where(PickupCheck.id == check_id)
        .values(outcome="passed")
        .execution_options(synchronize_session=False)
    )


async def count_pickup_checks(
    session: AsyncSession, *, application_id: str, since: datetime, methods: tuple[str, ...], outcome: str
) -> tuple[int, datetime | None]:
    """How many checks of ``methods`` with ``outcome`` the application had after ``since``, and the oldest's time."""
    row = (
        await session.execute(
            select(func.count(), func.min(PickupCheck.at)).where(
                PickupCheck.application_id == application_id,
                PickupCheck.at > since,
                PickupCheck.method.in_(methods),
                PickupCheck.outcome == outcome,
            )
        )
    ).one()
    return int(row[0]), row[1]


async def pickup_checks_of(session: AsyncSession, application_id: str) -> list[PickupCheck]:
    return list(
        (
            await session.execute(
                select(PickupCheck).where(PickupCheck.application_id == application_id).order_by(PickupCheck.id)
            )
        ).scalars()
    )
