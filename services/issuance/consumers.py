"""Issuance event handlers: thin, one transaction each (the bus does the inbox check).

The service's dependencies (``Delivery.deps``) are ``Resources``: the licence signing key, the
notification sender and the settings; the outbox comes with each delivery.
"""

from dataclasses import dataclass

from services.issuance import notify, repository, results, revocation
from services.issuance.config import IssuanceSettings
from services.issuance.deps import IssuanceDeps
from services.issuance.notify import Sender
from services.issuance.signing import LicenceSigner
from shared.events.applications import ApplicationAccepted
from shared.events.approvals import ApprovalDecided, DecisionRevoked
from shared.events.licences import NotificationRequested
from shared.events.ticketing import HallPublished
from shared.handlers import ConsumerSpec, Delivery


@dataclass(frozen=True)
class Resources:
    """What issuance handlers need besides the delivery: signing key, sender, settings."""

    signer: LicenceSigner
    sender: Sender
    settings: IssuanceSettings


def _deps(ctx: Delivery[Resources]) -> IssuanceDeps:
    return IssuanceDeps(outbox=ctx.outbox, signer=ctx.deps.signer, settings=ctx.deps.settings)


async def on_application_accepted(event: ApplicationAccepted, ctx: Delivery[Resources]) -> None:
    """Remember tracking code, applicant, collection hall and items."""
    await results.record_accepted(
        ctx.session, event=event, correlation_id=ctx.correlation_id, deps=_deps(ctx)
    )


async def on_approval_decided(event: ApprovalDecided, ctx: Delivery[Resources]) -> None:
    """Record the decision; release the results once every item is decided."""
    await results.record_decision(
        ctx.session, event=event, correlation_id=ctx.correlation_id, deps=_deps(ctx)
    )


async def on_decision_revoked(event: DecisionRevoked, ctx: Delivery[Resources]) -> None:
    """Revoke the licence of a revoked approval."""
    await revocation.revoke_decision(ctx.session, event=event, deps=_deps(ctx))


async def on_notification_requested(event: NotificationRequested, ctx: Delivery[Resources]) -> None:
    """Hand the notification to the configured sender."""
    await notify.deliver(ctx.session, notification=event, sender=ctx.deps.sender)


async def on_hall_published(event: HallPublished, ctx: Delivery[Resources]) -> None:
    """Remember the hall (a higher ``hall_version`` wins): results may be transferred to open halls only."""
    await repository.upsert_hall(ctx.session, values=event.read_model_row())


CONSUMERS: list[ConsumerSpec] = [
    # results: what was accepted and what each department decided
    ConsumerSpec(
        group="issuance",
        handlers={
            ApplicationAccepted: on_application_accepted,
            ApprovalDecided: on_approval_decided,
            DecisionRevoked: on_decision_revoked,
        },
    ),
    # its own group, so a slow SMS gateway never holds up releasing results
    ConsumerSpec(group="issuance-notifier", handlers={NotificationRequested: on_notification_requested}),
    # the halls read model, on its own: the ticketing stream is mostly tickets, which this group skips
    ConsumerSpec(group="issuance-halls", handlers={HallPublished: on_hall_published}),
]
