"""Acceptance event handlers: thin, one transaction each (the bus does the inbox check)."""

from sqlalchemy.ext.asyncio import AsyncSession

from services.acceptance import service
from shared.events import Envelope, Event
from shared.events.approvals import (
    ApprovalDecided,
    ApprovalOverdue,
    ApprovalTaskOpened,
    DecisionRevoked,
    SupplementRequested,
)
from shared.events.catalog import BundlePublished, MatterPublished
from shared.events.licences import LicenceIssued, LicenceRevoked, ResultCollected, ResultReady
from shared.events.ticketing import TicketCalled
from shared.service_app import ConsumerSpec


async def on_matter_published(envelope: Envelope, event: Event, session: AsyncSession) -> None:
    """Keep the local matter read model."""
    assert isinstance(event, MatterPublished)
    await service.record_matter(session, event=event)


async def on_bundle_published(envelope: Envelope, event: Event, session: AsyncSession) -> None:
    """Keep the local bundle read model."""
    assert isinstance(event, BundlePublished)
    await service.record_bundle(session, event=event)


async def on_ticket_called(envelope: Envelope, event: Event, session: AsyncSession) -> None:
    """A window called a ticket: the clerk may open an application from it."""
    assert isinstance(event, TicketCalled)
    await service.record_called_ticket(session, event=event, correlation_id=envelope.correlation_id)


async def on_task_opened(envelope: Envelope, event: Event, session: AsyncSession) -> None:
    """A department took the item into approval."""
    assert isinstance(event, ApprovalTaskOpened)
    note = f"due {event.promised_due}" if event.promised_due else None
    await service.follow(session, application_id=event.application_id, item_id=event.item_id, status="in_approval",
                         source=envelope.type, at=event.at, note=note, task_id=event.task_id)


async def on_supplement_requested(envelope: Envelope, event: Event, session: AsyncSession) -> None:
    """The approver asked for a supplement (补正)."""
    assert isinstance(event, SupplementRequested)
    note = f"materials: {', '.join(event.materials)}" if event.materials else None
    await service.follow(session, application_id=event.application_id, item_id=event.item_id,
                         status="supplement_requested", source=envelope.type, at=event.at, note=note,
                         task_id=event.task_id)


async def on_decided(envelope: Envelope, event: Event, session: AsyncSession) -> None:
    """The department decided the item."""
    assert isinstance(event, ApprovalDecided)
    status = "approved" if event.decision == "approved" else "denied"
    await service.follow(session, application_id=event.application_id, item_id=event.item_id, status=status,
                         source=envelope.type, at=event.decided_at, task_id=event.task_id)


async def on_overdue(envelope: Envelope, event: Event, session: AsyncSession) -> None:
    """The item passed its promised date (history only)."""
    assert isinstance(event, ApprovalOverdue)
    await service.follow(session, application_id=event.application_id, item_id=None, status=None,
                         source=envelope.type, at=event.at, note=f"overdue: {event.matter_code}")


async def on_decision_revoked(envelope: Envelope, event: Event, session: AsyncSession) -> None:
    """A post-check revoked the decision."""
    assert isinstance(event, DecisionRevoked)
    await service.follow(session, application_id=event.application_id, item_id=event.item_id, status="revoked",
                         source=envelope.type, at=event.at)


async def on_licence_issued(envelope: Envelope, event: Event, session: AsyncSession) -> None:
    """The item's licence entered the licence library."""
    assert isinstance(event, LicenceIssued)
    await service.follow(session, application_id=event.application_id, item_id=event.item_id,
                         status="licence_issued", source=envelope.type, at=event.issued_at,
                         licence_no=event.licence_no)


async def on_licence_revoked(envelope: Envelope, event: Event, session: AsyncSession) -> None:
    """A licence of the application was revoked (history)."""
    assert isinstance(event, LicenceRevoked)
    await service.follow(session, application_id=event.application_id, item_id=None, status=None,
                         source=envelope.type, at=event.revoked_at, note=f"licence revoked: {event.licence_type}")


async def on_result_ready(envelope: Envelope, event: Event, session: AsyncSession) -> None:
    """Results wait at the collection hall."""
    assert isinstance(event, ResultReady)
    await service.follow(session, application_id=event.application_id, item_id=None, status=None,
                         source=envelope.type, at=event.at, app_status="result_ready")


async def on_collected(envelope: Envelope, event: Event, session: AsyncSession) -> None:
    """Results were collected or mailed."""
    assert isinstance(event, ResultCollected)
    await service.follow(session, application_id=event.application_id, item_id=None, status=None,
                         source=envelope.type, at=event.at, app_status="collected", note=event.method)


CONSUMERS: list[ConsumerSpec] = [
    ConsumerSpec(
        group="acceptance",
        streams=["catalog", "ticketing", "approvals", "licences"],
        handlers={
            "catalog.matter_published": on_matter_published,
            "catalog.bundle_published": on_bundle_published,
            "ticket.called": on_ticket_called,
            "approval.task_opened": on_task_opened,
            "approval.supplement_requested": on_supplement_requested,
            "approval.decided": on_decided,
            "approval.overdue": on_overdue,
            "approval.decision_revoked": on_decision_revoked,
            "licence.issued": on_licence_issued,
            "licence.revoked": on_licence_revoked,
            "delivery.result_ready": on_result_ready,
            "delivery.collected": on_collected,
        },
    )
]
