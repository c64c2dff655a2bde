"""Notifications: the channel (SMS or app), sending once per notification id, the configured sender."""

import uuid
from datetime import UTC, datetime

import pytest

from services.issuance import notify
from services.issuance.config import IssuanceSettings
from services.issuance.models import Application
from shared.events.licences import NotificationRequested
from tests.issuance.issuance_helpers import Issuance, RecordingSender, unique


def requested(channel: str, recipient: str, *, application_id: str | None = None) -> NotificationRequested:
    return NotificationRequested(
        notification_id=str(uuid.uuid4()),
        channel=channel,
        recipient=recipient,
        template="result_ready",
        params={"application_no": "ZS2026000001"},
        application_id=application_id,
        at=datetime.now(UTC),
    )


def test_recipients_are_masked_for_logs_and_lists() -> None:
    assert notify.masked_recipient(requested("sms", "13912345678")) == "139****5678"
    assert notify.masked_recipient(requested("app", "110101199003071234")) == "110101********1234"


def test_the_configured_sender() -> None:
    assert isinstance(notify.make_sender(IssuanceSettings()), notify.LoggingSender)  # the default: log
    custom = notify.make_sender(IssuanceSettings(notification_sender="tests.issuance.issuance_helpers:RecordingSender"))
    assert isinstance(custom, RecordingSender)
    with pytest.raises(ValueError, match="package.module:factory"):
        notify.make_sender(IssuanceSettings(notification_sender="issuance_helpers"))


async def test_sms_when_a_mobile_is_known_else_the_applicants_app(iss: Issuance) -> None:
    with_mobile = Application(
        application_id=unique("APP"),
        applicant_id="110101199003071234",
        applicant_mobile="13912345678",
        correlation_id=unique("corr"),
    )
    without_mobile = Application(
        application_id=unique("APP"),
        applicant_id="91442000MA4W0XKL3N",
        applicant_mobile=None,
        correlation_id=unique("corr"),
    )
    async with iss.runtime.sessionmaker() as session:  # never committed: nothing is sent
        for app in (with_mobile, without_mobile):
            await notify.request(
                session,
                app=app,
                template="result_ready",
                params={"results": 1},
                now=datetime.now(UTC),
                deps=iss.deps(),
            )
        [sms] = await iss.staged(session, with_mobile.application_id)
        [app_message] = await iss.staged(session, without_mobile.application_id)
    assert (sms["type"], sms["correlation_id"]) == ("notification.requested", with_mobile.correlation_id)
    assert (sms["payload"]["channel"], sms["payload"]["recipient"]) == ("sms", "13912345678")
    assert (app_message["payload"]["channel"], app_message["payload"]["recipient"]) == (
        "app",
        "91442000MA4W0XKL3N",
    )
    assert app_message["payload"]["params"] == {"results": 1}
    assert sms["payload"]["notification_id"] != app_message["payload"]["notification_id"]


async def test_delivered_once_per_notification_id_and_retried_after_a_sender_error(iss: Issuance) -> None:
    application_id = unique("APP")
    notification = requested("sms", "13912345678", application_id=application_id)
    down = RecordingSender(fail=True)
    with pytest.raises(ConnectionError):
        async with iss.runtime.sessionmaker() as session, session.begin():
            await notify.deliver(session, notification=notification, sender=down)
    assert await iss.notifications_sent(application_id) == []  # rolled back: the redelivery will send

    sender = RecordingSender()
    for _ in range(2):  # the redelivery, then a duplicate
        async with iss.runtime.sessionmaker() as session, session.begin():
            await notify.deliver(session, notification=notification, sender=sender)
    assert sender.sent == [notification]
    [logged] = await iss.notifications_sent(application_id)
    assert (logged.notification_id, logged.channel, logged.recipient_masked, logged.template) == (
        notification.notification_id,
        "sms",
        "139****5678",
        "result_ready",
    )
