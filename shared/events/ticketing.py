"""Events of the ticketing service (stream ``ticketing``)."""

from datetime import datetime

from shared.events.envelope import Event


class _TicketEvent(Event):
    STREAM = "ticketing"

    ticket_id: str
    hall: str
    number: str
    matter_code: str

    def aggregate_key(self) -> str:
        return self.ticket_id


class TicketIssued(_TicketEvent):
    """A citizen took a number."""

    TYPE = "ticket.issued"
    zone: str
    channel: str  # kiosk | web | window | appointment
    priority: int = 0
    issued_at: datetime


class TicketCalled(_TicketEvent):
    """A window called the ticket; the clerk may open an application from it."""

    TYPE = "ticket.called"
    window: str
    staff_id: str | None = None
    called_at: datetime
    zone: str | None = None
    recall: bool = False  # the same window calls the same ticket again


class TicketServed(_TicketEvent):
    """Service at the window finished."""

    TYPE = "ticket.served"
    window: str
    staff_id: str | None = None
    outcome: str
    application_id: str | None = None
    wait_seconds: float
    service_seconds: float
    served_at: datetime


class TicketNoShow(_TicketEvent):
    """The citizen did not come when called; ``requeued`` says whether the ticket waits again."""

    TYPE = "ticket.no_show"
    window: str
    requeued: bool
    at: datetime


class TicketTransferred(_TicketEvent):
    """The ticket moved to another matter or zone, keeping its original wait."""

    TYPE = "ticket.transferred"
    from_matter_code: str
    to_zone: str
    at: datetime


class TicketRated(_TicketEvent):
    """The citizen rated the service (1-5)."""

    TYPE = "ticket.rated"
    score: int
    window: str | None = None
    staff_id: str | None = None
    at: datetime


class TicketParked(_TicketEvent):
    """The window set the ticket aside (the citizen fetches a document); it resumes at a window later."""

    TYPE = "ticket.parked"
    window: str
    at: datetime


class HallPublished(Event):
    """A hall as ticketing now holds it (created, changed, closed down or reopened); the highest
    ``hall_version`` wins, so a late or replayed copy never overwrites a newer one."""

    TYPE = "hall.published"
    STREAM = "ticketing"

    code: str
    name: str
    status: str  # open | closed (closed down / 已撤并: takes no tickets, no applications, no results)
    opens_at: str  # local wall-clock time in ``timezone``, HH:MM
    closes_at: str
    open_days: str  # workdays | all
    timezone: str = "Asia/Shanghai"
    hall_version: int  # counts the hall's changes in ticketing
    updated_at: datetime

    def aggregate_key(self) -> str:
        return self.code

    def read_model_row(self) -> dict[str, object]:
        """What another service's halls read model keeps (acceptance, issuance): highest version wins."""
        return self.model_dump(include={"code", "name", "status", "hall_version", "updated_at"})
