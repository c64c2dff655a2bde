"""Notifications: asking to tell the applicant (SMS or app), sending once per id, pluggable senders."""

import importlib
import uuid
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from services.issuance import repository
from services.issuance.config import IssuanceSettings
from services.issuance.deps import IssuanceDeps, emit
from services.issuance.models import Application
from shared.events.licences import NotificationRequested
from shared.observability import get_logger
from shared.privacy import mask_id_number, mask_mobile

log = get_logger(__name__)


class Sender(Protocol):
    """Delivers one notification; raise to have the consumer retry (and finally dead-letter) it."""

    async def send(self, notification: NotificationRequested) -> None: ...


def masked_recipient(notification: NotificationRequested) -> str:
    """The recipient as it may appear in logs and lists."""
    if notification.channel == "sms":
        return mask_mobile(notification.recipient) or ""
    return mask_id_number(notification.recipient) or ""


class LoggingSender:
    """Writes one log line per notification; recipient masked, parameters not logged."""

    async def send(self, notification: NotificationRequested) -> None:
        log.info(
            "notification sent (logging sender)",
            notification_id=notification.notification_id,
            channel=notification.channel,
            recipient=masked_recipient(notification),
            template=notification.template,
        )


def make_sender(settings: IssuanceSettings) -> Sender:
    """The configured sender: ``log`` or ``package.module:factory`` (called without arguments)."""
    spec = settings.notification_sender
    if spec == "log":
        return LoggingSender()
    module_name, _, attr = spec.partition(":")
    if not attr:
        raise ValueError("notification_sender must be 'log' or 'package.module:factory'")
    factory = getattr(importlib.import_module(module_name), attr)
    return factory()


async def request(
    session: AsyncSession,
    *,
    app: Application,
    template: str,
    params: dict[str, Any],
    now: datetime,
    deps: IssuanceDeps,
) -> None:
    """Ask for an SMS (mobile known) or an app message (to the applicant's account)."""
    channel, recipient = ("sms", app.applicant_mobile) if app.applicant_mobile else ("app", app.applicant_id)
    await emit(
        session,
        NotificationRequested(
            notification_id=str(uuid.uuid4()),
            channel=channel,
            recipient=recipient,
            template=template,
            params=params,
            application_id=app.application_id,
            at=now,
        ),
        app=app,
        deps=deps,
    )


async def deliver(session: AsyncSession, *, notification: NotificationRequested, sender: Sender) -> None:
    """Send once per notification id and record it (masked); a sender error makes the bus retry."""
    first = await repository.log_notification(
        session,
        values={
            "notification_id": notification.notification_id,
            "application_id": notification.application_id,
            "channel": notification.channel,
            "recipient_masked": masked_recipient(notification)[:40],
            "template": notification.template,
        },
    )
    if first:
        await sender.send(notification)
