"""Forms event handlers: thin, one transaction each (inbox check happens in the bus)."""

from services.forms import access, learning
from shared.events.applications import ApplicationAccepted, ApplicationViewed
from shared.events.approvals import TaskViewed
from shared.events.licences import LicenceIssued, LicenceRevoked, LicenceViewed
from shared.handlers import ConsumerSpec, Delivery


async def on_application_accepted(event: ApplicationAccepted, ctx: Delivery[None]) -> None:
    """The submitted values become applicant-declared profile values."""
    await learning.learn_from_application(ctx.session, event=event)


async def on_licence_issued(event: LicenceIssued, ctx: Delivery[None]) -> None:
    """The licence satisfies its material from now on; its data become verified profile values."""
    await learning.learn_from_licence(ctx.session, event=event)


async def on_licence_revoked(event: LicenceRevoked, ctx: Delivery[None]) -> None:
    """A revoked licence satisfies nothing and vouches for nothing any more."""
    await learning.forget_licence(ctx.session, event=event)


# Another service showed the applicant's data in full: the read joins the applicant's access log (once:
# the bus's inbox drops a redelivery). One handler per type: each is annotated with the type it takes.
async def on_application_viewed(event: ApplicationViewed, ctx: Delivery[None]) -> None:
    """acceptance showed an application, its receipt or notices."""
    await access.record_viewed_elsewhere(ctx.session, event=event, service=ctx.envelope.producer)


async def on_task_viewed(event: TaskViewed, ctx: Delivery[None]) -> None:
    """approval showed a task."""
    await access.record_viewed_elsewhere(ctx.session, event=event, service=ctx.envelope.producer)


async def on_licence_viewed(event: LicenceViewed, ctx: Delivery[None]) -> None:
    """issuance showed a licence."""
    await access.record_viewed_elsewhere(ctx.session, event=event, service=ctx.envelope.producer)


CONSUMERS: list[ConsumerSpec] = [
    ConsumerSpec(
        group="forms",
        handlers={
            ApplicationAccepted: on_application_accepted,
            LicenceIssued: on_licence_issued,
            LicenceRevoked: on_licence_revoked,
        },
    ),
    # the access log on its own group: reads are frequent, and learning never waits behind them
    ConsumerSpec(
        group="forms-access-log",
        handlers={
            ApplicationViewed: on_application_viewed,
            TaskViewed: on_task_viewed,
            LicenceViewed: on_licence_viewed,
        },
    ),
]
