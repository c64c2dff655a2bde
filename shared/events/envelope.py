"""The one envelope every event travels in, and the base class of every event payload."""

import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7): sorts by creation time, indexes well."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return uuid.UUID(int=value)


class Envelope(BaseModel):
    """Metadata around a payload; ``key`` is the aggregate id and the Kafka partition key."""

    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID = Field(default_factory=uuid7)
    type: str = Field(examples=["application.accepted"])
    version: int = 1
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    producer: str
    key: str
    correlation_id: str = Field(description="One id from ticket to licence.")
    causation_id: str | None = Field(default=None, description="Id of the event that caused this one.")
    hall: str | None = None
    payload: dict[str, Any]

    @classmethod
    def wrap(
        cls,
        event: "Event",
        *,
        producer: str,
        correlation_id: str,
        key: str | None = None,
        causation_id: str | None = None,
        hall: str | None = None,
    ) -> "Envelope":
        """The envelope of ``event`` as its producer publishes it (key defaults to the aggregate id)."""
        return cls(
            type=event.TYPE,
            version=event.VERSION,
            producer=producer,
            key=key or event.aggregate_key(),
            correlation_id=correlation_id,
            causation_id=causation_id,
            hall=hall,
            payload=event.model_dump(mode="json"),
        )


class Event(BaseModel):
    """Base of every event payload. Subclasses set TYPE (past tense), STREAM (topic) and VERSION."""

    model_config = ConfigDict(extra="ignore")

    TYPE: ClassVar[str]
    STREAM: ClassVar[str]
    VERSION: ClassVar[int] = 1

    def aggregate_key(self) -> str:
        """The aggregate id used as Kafka key; subclasses override when it is not ``id``."""
        raise NotImplementedError


class PersonalDataViewed(Event):
    """Someone read an applicant's personal data in full (a record, a printed document, a licence).

    Each service that shows personal data in full publishes its own kind on its own stream
    (``application.viewed``, ``approval.task_viewed``, ``licence.viewed``); forms writes them into the
    applicant's access log beside its own reads (docs/security.md, "Access log")."""

    applicant_id: str
    reader: str  # the token's subject
    roles: list[str]
    hall: str | None = None  # where the reader acted: the object's hall their scope covers
    department: str | None = None  # for department staff
    purpose: str  # what was read: application, receipt, notice, refusal, task, licence
    application_ref: str | None = None
    subject: str | None = None  # the matter, task or licence number
    at: datetime

    def aggregate_key(self) -> str:
        return self.applicant_id
