"""Identity event handlers: learn which mobile numbers applicants gave (one transaction each).

The service's dependencies (``Delivery.deps``) are its issuer, whose pepper hashes the numbers.
"""

from services.identity import applicants
from services.identity.issuer import Issuer
from shared.events.applications import ApplicationAccepted
from shared.handlers import ConsumerSpec, Delivery


async def on_application_accepted(event: ApplicationAccepted, ctx: Delivery[Issuer]) -> None:
    """The applicant's mobile number on an accepted application may receive login codes."""
    await applicants.learn_contact(
        ctx.session, issuer=ctx.deps, id_number=event.applicant.id_number, mobile=event.applicant.mobile
    )


CONSUMERS: list[ConsumerSpec] = [
    ConsumerSpec(group="identity", handlers={ApplicationAccepted: on_application_accepted}),
]
