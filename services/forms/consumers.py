"""Forms event handlers: thin, one transaction each (inbox check happens in the bus)."""

from services.forms import learning
from shared.events.applications import ApplicationAccepted
from shared.events.licences import LicenceIssued, LicenceRevoked
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


CONSUMERS: list[ConsumerSpec] = [
    ConsumerSpec(
        group="forms",
        handlers={
            ApplicationAccepted: on_application_accepted,
            LicenceIssued: on_licence_issued,
            LicenceRevoked: on_licence_revoked,
        },
    )
]
