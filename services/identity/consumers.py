"""Identity event handlers: learn which mobile numbers applicants gave (one transaction each)."""

from sqlalchemy.ext.asyncio import AsyncSession

from services.identity import service
from shared.events import Envelope, Event
from shared.events.applications import ApplicationAccepted
from shared.service_app import ConsumerSpec


def make_consumers(issuer: service.Issuer) -> list[ConsumerSpec]:
    """The identity consumer group, bound to the issuer's pepper."""

    async def on_application_accepted(envelope: Envelope, event: Event, session: AsyncSession) -> None:
        """The applicant's mobile number on an accepted application may receive login codes."""
        assert isinstance(event, ApplicationAccepted)
        await service.learn_contact(
            session, issuer=issuer, id_number=event.applicant.id_number, mobile=event.applicant.mobile
        )

    return [
        ConsumerSpec(
            group="identity",
            streams=["applications"],
            handlers={ApplicationAccepted.TYPE: on_application_accepted},
        )
    ]
