"""Local read models of what other services publish: the catalogue's matters and bundles, called tickets."""

from sqlalchemy.ext.asyncio import AsyncSession

from services.acceptance import repository as repo
from shared.events.catalog import BundlePublished, MatterPublished
from shared.events.ticketing import TicketCalled


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
