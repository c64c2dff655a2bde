"""Acceptance tables, all in schema ``acceptance``.

Read models fed by events (matters, bundles, called tickets, halls) and the service's own aggregate:
applications with their items (one per matter; a bundle has several) and one status history.
"""

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
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
    """Every table of the acceptance service, in its own schema."""

    metadata = schema_metadata("acceptance")


backbone = Backbone(Base.metadata)


class Matter(Base):
    """A matter (事项) as of the latest catalogue version seen (from catalog.matter_published)."""

    __tablename__ = "matters"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    catalog_version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    department: Mapped[str] = mapped_column(String(40))
    department_name: Mapped[str] = mapped_column(String(200), default="")
    applicant_type: Mapped[str] = mapped_column(String(20))
    materials: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    fields: Mapped[list[str]] = mapped_column(JSONB, default=list)
    legal_limit_working_days: Mapped[int] = mapped_column(Integer)
    promised_limit_working_days: Mapped[int] = mapped_column(Integer)
    on_the_spot: Mapped[bool] = mapped_column(Boolean, default=False)
    notify_commit_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    result_licence_type: Mapped[str | None] = mapped_column(String(40))
    steps: Mapped[list[str]] = mapped_column(JSONB, default=list)


class Bundle(Base):
    """A bundle (一件事) as of the latest catalogue version seen."""

    __tablename__ = "bundles"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    catalog_version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    lead_department: Mapped[str] = mapped_column(String(40))
    matters: Mapped[list[str]] = mapped_column(JSONB, default=list)
    # [{matter, position, needs: [{material, from_matter, licence_type}], parallel}] (BundlePublished.members)
    members: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list, server_default="[]")


class CalledTicket(Base):
    """A ticket a window called (from ticket.called); a clerk opens an application from it."""

    __tablename__ = "called_tickets"

    ticket_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hall: Mapped[str] = mapped_column(String(40))
    number: Mapped[str] = mapped_column(String(20))
    matter_code: Mapped[str] = mapped_column(String(40))
    window: Mapped[str] = mapped_column(String(40))
    staff_id: Mapped[str | None] = mapped_column(String(64))
    called_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    correlation_id: Mapped[str | None] = mapped_column(String(100))  # the ticket's: the application adopts it
    application_id: Mapped[str | None] = mapped_column(String(64))


class Hall(Base):
    """A hall as ticketing last published it (from hall.published): where results may wait for collection."""

    __tablename__ = "halls"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10))  # open | closed (closed down, 撤并)
    hall_version: Mapped[int] = mapped_column(Integer)  # ticketing's count of the hall's changes: higher wins
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # when ticketing changed it


class DailyCounter(Base):
    """Last application number handed out per hall per business day (readable numbers)."""

    __tablename__ = "daily_counters"

    hall: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Application(Base):
    """An application from draft to collection; status follows the back office through events."""

    __tablename__ = "applications"
    __table_args__ = (
        Index("ix_applications_applicant", "applicant_id", "created_at"),
        UniqueConstraint("created_by", "idempotency_key", name="uq_applications_idempotency"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    application_no: Mapped[str | None] = mapped_column(String(60), unique=True)
    tracking_code: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(30), index=True)
    channel: Mapped[str] = mapped_column(String(20))  # window | web
    hall: Mapped[str] = mapped_column(String(40), index=True)
    collect_hall: Mapped[str] = mapped_column(String(40))
    ticket_id: Mapped[str | None] = mapped_column(String(64))
    matter_code: Mapped[str | None] = mapped_column(String(40))
    bundle_code: Mapped[str | None] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    catalog_version: Mapped[int] = mapped_column(Integer)
    applicant_type: Mapped[str] = mapped_column(String(20))
    applicant_id: Mapped[str] = mapped_column(String(40))
    applicant_name: Mapped[str] = mapped_column(String(200))
    applicant_mobile: Mapped[str | None] = mapped_column(String(20))
    field_keys: Mapped[list[str]] = mapped_column(JSONB, default=list)
    values: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    locked: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)  # verified prefill values
    prefill: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)  # snapshot: sources, degraded, why
    degraded: Mapped[bool] = mapped_column(Boolean, default=False)
    presented: Mapped[list[str]] = mapped_column(JSONB, default=list)  # material codes handed in
    licences: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)  # material code -> licence no
    notice: Mapped[dict[str, Any] | None] = mapped_column(JSONB)  # the one-time notice (一次性告知)
    refusal_reason: Mapped[str | None] = mapped_column(Text)
    promised_date: Mapped[date | None] = mapped_column(Date)
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    refused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(100))  # a retried open returns the same draft
    # The flow's id: the ticket's when opened from one, else the caller's X-Correlation-ID or the
    # application id. Every event about the application carries it.
    correlation_id: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class ApplicationItem(Base):
    """One matter of an application (a bundle has one per member); approved by its department."""

    __tablename__ = "application_items"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    matter_code: Mapped[str] = mapped_column(String(40))
    matter_name: Mapped[str] = mapped_column(String(200))
    department: Mapped[str] = mapped_column(String(40))
    matter: Mapped[dict[str, Any]] = mapped_column(JSONB)  # the matter as of the application's version
    status: Mapped[str] = mapped_column(String(30))
    # When what set ``status`` happened (an event's occurred_at): of two steps of equal rank, the later wins.
    status_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    materials: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)  # checked states
    commitment: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    promised_date: Mapped[date | None] = mapped_column(Date)
    task_id: Mapped[str | None] = mapped_column(String(64))
    licence_nos: Mapped[list[str]] = mapped_column(JSONB, default=list)


class StatusEntry(Base):
    """One step of an application's history, front desk and back office alike; read in the order of
    ``at`` (when it happened, not when the event arrived)."""

    __tablename__ = "status_history"
    __table_args__ = (Index("ix_status_history_application_at", "application_id", "at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"))
    item_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)  # public text: no personal data
    source: Mapped[str] = mapped_column(String(60))  # acceptance | approval.decided | ...
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # the request's time or the event's occurred_at


class PrecheckQuestion(Base):
    """A pre-check question (预审咨询) from the front desk to a department's approver about a draft, with a
    snapshot of the draft as asked (personal data masked) and the approver's answer."""

    __tablename__ = "precheck_questions"
    __table_args__ = (Index("ix_precheck_questions_department_status", "department", "status", "asked_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), index=True)
    department: Mapped[str] = mapped_column(String(40))
    question: Mapped[str] = mapped_column(Text)
    draft: Mapped[dict[str, Any]] = mapped_column(JSONB)  # the draft as asked about, personal data masked
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | answered
    asked_by: Mapped[str] = mapped_column(String(128))
    asked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[str | None] = mapped_column(String(128))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
