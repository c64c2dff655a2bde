"""Notification senders: pluggable; the default one logs (masked) instead of sending SMS or app pushes."""

import importlib
from typing import Protocol

from services.issuance.config import IssuanceSettings
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
