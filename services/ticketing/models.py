"""Ticketing tables, all in schema ``ticketing``."""

import uuid
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    Time,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import schema_metadata
from shared.service_app import Backbone


class Base(DeclarativeBase):
    """Every table of the ticketing service, in its own schema."""

    metadata = schema_metadata("ticketing")


backbone = Backbone(Base.metadata)


class Hall(Base):
    """A service hall with its opening hours and queue rules."""

    __tablename__ = "halls"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    opens_at: Mapped[time] = mapped_column(Time, default=time(8, 30))
    closes_at: Mapped[time] = mapped_column(Time, default=time(17, 30))
    open_days: Mapped[str] = mapped_column(String(20), default="workdays")  # workdays | all
    starve_after_minutes: Mapped[int] = mapped_column(Integer, default=30)
    appointment_early_minutes: Mapped[int] = mapped_column(Integer, default=30)
    appointment_late_minutes: Mapped[int] = mapped_column(Integer, default=15)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # open | closed: a hall closed down (撤并) takes no tickets; other services learn it from hall.published.
    status: Mapped[str] = mapped_column(String(10), default="open", server_default="open")
    # Counts changes; hall.published carries it so consumers keep the newest. ``published_version`` is the
    # version last staged in the outbox: a hall behind it (e.g. from before the event existed) is
    # published at start-up.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    published_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Moved by a trigger whenever one of the hall's windows changes (snapshots.py); never set by hand.
    windows_stamp: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class Zone(Base):
    """A zone of a hall (A区...); its letter starts every ticket number."""

    __tablename__ = "zones"

    hall: Mapped[str] = mapped_column(String(40), primary_key=True)
    code: Mapped[str] = mapped_column(String(8), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class Window(Base):
    """A counter: skills (matter codes or categories), the clerk signed in, open/paused/closed."""

    __tablename__ = "windows"

    hall: Mapped[str] = mapped_column(String(40), primary_key=True)
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    zone: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(200), default="")
    skills: Mapped[list[str]] = mapped_column(JSONB, default=list)
    primary_skills: Mapped[list[str]] = mapped_column(JSONB, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    state: Mapped[str] = mapped_column(String(10), default="closed")  # closed | open | paused
    staff_id: Mapped[str | None] = mapped_column(String(100))
    staff_name: Mapped[str | None] = mapped_column(String(100))
    # What the pad shows of the clerk besides the name: staff number (工号) and unit (department).
    staff_no: Mapped[str | None] = mapped_column(String(20))
    staff_unit: Mapped[str | None] = mapped_column(String(100))
    staff_photo_url: Mapped[str | None] = mapped_column(String(500))
    signed_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Matter(Base):
    """Read model of catalog.matter_published: what ticketing needs to route a matter."""

    __tablename__ = "matters"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    zone: Mapped[str] = mapped_column(String(8))
    category: Mapped[str] = mapped_column(String(40))
    department: Mapped[str] = mapped_column(String(40), default="")
    avg_handling_minutes: Mapped[int] = mapped_column(Integer, default=15)
    daily_share_weight: Mapped[float] = mapped_column(Float, default=1.0)
    catalog_version: Mapped[int] = mapped_column(Integer)
    # Kiosk search keys, computed when the matter is recorded (search.py): the name's pinyin initials
    # and full pinyin, one entry per reading (phrase-aware first; a per-character reading when it differs).
    pinyin_initials: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")
    pinyin_full: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")


class ReadModelStamp(Base):
    """Moved by a trigger whenever the named table changes (``matters``): snapshots.py reloads its copy."""

    __tablename__ = "read_model_stamps"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    stamp: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class DayCounter(Base):
    """Next ticket sequence per hall, zone and business day (numbers restart every day)."""

    __tablename__ = "day_counters"

    hall: Mapped[str] = mapped_column(String(40), primary_key=True)
    zone: Mapped[str] = mapped_column(String(8), primary_key=True)
    business_day: Mapped[date] = mapped_column(Date, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)


class Ticket(Base):
    """A number taken for a matter, through the queue to the window and its outcome."""

    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("hall", "business_day", "number"),
        Index(
            "ix_tickets_queue", "hall", "priority", "queue_at", postgresql_where=text("status = 'waiting'")
        ),
        # a zone's queue in calling order: pick_next and the estimates walk it instead of sorting the backlog
        Index("ix_tickets_zone_queue", "hall", "zone", text("priority DESC"), "queue_at", "id",
              postgresql_where=text("status = 'waiting'")),
        Index("ix_tickets_hall_day", "hall", "business_day"),
        Index("ix_tickets_served", "hall", "zone", "finished_at", postgresql_where=text("status = 'served'")),
        Index("ix_tickets_busy", "hall", "window", postgresql_where=text("status = 'called'")),
        Index(
            "ix_tickets_applicant_waiting", "applicant_id", "business_day",
            postgresql_where=text("applicant_id IS NOT NULL AND status = 'waiting'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    hall: Mapped[str] = mapped_column(String(40))
    zone: Mapped[str] = mapped_column(String(8))
    business_day: Mapped[date] = mapped_column(Date)
    number: Mapped[str] = mapped_column(String(12))
    matter_code: Mapped[str] = mapped_column(String(40))
    category: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(20))  # kiosk | web | window | appointment
    # The logged-in applicant who took a web ticket (None for kiosk, proof, window and appointment tickets).
    applicant_id: Mapped[str | None] = mapped_column(String(40))
    priority: Mapped[int] = mapped_column(SmallInteger, default=0)  # 0 normal, 1 appointment, 2 green channel
    green_channel: Mapped[bool] = mapped_column(Boolean, default=False)
    # waiting | called | parked | served | no_show
    status: Mapped[str] = mapped_column(String(12), default="waiting")
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    queue_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # order in the queue
    estimated_wait_seconds: Mapped[float | None] = mapped_column(Float)
    first_called_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_called_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    call_count: Mapped[int] = mapped_column(Integer, default=0)
    no_shows: Mapped[int] = mapped_column(SmallInteger, default=0)
    window: Mapped[str | None] = mapped_column(String(40))
    staff_id: Mapped[str | None] = mapped_column(String(100))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(40))
    application_id: Mapped[str | None] = mapped_column(String(100))
    appointment_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    transfers: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    rating: Mapped[int | None] = mapped_column(SmallInteger)
    rating_comment: Mapped[str | None] = mapped_column(Text)
    rated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # SHA-256 (hex) of the rating secret handed out once with the ticket (printed as a QR on the slip);
    # the secret itself is never stored. None for tickets from before the secret existed: not ratable.
    rating_secret_hash: Mapped[str | None] = mapped_column(String(64))
    # The flow's id, fixed when the ticket is issued (the caller's X-Correlation-ID, else the ticket id):
    # every event of the ticket carries it, and acceptance adopts it for the application opened from it.
    correlation_id: Mapped[str] = mapped_column(String(100))


class WebProof(Base):
    """A captcha proof already used for a web ticket, kept until it expires (each proof is single use)."""

    __tablename__ = "web_proofs"
    __table_args__ = (Index("ix_web_proofs_expires", "expires_at"),)

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    hall: Mapped[str] = mapped_column(String(40))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class BoardCounter(Base):
    """The last call-board position handed out in a hall.

    Taken at COMMIT by the trigger that posts ``board_pending`` rows (migration c3d0e5d21430), so the row
    lock is held until the commit ends: positions of one hall are handed out in commit order, and a board
    that has shown position n has already seen every call committed before it (call times, stamped before
    commit, are not ordered so).
    """

    __tablename__ = "board_counters"

    hall: Mapped[str] = mapped_column(String(40), primary_key=True)
    last: Mapped[int] = mapped_column(BigInteger, default=0)


class BoardPending(Base):
    """A call written by the calling transaction; at its COMMIT a deferred trigger gives it the hall's next
    board position and moves it to ``board_calls`` (nobody sees a row here)."""

    __tablename__ = "board_pending"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    hall: Mapped[str] = mapped_column(String(40))
    ticket_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    number: Mapped[str] = mapped_column(String(12))
    zone: Mapped[str] = mapped_column(String(8))
    window: Mapped[str] = mapped_column(String(40))
    matter_code: Mapped[str] = mapped_column(String(40))
    called_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recall: Mapped[bool] = mapped_column(Boolean, default=False)


class BoardCall(Base):
    """One call (or recall) as display boards show it, at its commit-ordered position in the hall."""

    __tablename__ = "board_calls"

    hall: Mapped[str] = mapped_column(String(40), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ticket_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    number: Mapped[str] = mapped_column(String(12))
    zone: Mapped[str] = mapped_column(String(8))
    window: Mapped[str] = mapped_column(String(40))
    matter_code: Mapped[str] = mapped_column(String(40))
    called_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recall: Mapped[bool] = mapped_column(Boolean, default=False)


class Slot(Base):
    """An appointment slot of a hall and matter with a capacity."""

    __tablename__ = "slots"
    __table_args__ = (UniqueConstraint("hall", "matter_code", "starts_at"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    hall: Mapped[str] = mapped_column(String(40))
    matter_code: Mapped[str] = mapped_column(String(40))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    capacity: Mapped[int] = mapped_column(Integer)
    booked: Mapped[int] = mapped_column(Integer, default=0)


class Appointment(Base):
    """A booking (预约) of a slot by an applicant; checked in at the hall, it becomes a ticket."""

    __tablename__ = "appointments"
    __table_args__ = (Index("ix_appointments_applicant", "applicant_id"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    slot_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    hall: Mapped[str] = mapped_column(String(40))
    matter_code: Mapped[str] = mapped_column(String(40))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    applicant_id: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(12), default="booked")  # booked | cancelled | checked_in
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
