"""Issuance tables, all in schema ``issuance``: applications waiting for results, results, licences."""

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import schema_metadata
from shared.service_app import Backbone


class Base(DeclarativeBase):
    """Every table of the issuance service, in its own schema."""

    metadata = schema_metadata("issuance")


backbone = Backbone(Base.metadata)


class Application(Base):
    """An application as issuance knows it: who collects what, where, and whether it was handed over.

    Created by ``application.accepted`` or, if a decision overtakes it, by ``approval.decided``
    (``accepted`` stays false until the acceptance event fills in the tracking code).
    """

    __tablename__ = "applications"

    application_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    application_no: Mapped[str | None] = mapped_column(String(64))
    tracking_code: Mapped[str | None] = mapped_column(String(64), unique=True)
    accepted: Mapped[bool] = mapped_column(Boolean, default=False)
    hall: Mapped[str | None] = mapped_column(String(32))  # where it was accepted
    collect_hall: Mapped[str] = mapped_column(String(32))
    transferred_from: Mapped[str | None] = mapped_column(String(32))
    bundle_code: Mapped[str | None] = mapped_column(String(64))
    applicant_type: Mapped[str] = mapped_column(String(20))
    applicant_id: Mapped[str] = mapped_column(String(32), index=True)
    applicant_name: Mapped[str] = mapped_column(String(200))
    applicant_mobile: Mapped[str | None] = mapped_column(String(20))
    item_ids: Mapped[list[str]] = mapped_column(JSONB, default=list)
    on_the_spot: Mapped[bool] = mapped_column(Boolean, default=False)
    correlation_id: Mapped[str | None] = mapped_column(String(200))
    # pending (waiting for decisions) | ready (released) | collected (picked up) | mailed
    status: Mapped[str] = mapped_column(String(20), default="pending")
    ready_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    collected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    collected_hall: Mapped[str | None] = mapped_column(String(32))
    collected_by: Mapped[str | None] = mapped_column(String(100))  # staff subject
    collected_window: Mapped[str | None] = mapped_column(String(32))
    delivery_method: Mapped[str | None] = mapped_column(String(10))  # pickup | mail
    carrier: Mapped[str | None] = mapped_column(String(50))
    mail_tracking_no: Mapped[str | None] = mapped_column(String(40))
    mail_address: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Result(Base):
    """One decided item of an application and, once released, the document it produced."""

    __tablename__ = "results"

    application_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("applications.application_id"), primary_key=True
    )
    item_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(64))
    matter_code: Mapped[str] = mapped_column(String(32))
    matter_name: Mapped[str] = mapped_column(String(200), default="")
    department: Mapped[str] = mapped_column(String(32))
    decision: Mapped[str] = mapped_column(String(20))  # approved | denied | revoked
    reason: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    result_licence_type: Mapped[str | None] = mapped_column(String(32))
    values: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # set on release: licence | approval_notice (准予决定书) | denial_notice (不予许可决定书)
    kind: Mapped[str | None] = mapped_column(String(20))
    document_no: Mapped[str | None] = mapped_column(String(40))
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Licence(Base):
    """An electronic licence (电子证照) with its signed canonical form."""

    __tablename__ = "licences"
    __table_args__ = (
        UniqueConstraint("application_id", "item_id"),
        Index("ix_licences_holder", "holder_id", "licence_type"),
    )

    licence_no: Mapped[str] = mapped_column(String(40), primary_key=True)
    licence_type: Mapped[str] = mapped_column(String(32))
    licence_type_name: Mapped[str] = mapped_column(String(200))
    holder_type: Mapped[str] = mapped_column(String(20))  # natural_person | legal_person
    holder_id: Mapped[str] = mapped_column(String(32))
    holder_name: Mapped[str] = mapped_column(String(200))
    issuing_department: Mapped[str] = mapped_column(String(32))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    application_id: Mapped[str] = mapped_column(String(64))
    item_id: Mapped[str] = mapped_column(String(64))
    matter_code: Mapped[str] = mapped_column(String(32))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20), default="valid")  # valid | revoked (expired is computed)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revocation_reason: Mapped[str | None] = mapped_column(Text)
    canonical: Mapped[str] = mapped_column(Text)  # the exact signed UTF-8 text
    signature: Mapped[str] = mapped_column(String(100))  # base64url Ed25519
    key_id: Mapped[str] = mapped_column(String(32))
    correlation_id: Mapped[str | None] = mapped_column(String(200))  # the flow's id (not part of the signed text)


class NotificationLog(Base):
    """What the sender delivered (recipient masked): proof that the citizen was told."""

    __tablename__ = "notification_log"

    notification_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    application_id: Mapped[str | None] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    recipient_masked: Mapped[str] = mapped_column(String(40))
    template: Mapped[str] = mapped_column(String(50))
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Hall(Base):
    """A hall as ticketing last published it (``hall.published``): where results may be transferred to."""

    __tablename__ = "halls"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10))  # open | closed (closed down, 撤并)
    hall_version: Mapped[int] = mapped_column(Integer)  # ticketing's count of the hall's changes: higher wins
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PickupCode(Base):
    """The current one-time pickup code of an application, sent to the holder: only its hash is kept.

    A new request replaces it; it is void once used, expired or tried ``pickup_code_max_tries`` times
    (wrong tries are counted in a transaction of their own, so a failed request cannot undo them).
    """

    __tablename__ = "pickup_codes"

    application_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64))  # hex scrypt(code, salt + application id)
    salt: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    tries: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    requested_by: Mapped[str] = mapped_column(String(100))  # staff subject


class PickupCheck(Base):
    """One step of checking a collector's identity at hand-over, kept as the pickup's audit trail.

    ``method``: ``id_number`` or ``pickup_code`` (a check), ``code_request`` (a code was sent).
    ``outcome``: ``failed`` (committed on its own before the request fails: the lock-out counts these),
    ``passed`` (in the hand-over's transaction) or ``sent``.
    """

    __tablename__ = "pickup_checks"
    __table_args__ = (Index("ix_pickup_checks_application_at", "application_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    application_id: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(10))
    hall: Mapped[str] = mapped_column(String(32))
    clerk: Mapped[str] = mapped_column(String(100))  # staff subject
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
