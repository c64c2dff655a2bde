"""Approval event handlers: thin, one transaction each (the bus does the inbox check)."""

from sqlalchemy.ext.asyncio import AsyncSession

from services.approval import service
from services.approval.service import ServiceClock
from shared.events import Envelope, Event
from shared.events.applications import ApplicationAccepted, ApplicationSupplemented
from shared.outbox import Outbox
from shared.service_app import ConsumerSpec


def build_consumers(*, outbox: Outbox, clock: ServiceClock) -> list[ConsumerSpec]:
    """The approval consumer group; handlers write events through ``outbox`` and count days on ``clock``."""

    async def on_application_accepted(envelope: Envelope, event: Event, session: AsyncSession) -> None:
        """Open one approval task per matter of the accepted application."""
        assert isinstance(event, ApplicationAccepted)
        await service.open_tasks(session, outbox=outbox, event=event, clock=clock)

    async def on_application_supplemented(envelope: Envelope, event: Event, session: AsyncSession) -> None:
        """Resume supplement-paused tasks and tick off committed materials."""
        assert isinstance(event, ApplicationSupplemented)
        await service.apply_supplement(session, event=event, clock=clock)

    return [
        ConsumerSpec(
            group="approval",
            streams=["applications"],
            handlers={
                ApplicationAccepted.TYPE: on_application_accepted,
                ApplicationSupplemented.TYPE: on_application_supplemented,
            },
        )
    ]
