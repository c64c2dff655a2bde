"""Approval event handlers: thin, one transaction each (the bus does the inbox check).

The service's dependencies (``Delivery.deps``) are its working-day clock.
"""

from services.approval import pauses, tasks
from services.approval.deadlines import ServiceClock
from shared.events.applications import ApplicationAccepted, ApplicationSupplemented
from shared.handlers import ConsumerSpec, Delivery


async def on_application_accepted(event: ApplicationAccepted, ctx: Delivery[ServiceClock]) -> None:
    """Open one approval task per matter of the accepted application."""
    await tasks.open_tasks(
        ctx.session, outbox=ctx.outbox, event=event, clock=ctx.deps, correlation_id=ctx.correlation_id
    )


async def on_application_supplemented(event: ApplicationSupplemented, ctx: Delivery[ServiceClock]) -> None:
    """Resume supplement-paused tasks and tick off committed materials."""
    await pauses.apply_supplement(ctx.session, event=event, clock=ctx.deps)


CONSUMERS: list[ConsumerSpec] = [
    ConsumerSpec(
        group="approval",
        handlers={
            ApplicationAccepted: on_application_accepted,
            ApplicationSupplemented: on_application_supplemented,
        },
    )
]
