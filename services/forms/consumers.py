"""Forms event handlers: thin, one transaction each (inbox check happens in the bus)."""

from sqlalchemy.ext.asyncio import AsyncSession

from services.forms import service
from shared.events import Envelope, Event
from shared.events.applications import ApplicationAccepted
from shared.events.licences import LicenceIssued, LicenceRevoked
from shared.service_app import ConsumerSpec


async def on_application_accepted(envelope: Envelope, event: Event, session: AsyncSession) -> None:
    """The submitted values become applicant-declared profile values."""
    assert isinstance(event, ApplicationAccepted)
    await service.learn_from_application(session, event=event)


async def on_licence_issued(envelope: Envelope, event: Event, session: AsyncSession) -> None:
    """The licence satisfies its material from now on; its data become verified profile values."""
    assert isinstance(event, LicenceIssued)
    await service.learn_from_licence(session, event=event)


async def on_licence_revoked(envelope: Envelope, event: Event, session: AsyncSession) -> None:
    """A revoked licence satisfies nothing and vouches for nothing any more."""
    assert isinstance(event, LicenceRevoked)
    await service.forget_licence(session, event=event)


CONSUMERS: list[ConsumerSpec] = [
    ConsumerSpec(
        group="forms",
        streams=["applications", "licences"],
        handlers={
            ApplicationAccepted.TYPE: on_application_accepted,
            LicenceIssued.TYPE: on_licence_issued,
            LicenceRevoked.TYPE: on_licence_revoked,
        },
    )
]
