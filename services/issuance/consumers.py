"""Issuance event handlers: thin, one transaction each (the bus does the inbox check).

Handlers need the outbox, the licence signing key and the notification sender, so the consumer
specs are built by ``build(...)`` from the app's settings instead of a module-level list.
"""

from sqlalchemy.ext.asyncio import AsyncSession

from services.issuance import service
from services.issuance.config import IssuanceSettings
from services.issuance.models import backbone
from services.issuance.notify import Sender
from services.issuance.signing import LicenceSigner
from shared.events import Envelope
from shared.events.applications import ApplicationAccepted
from shared.events.approvals import ApprovalDecided, DecisionRevoked
from shared.events.licences import NotificationRequested
from shared.outbox import Outbox
from shared.service_app import ConsumerSpec


def build(*, settings: IssuanceSettings, signer: LicenceSigner, sender: Sender) -> list[ConsumerSpec]:
    """The issuance consumer groups: results (applications + approvals) and the notification sender."""
    deps = service.IssuanceDeps(
        outbox=Outbox(
            backbone.outbox_table, producer=settings.service_name, topic_prefix=settings.topic_prefix
        ),
        signer=signer,
        settings=settings,
    )

    async def on_application_accepted(
        envelope: Envelope, event: ApplicationAccepted, session: AsyncSession
    ) -> None:
        """Remember tracking code, applicant, collection hall and items."""
        await service.record_accepted(session, event=event, correlation_id=envelope.correlation_id, deps=deps)

    async def on_approval_decided(envelope: Envelope, event: ApprovalDecided, session: AsyncSession) -> None:
        """Record the decision; release the results once every item is decided."""
        await service.record_decision(session, event=event, correlation_id=envelope.correlation_id, deps=deps)

    async def on_decision_revoked(envelope: Envelope, event: DecisionRevoked, session: AsyncSession) -> None:
        """Revoke the licence of a revoked approval."""
        await service.revoke_decision(session, event=event, deps=deps)

    async def on_notification_requested(
        envelope: Envelope, event: NotificationRequested, session: AsyncSession
    ) -> None:
        """Hand the notification to the configured sender."""
        await service.deliver_notification(session, notification=event, sender=sender)

    return [
        ConsumerSpec(
            group="issuance",
            streams=["applications", "approvals"],
            handlers={
                ApplicationAccepted.TYPE: on_application_accepted,  # type: ignore[dict-item]
                ApprovalDecided.TYPE: on_approval_decided,  # type: ignore[dict-item]
                DecisionRevoked.TYPE: on_decision_revoked,  # type: ignore[dict-item]
            },
        ),
        ConsumerSpec(
            group="issuance-notifier",
            streams=["notifications"],
            handlers={NotificationRequested.TYPE: on_notification_requested},  # type: ignore[dict-item]
        ),
    ]
