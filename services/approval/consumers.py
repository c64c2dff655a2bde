"""Approval event handlers: thin, one transaction each (the bus does the inbox check).

The service's dependencies (``Delivery.deps``) are its working-day clock.
"""

from services.approval import bundles, liaison, pauses, tasks
from services.approval.deadlines import ServiceClock
from shared.events.applications import ApplicationAccepted, ApplicationSupplemented
from shared.events.catalog import MatterPublished
from shared.events.licences import LicenceIssued
from shared.handlers import ConsumerSpec, Delivery


async def on_application_accepted(event: ApplicationAccepted, ctx: Delivery[ServiceClock]) -> None:
    """Open one approval task per matter of the accepted application."""
    await tasks.open_tasks(
        ctx.session, outbox=ctx.outbox, event=event, clock=ctx.deps, correlation_id=ctx.correlation_id
    )


async def on_application_supplemented(event: ApplicationSupplemented, ctx: Delivery[ServiceClock]) -> None:
    """Resume supplement-paused tasks and tick off committed materials."""
    await pauses.apply_supplement(ctx.session, event=event, clock=ctx.deps)


async def on_matter_published(event: MatterPublished, ctx: Delivery[ServiceClock]) -> None:
    """Remember the matter's department and whether it has approvers in the hall (liaison routing)."""
    await liaison.record_department(ctx.session, event=event)


async def on_licence_issued(event: LicenceIssued, ctx: Delivery[ServiceClock]) -> None:
    """A licence of one of our applications: bundle members waiting for it open (their material satisfied)."""
    await bundles.licence_issued(ctx.session, event=event, clock=ctx.deps, outbox=ctx.outbox)


CONSUMERS: list[ConsumerSpec] = [
    ConsumerSpec(
        group="approval",
        handlers={
            ApplicationAccepted: on_application_accepted,
            ApplicationSupplemented: on_application_supplemented,
            MatterPublished: on_matter_published,
            LicenceIssued: on_licence_issued,
        },
    )
]
