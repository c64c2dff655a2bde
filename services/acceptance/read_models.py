"""Local read models of what other services publish: the catalogue's matters and bundles, called tickets, halls."""

from sqlalchemy.ext.asyncio import AsyncSession

from services.acceptance import repository as repo
from shared.events.catalog import BundlePublished, MatterPublished
from shared.events.ticketing import HallPublished, TicketCalled
from shared.problems import FieldError


async def record_matter(session: AsyncSession, *, event: MatterPublished) -> None:
    """Upsert a published matter (newer catalogue versions win)."""
    await repo.upsert_matter(
        session,
        values={
            "code": event.code,
            "catalog_version": event.catalog_version,
            "name": event.name,
            "department": event.department,
            "department_name": event.department_name,
            "applicant_type": event.applicant_type,
            "materials": [m.model_dump() for m in event.materials],
            "fields": list(event.fields),
            "legal_limit_working_days": event.legal_limit_working_days,
            "promised_limit_working_days": event.promised_limit_working_days,
            "on_the_spot": event.on_the_spot,
            "notify_commit_approval": event.notify_commit_approval,
            "result_licence_type": event.result_licence_type,
            "steps": list(event.steps),
        },
    )


async def record_bundle(session: AsyncSession, *, event: BundlePublished) -> None:
    """Upsert a published bundle."""
    await repo.upsert_bundle(
        session,
        values={
            "code": event.code,
            "catalog_version": event.catalog_version,
            "name": event.name,
            "lead_department": event.lead_department,
            "matters": list(event.matters),
            "members": [m.model_dump() for m in event.members],
        },
    )


async def record_called_ticket(session: AsyncSession, *, event: TicketCalled, correlation_id: str) -> None:
    """Remember a called ticket so the clerk can open an application from it."""
    await repo.upsert_ticket(
        session,
        values={
            "ticket_id": event.ticket_id,
            "hall": event.hall,
            "number": event.number,
            "matter_code": event.matter_code,
            "window": event.window,
            "staff_id": event.staff_id,
            "called_at": event.called_at,
            "correlation_id": correlation_id,
        },
    )


async def record_hall(session: AsyncSession, *, event: HallPublished) -> None:
    """Upsert a hall as ticketing published it (a higher ``hall_version`` wins)."""
    await repo.upsert_hall(session, values=event.read_model_row())


async def hall_errors(session: AsyncSession, *, code: str, field: str, unknown_ok: bool) -> list[FieldError]:
    """A hall results may wait at: open, and known to ticketing unless ``unknown_ok``; else one error on ``field``."""
    hall = await repo.get_hall(session, code=code)
    if hall is None:
        return [] if unknown_ok else [FieldError(field=field, message=f"{code}: 未知的领取大厅", type="unknown_hall")]
    if hall.status == "closed":
        return [FieldError(field=field, message=f"{code}: 该大厅已撤并", type="hall_closed_down")]
    return []


async def collect_hall_errors(session: AsyncSession, *, hall: str, collect_hall: str | None) -> list[FieldError]:
    """Opening a draft: another collect hall than the opening one must be known to ticketing and open.

    The opening hall itself (the default) is refused only when ticketing closed it down: a hall the read
    model has not heard of yet is the clerk's own (their token names it), and a new hall's event may lag.
    """
    errors = await hall_errors(session, code=hall, field="hall", unknown_ok=True)
    if collect_hall is not None and collect_hall != hall:
        errors += await hall_errors(session, code=collect_hall, field="collect_hall", unknown_ok=False)
    return errors
