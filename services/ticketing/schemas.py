"""Ticketing request and response models (requests forbid extra fields)."""

import uuid
from datetime import date, datetime, time
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from shared.validators import SaneDateTime

CODE = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$"


def _local_time(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError("a local wall-clock time without offset, e.g. 08:30")
    return value


# Wall-clock time in the hall's zone. JSON Schema's "time" format (RFC 3339) requires an offset, so
# the schema states the pattern instead; an offset in a request is a field error, not a 500.
LocalTime = Annotated[
    time,
    AfterValidator(_local_time),
    WithJsonSchema({"type": "string", "pattern": r"^\d{2}:\d{2}(:\d{2}(\.\d+)?)?$", "examples": ["08:30"]}),
]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- administration ----------------------------------------------------------------------------


class ZoneIn(_Request):
    code: str = Field(pattern=r"^[A-Z]$", description="One capital letter; starts every ticket number.")
    name: str = Field(min_length=1, max_length=200)


class HallIn(_Request):
    """A hall and its zones (PUT replaces the hall's settings; windows are managed separately)."""

    name: str = Field(min_length=1, max_length=200)
    opens_at: LocalTime = time(8, 30)
    closes_at: LocalTime = Field(
        default=time(17, 30), description="00:00 means midnight: 00:00-00:00 with open_days all is round the clock."
    )
    open_days: Literal["workdays", "all"] = "workdays"
    starve_after_minutes: int = Field(default=30, ge=1, le=600)
    appointment_early_minutes: int = Field(default=30, ge=0, le=240)
    appointment_late_minutes: int = Field(default=15, ge=0, le=240)
    zones: list[ZoneIn] = Field(min_length=1)

    @model_validator(mode="after")
    def _hours(self) -> "HallIn":
        if self.closes_at <= self.opens_at and self.closes_at != time(0):  # 00:00 = midnight
            raise ValueError("closes_at must be after opens_at")
        if len({z.code for z in self.zones}) != len(self.zones):
            raise ValueError("zone codes must be unique")
        return self


class HallOut(BaseModel):
    code: str
    name: str
    opens_at: LocalTime
    closes_at: LocalTime
    open_days: str
    starve_after_minutes: int
    appointment_early_minutes: int
    appointment_late_minutes: int
    zones: list[ZoneIn]
    status: str = Field(default="open", description="open, or closed: closed down (撤并), takes no tickets.")
    version: int = Field(default=1, description="Counts the hall's changes; hall.published carries it.")


class WindowIn(_Request):
    """A window (counter): its zone and skills (matter codes like SCJG-001, or categories like PERMIT)."""

    zone: str = Field(pattern=r"^[A-Z]$")
    name: str = Field(default="", max_length=200)
    skills: list[str] = Field(min_length=1, max_length=500)
    primary_skills: list[str] = Field(default_factory=list, description="Served first (subset of skills).")
    active: bool = True

    @model_validator(mode="after")
    def _primary_subset(self) -> "WindowIn":
        if not set(self.primary_skills) <= set(self.skills):
            raise ValueError("primary_skills must be a subset of skills")
        return self


class WindowOut(BaseModel):
    hall: str
    code: str
    zone: str
    name: str
    skills: list[str]
    primary_skills: list[str]
    active: bool
    state: str
    staff_name: str | None = None
    staff_no: str | None = None
    staff_unit: str | None = None


STAFF_NO = r"^[A-Za-z0-9][A-Za-z0-9-]{0,19}$"


class SignIn(_Request):
    """Who serves at the window. Staff number and unit come from the token (``staff_no``/``unit`` claims)
    when the issuer knows them; the body may give them only when the token has none."""

    staff_name: str | None = Field(default=None, max_length=100)
    photo_url: str | None = Field(default=None, max_length=500)
    staff_no: str | None = Field(default=None, pattern=STAFF_NO, description="Staff number (工号).")
    unit: str | None = Field(default=None, min_length=1, max_length=100,
                             description="The clerk's unit (department), e.g. 市市场监督管理局.")


# ---- tickets -----------------------------------------------------------------------------------


class TakeTicket(_Request):
    """A number for a matter. The channel follows from the caller's token (kiosk device token: ``kiosk``,
    applicant: ``web``, clerk: ``window``)."""

    matter_code: str = Field(min_length=1, max_length=40)
    channel: Literal["kiosk", "web", "window"] | None = Field(
        default=None, description="Optional (from before channels followed from the token): when given, "
        "it must be the caller's channel (422 otherwise)."
    )
    green_channel: bool = Field(default=False, description="Elderly, disabled, pregnant: served first (绿色通道).")


class WebTicket(_Request):
    """A number taken on the web without a login, with a proof from the integrator's captcha service."""

    matter_code: str = Field(min_length=1, max_length=40)
    green_channel: bool = Field(default=False, description="Elderly, disabled, pregnant: served first (绿色通道).")
    proof: str = Field(
        min_length=1, max_length=300,
        description="<nonce>.<expiry unix seconds>.<hex HMAC-SHA256(secret, nonce + '.' + expiry + '.' + hall)>, "
        "single use, expiring at most 10 minutes ahead.",
    )


class TicketOut(BaseModel):
    id: uuid.UUID
    hall: str
    zone: str
    number: str
    matter_code: str
    channel: str
    priority: int
    status: str
    issued_at: datetime
    window: str | None = None
    position: int | None = Field(default=None, description="1 = next to be called (while waiting).")
    estimated_wait_minutes: float | None = None
    correlation_id: str = Field(
        description="The flow's id, from the ticket to the licence: the take-ticket request's X-Correlation-ID "
        "if it sent one, else the ticket id. Every event of the ticket and of the application opened from it "
        "carries it."
    )


class TicketIssuedOut(TicketOut):
    """The ticket as its taker gets it, once: with the secret that rating the service needs."""

    rating_secret: str = Field(
        description="Random secret (192 bits) the kiosk prints as a QR on the slip and the web page shows: "
        "POST /tickets/{id}/rating needs it. Only this response carries it; the service keeps a hash."
    )


class CallNext(_Request):
    pass


class Finish(_Request):
    outcome: Literal["accepted", "completed", "consulted", "refused", "referred", "incomplete"]
    application_id: str | None = Field(default=None, max_length=100)


class Transfer(_Request):
    matter_code: str = Field(min_length=1, max_length=40)
    zone: str | None = Field(default=None, pattern=r"^[A-Z]$", description="Default: routed like a new ticket.")


class Rating(_Request):
    rating_secret: str = Field(
        min_length=1, max_length=100, description="The secret of the ticket-issue response (the slip's QR)."
    )
    score: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=500)


class CallOut(BaseModel):
    """One call, as a display board shows it."""

    seq: int = Field(description="Commit-ordered position on the hall's board (also the SSE event id).")
    ticket_id: uuid.UUID
    number: str
    zone: str
    window: str
    window_name: str = ""
    matter_code: str
    called_at: datetime
    recall: bool = False


class PadOut(BaseModel):
    """What the hall pad at a window shows while a citizen is served (for the rating)."""

    hall: str
    window: str
    state: str
    staff_name: str | None
    staff_no: str | None = Field(default=None, description="The clerk's staff number (工号) while signed in.")
    staff_unit: str | None = Field(default=None, description="The clerk's unit (department) while signed in.")
    staff_photo_url: str | None
    ticket: TicketOut | None


class MatterHit(BaseModel):
    """A matter found by the kiosk search, with where it is served and how long the queue is."""

    code: str
    name: str
    zone: str = Field(description="The zone a ticket for it would go to first.")
    waiting: int = Field(description="Tickets of this matter waiting in the hall now.")
    estimated_wait_minutes: float | None = Field(description="Expected wait of a new ticket (a hint).")


# ---- queue status and statistics ---------------------------------------------------------------


class QueueLine(BaseModel):
    zone: str
    matter_code: str | None = None
    waiting: int
    estimated_wait_minutes: float | None


class QueueStatus(BaseModel):
    hall: str
    open_windows: int
    zones: list[QueueLine]
    matters: list[QueueLine]


class StatsRow(BaseModel):
    key: str | None
    tickets: int
    served: int
    no_shows: int
    no_show_rate: float | None
    wait_p50_minutes: float | None
    wait_p90_minutes: float | None
    service_p50_minutes: float | None
    service_p90_minutes: float | None
    ratings: int
    rating_avg: float | None


class Stats(BaseModel):
    hall: str
    day_from: date
    day_to: date
    group_by: str
    rows: list[StatsRow]


# ---- appointments ------------------------------------------------------------------------------


class SlotsIn(_Request):
    """Create slots of ``length_minutes`` from ``starts_at`` to ``ends_at`` for a matter."""

    matter_code: str = Field(min_length=1, max_length=40)
    starts_at: SaneDateTime
    ends_at: SaneDateTime
    length_minutes: int = Field(default=30, ge=5, le=240)
    capacity: int = Field(ge=1, le=1000)

    @model_validator(mode="after")
    def _range(self) -> "SlotsIn":
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("times need a UTC offset")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if (self.ends_at - self.starts_at).total_seconds() > 14 * 3600:
            raise ValueError("at most one day of slots per request")
        return self


class SlotOut(BaseModel):
    id: uuid.UUID
    hall: str
    matter_code: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    available: int


class Book(_Request):
    slot_id: uuid.UUID


class AppointmentOut(BaseModel):
    id: uuid.UUID
    hall: str
    matter_code: str
    starts_at: datetime
    status: str
    ticket_id: uuid.UUID | None = None


class CheckInOut(BaseModel):
    appointment: AppointmentOut
    ticket: TicketIssuedOut
    on_time: bool


class TicketCallOut(BaseModel):
    """What acceptance needs to open an application from a called ticket it has not heard of yet
    (the ``ticket.called`` event's fields plus the flow's id); staff and services only."""

    ticket_id: uuid.UUID
    hall: str
    number: str
    matter_code: str
    zone: str
    status: str
    window: str | None = Field(default=None, description="The window that called the ticket last.")
    staff_id: str | None = None
    called_at: datetime | None = Field(default=None, description="The last call; null if never called.")
    correlation_id: str
