"""Acceptance event handlers: thin, one transaction each (the bus does the inbox check).

Progress steps are recorded at the event's ``occurred_at`` (when it happened at its producer), never
at arrival: progress.py orders the history and moves statuses by it.
"""

from services.acceptance import progress, read_models
from shared.events.approvals import (
    ApprovalDecided,
    ApprovalOverdue,
    ApprovalTaskOpened,
    DecisionRevoked,
    SupplementRequested,
)
from shared.events.catalog import BundlePublished, MatterPublished
from shared.events.licences import LicenceIssued, LicenceRevoked, ResultCollected, ResultReady
from shared.events.ticketing import HallPublished, TicketCalled
from shared.handlers import ConsumerSpec, Delivery


async def on_matter_published(event: MatterPublished, ctx: Delivery[None]) -> None:
    """Keep the local matter read model."""
    await read_models.record_matter(ctx.session, event=event)


async def on_bundle_published(event: BundlePublished, ctx: Delivery[None]) -> None:
    """Keep the local bundle read model."""
    await read_models.record_bundle(ctx.session, event=event)


async def on_ticket_called(event: TicketCalled, ctx: Delivery[None]) -> None:
    """A window called a ticket: the clerk may open an application from it."""
    await read_models.record_called_ticket(ctx.session, event=event, correlation_id=ctx.correlation_id)


async def on_hall_published(event: HallPublished, ctx: Delivery[None]) -> None:
    """Ticketing created, changed, closed down or reopened a hall: collection halls are checked against it."""
    await read_models.record_hall(ctx.session, event=event)


async def on_task_opened(event: ApprovalTaskOpened, ctx: Delivery[None]) -> None:
    """A department took the item into approval."""
    note = f"due {event.promised_due}" if event.promised_due else None
    await progress.follow(ctx.session, application_id=event.application_id, item_id=event.item_id, status="in_approval",
                          source=event.TYPE, at=ctx.envelope.occurred_at, note=note, task_id=event.task_id)


async def on_supplement_requested(event: SupplementRequested, ctx: Delivery[None]) -> None:
    """The approver asked for a supplement (补正)."""
    note = f"materials: {', '.join(event.materials)}" if event.materials else None
    await progress.follow(ctx.session, application_id=event.application_id, item_id=event.item_id,
                          status="supplement_requested", source=event.TYPE, at=ctx.envelope.occurred_at, note=note,
                          task_id=event.task_id)


async def on_decided(event: ApprovalDecided, ctx: Delivery[None]) -> None:
    """The department decided the item."""
    status = "approved" if event.decision == "approved" else "denied"
    await progress.follow(ctx.session, application_id=event.application_id, item_id=event.item_id, status=status,
                          source=event.TYPE, at=ctx.envelope.occurred_at, task_id=event.task_id)


async def on_overdue(event: ApprovalOverdue, ctx: Delivery[None]) -> None:
    """The item passed its promised date (history only)."""
    await progress.follow(ctx.session, application_id=event.application_id, item_id=None, status=None,
                          source=event.TYPE, at=ctx.envelope.occurred_at, note=f"overdue: {event.matter_code}",
                          history_status="overdue")


async def on_decision_revoked(event: DecisionRevoked, ctx: Delivery[None]) -> None:
    """A post-check revoked the decision."""
    await progress.follow(ctx.session, application_id=event.application_id, item_id=event.item_id, status="revoked",
                          source=event.TYPE, at=ctx.envelope.occurred_at)


async def on_licence_issued(event: LicenceIssued, ctx: Delivery[None]) -> None:
    """The item's licence entered the licence library."""
    await progress.follow(ctx.session, application_id=event.application_id, item_id=event.item_id,
                          status="licence_issued", source=event.TYPE, at=ctx.envelope.occurred_at,
                          licence_no=event.licence_no)


async def on_licence_revoked(event: LicenceRevoked, ctx: Delivery[None]) -> None:
    """A licence of the application was revoked (history)."""
    await progress.follow(ctx.session, application_id=event.application_id, item_id=None, status=None,
                          source=event.TYPE, at=ctx.envelope.occurred_at, note=f"licence revoked: {event.licence_type}",
                          history_status="licence_revoked")


async def on_result_ready(event: ResultReady, ctx: Delivery[None]) -> None:
    """Results wait at the collection hall."""
    await progress.follow(ctx.session, application_id=event.application_id, item_id=None, status=None,
                          source=event.TYPE, at=ctx.envelope.occurred_at, app_status="result_ready")


async def on_collected(event: ResultCollected, ctx: Delivery[None]) -> None:
    """Results were collected or mailed."""
    await progress.follow(ctx.session, application_id=event.application_id, item_id=None, status=None,
                          source=event.TYPE, at=ctx.envelope.occurred_at, app_status="collected", note=event.method)


CONSUMERS: list[ConsumerSpec] = [
    ConsumerSpec(
        group="acceptance",
        handlers={
            MatterPublished: on_matter_published,
            BundlePublished: on_bundle_published,
            TicketCalled: on_ticket_called,
            HallPublished: on_hall_published,
            ApprovalTaskOpened: on_task_opened,
            SupplementRequested: on_supplement_requested,
            ApprovalDecided: on_decided,
            ApprovalOverdue: on_overdue,
            DecisionRevoked: on_decision_revoked,
            LicenceIssued: on_licence_issued,
            LicenceRevoked: on_licence_revoked,
            ResultReady: on_result_ready,
            ResultCollected: on_collected,
        },
    )
]
