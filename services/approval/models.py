"""Approval tables, all in schema ``approval``."""

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import schema_metadata
from shared.service_app import Backbone


class Base(DeclarativeBase):
    """Every table of the approval service, in its own schema."""

    metadata = schema_metadata("approval")


backbone = Backbone(Base.metadata)

# Task states: pending (in a worklist, maybe assigned) -> approved | denied; pending <-> supplement (补正,
# clock paused) and pending <-> suspended (现场勘查, clock paused); approved -> revoked (failed post-check).
# A bundle member that needs an earlier member's licence starts waiting_upstream (clock stopped) and becomes
# pending when licence.issued brings it (bundles.py).
OPEN_STATES = ("pending", "supplement", "suspended", "waiting_upstream")
PAUSED_STATES = ("supplement", "suspended", "waiting_upstream")
DECIDED_STATES = ("approved", "denied", "revoked")


class Application(Base):
    """An accepted application as approval knows it; a bundle is decided when every task is."""

    __tablename__ = "applications"

    application_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    application_no: Mapped[str] = mapped_column(String(64))
    hall: Mapped[str] = mapped_column(String(64))
    collect_hall: Mapped[str] = mapped_column(String(64))
    bundle_code: Mapped[str | None] = mapped_column(String(64))
    item_ids: Mapped[list[str]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | decided
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A bundle's lead department (牵头部门), from application.accepted: sees every member, is alerted of late
    # members and issues the combined decision notice (bundles.py).
    lead_department: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # The flow's correlation id (from application.accepted): every approval event of this application
    # carries it, also when an approver's request or the sweep causes the event.
    correlation_id: Mapped[str | None] = mapped_column(String(100))


class Task(Base):
    """One matter of an accepted application, approved by its department on the clock."""

    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("application_id", "item_id"),
        Index("ix_tasks_department_status_due", "department", "status", "promised_due"),
        Index(
            "ix_tasks_via_liaison_department",
            "department",
            "status",
            "promised_due",
            postgresql_where=text("via_liaison"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.application_id"))
    item_id: Mapped[str] = mapped_column(String(64))
    application_no: Mapped[str] = mapped_column(String(64))
    hall: Mapped[str] = mapped_column(String(64))
    collect_hall: Mapped[str] = mapped_column(String(64))
    bundle_code: Mapped[str | None] = mapped_column(String(64))
    matter_code: Mapped[str] = mapped_column(String(64), index=True)
    matter_name: Mapped[str] = mapped_column(String(200), default="")
    department: Mapped[str] = mapped_column(String(64))
    applicant: Mapped[dict[str, Any]] = mapped_column(JSONB)
    values: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    materials: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    result_licence_type: Mapped[str | None] = mapped_column(String(64))
    on_the_spot: Mapped[bool] = mapped_column(Boolean, default=False)
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)  # [{"name": "review", "roles": ["approver"]}]
    step_index: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    assignee: Mapped[str | None] = mapped_column(String(128))
    # Time limits, in working days from the day of acceptance (Asia/Shanghai).
    accepted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    accepted_on: Mapped[date] = mapped_column(Date)
    legal_limit: Mapped[int] = mapped_column(Integer)
    promised_limit: Mapped[int] = mapped_column(Integer)
    legal_due: Mapped[date] = mapped_column(Date)
    promised_due: Mapped[date] = mapped_column(Date)
    paused_days: Mapped[int] = mapped_column(Integer, default=0)
    paused_since: Mapped[date | None] = mapped_column(Date)
    overdue_on: Mapped[date | None] = mapped_column(Date)  # set once, when approval.overdue was emitted
    # Decision.
    decision: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_on: Mapped[date | None] = mapped_column(Date)
    # Commitment (容缺/告知承诺): promised materials, their deadline, what arrived.
    commitment_materials: Mapped[list[str]] = mapped_column(JSONB, default=list)
    commitment_delivered: Mapped[list[str]] = mapped_column(JSONB, default=list)
    commitment_deadline: Mapped[date | None] = mapped_column(Date)
    commitment_status: Mapped[str | None] = mapped_column(String(20))  # pending | fulfilled | overdue
    supplement_materials: Mapped[list[str]] = mapped_column(JSONB, default=list)
    correlation_id: Mapped[str | None] = mapped_column(String(100))  # the application's flow id, shown with the task
    # Bundle member: materials an earlier member's licence provides, [{material, from_item_id, from_matter,
    # licence_type, licence_no, arrived_at}]; ``parallel`` tasks start at once but approve only once all arrived.
    awaits: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list, server_default="[]")
    parallel: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    licence_no: Mapped[str | None] = mapped_column(String(64))  # the licence issued for this item (licence.issued)
    # The department has no approvers in the hall (as the catalogue said when the task opened): the task is in
    # the liaison officer's worklist and is decided by recording the department's signed decision document.
    via_liaison: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class TaskHistory(Base):
    """The audit trail of a task: who, in which role, when, did what, and why."""

    __tablename__ = "task_history"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(40))
    step: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class Handover(Base):
    """A liaison officer (联络官) carried files to a department without approvers in the hall, and back."""

    __tablename__ = "handovers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"), index=True)
    department: Mapped[str] = mapped_column(String(64))
    files: Mapped[list[str]] = mapped_column(JSONB)
    sent_by: Mapped[str] = mapped_column(String(128))
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_note: Mapped[str | None] = mapped_column(Text)
    received_by: Mapped[str | None] = mapped_column(String(128))  # who at the department signed for them
    returned_files: Mapped[list[str] | None] = mapped_column(JSONB)
    returned_by: Mapped[str | None] = mapped_column(String(128))
    returned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    returned_note: Mapped[str | None] = mapped_column(Text)


class Department(Base):
    """A department as the latest published catalogue says (read model of catalog.matter_published)."""

    __tablename__ = "departments"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    resident_approvers: Mapped[bool] = mapped_column(Boolean, default=True)
    catalog_version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class DecisionDocument(Base):
    """The department's signed decision (决定书) a liaison officer brought back; one per task."""

    __tablename__ = "decision_documents"

    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"), primary_key=True)
    handover_id: Mapped[str] = mapped_column(ForeignKey("handovers.id"))
    number: Mapped[str] = mapped_column(String(100))  # 文号
    signed_by: Mapped[str] = mapped_column(String(128))
    signed_on: Mapped[date] = mapped_column(Date)
    sha256: Mapped[str] = mapped_column(String(64))
    file_name: Mapped[str | None] = mapped_column(String(200))
    size: Mapped[int | None] = mapped_column(Integer)
    content: Mapped[bytes | None] = mapped_column(LargeBinary)  # the scanned PDF, when it was uploaded
    recorded_by: Mapped[str] = mapped_column(String(128))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PostCheck(Base):
    """A post-check (事后核查) of a commitment case; a failed one orders rectification or revokes."""

    __tablename__ = "post_checks"
    __table_args__ = (UniqueConstraint("task_id", "reason"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"), index=True)
    application_id: Mapped[str] = mapped_column(String(64))
    department: Mapped[str] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(String(40))  # commitment_overdue | approved_with_missing | sampled
    risk_score: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | passed | rectification | revoked
    opened_on: Mapped[date] = mapped_column(Date)
    rectification_due: Mapped[date | None] = mapped_column(Date)
    result_note: Mapped[str | None] = mapped_column(Text)
    checked_by: Mapped[str | None] = mapped_column(String(128))
    checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class BundleAlert(Base):
    """An alert to a bundle's lead department: one member ran past its promised date (once per member)."""

    __tablename__ = "bundle_alerts"
    __table_args__ = (UniqueConstraint("task_id", "kind"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    application_id: Mapped[str] = mapped_column(String(64), index=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"))
    kind: Mapped[str] = mapped_column(String(20), default="member_late")
    lead_department: Mapped[str] = mapped_column(String(64), index=True)
    department: Mapped[str] = mapped_column(String(64))
    matter_code: Mapped[str] = mapped_column(String(64))
    promised_due: Mapped[date] = mapped_column(Date)
    as_of: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class BundleNotice(Base):
    """The combined decision notice of a bundle (一件事联合审批决定书), issued once by the lead department."""

    __tablename__ = "bundle_notices"

    application_id: Mapped[str] = mapped_column(ForeignKey("applications.application_id"), primary_key=True)
    notice_no: Mapped[str] = mapped_column(String(64), unique=True)
    lead_department: Mapped[str] = mapped_column(String(64))
    issued_by: Mapped[str] = mapped_column(String(128))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    content: Mapped[dict[str, Any]] = mapped_column(JSONB)
