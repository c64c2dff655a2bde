"""Events of the issuance service: ``licences`` stream (licence.*, delivery.*) and ``notifications``."""

from datetime import date, datetime
from typing import Any

from shared.events.envelope import Event, PersonalDataViewed


class LicenceIssued(Event):
    """An electronic licence entered the licence library (电子证照库)."""

    TYPE = "licence.issued"
    STREAM = "licences"

    licence_no: str
    licence_type: str
    holder_type: str
    holder_id: str
    holder_name: str
    issuing_department: str
    valid_from: date
    valid_until: date | None = None
    data: dict[str, Any] = {}
    application_id: str
    item_id: str
    matter_code: str
    issued_at: datetime
    application_no: str | None = None
    key_id: str | None = None  # the issuance public key (GET /licences/public-key) that signed it
    signature: str | None = None  # base64url Ed25519 over the canonical licence

    def aggregate_key(self) -> str:
        return self.licence_no


class LicenceRevoked(Event):
    """A licence was revoked (e.g. a failed post-check)."""

    TYPE = "licence.revoked"
    STREAM = "licences"

    licence_no: str
    licence_type: str
    holder_id: str
    application_id: str | None = None
    reason: str
    revoked_at: datetime

    def aggregate_key(self) -> str:
        return self.licence_no


class ResultReady(Event):
    """Results of an application wait for pickup (or mailing) at the collection hall."""

    TYPE = "delivery.result_ready"
    STREAM = "licences"

    application_id: str
    collect_hall: str
    item_ids: list[str]
    licence_nos: list[str] = []
    at: datetime
    application_no: str | None = None
    notice_nos: list[str] = []  # decision notices (approval without licence, or denial)
    denied_item_ids: list[str] = []
    on_the_spot: bool = False

    def aggregate_key(self) -> str:
        return self.application_id


class ResultCollected(Event):
    """Results were handed over at a window, or mailed (``method`` = pickup | mail)."""

    TYPE = "delivery.collected"
    STREAM = "licences"

    application_id: str
    method: str
    hall: str | None = None
    tracking_no: str | None = None
    at: datetime
    carrier: str | None = None
    item_ids: list[str] = []
    licence_nos: list[str] = []

    def aggregate_key(self) -> str:
        return self.application_id


class ResultTransferred(Event):
    """Results waiting for pickup were moved to another hall's issuance window."""

    TYPE = "delivery.transferred"
    STREAM = "licences"

    application_id: str
    from_hall: str
    to_hall: str
    at: datetime
    requested_by: str | None = None  # holder | collect_hall (None: before this was recorded)

    def aggregate_key(self) -> str:
        return self.application_id


class NotificationRequested(Event):
    """Ask the notification sender to tell someone something (SMS or app)."""

    TYPE = "notification.requested"
    STREAM = "notifications"

    notification_id: str
    channel: str  # sms | app
    recipient: str
    template: str
    params: dict[str, Any] = {}
    application_id: str | None = None
    at: datetime

    def aggregate_key(self) -> str:
        return self.application_id or self.notification_id


class LicenceViewed(PersonalDataViewed):
    """Someone read a licence in full (holder's data, canonical text, signature)."""

    TYPE = "licence.viewed"
    STREAM = "licences"
