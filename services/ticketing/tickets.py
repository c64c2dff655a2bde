"""A ticket's life: take a number, call, recall, no-show, transfer, park, resume, finish, rate."""

import hashlib
import hmac
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import TypedDict

from sqlalchemy.ext.asyncio import AsyncSession

from services.ticketing import board, catalog, halls, hours, routing
from services.ticketing import repository as repo
from services.ticketing.models import Ticket, Window
from services.ticketing.numbering import TicketNumbers
from services.ticketing.snapshots import Snapshots
from shared.auth import Principal
from shared.events.envelope import Event, uuid7
from shared.events.ticketing import (
    TicketCalled,
    TicketIssued,
    TicketNoShow,
    TicketParked,
    TicketRated,
    TicketServed,
    TicketTransferred,
)
from shared.outbox import Outbox
from shared.problems import Conflict, DomainError, FieldError, Forbidden, NotFound

PRIORITY_NORMAL, PRIORITY_APPOINTMENT, PRIORITY_GREEN = 0, 1, 2
RATING_SECRET_BYTES = 24  # 192 bits, URL-safe base64: 32 characters on the slip's QR


class HallClosed(DomainError):
    status, code, title = 409, "hall_closed", "Hall closed"


class TooManyWebTickets(DomainError):
    status, code, title = 409, "web_ticket_limit", "Too many web tickets"


def new_rating_secret() -> tuple[str, str]:
    """A fresh rating secret and the digest stored for it: (secret, sha256 hex). The secret goes only to
    whoever took the ticket (the slip's QR, the web page); only the digest is kept."""
    secret = secrets.token_urlsafe(RATING_SECRET_BYTES)
    return secret, rating_secret_digest(secret)


def rating_secret_digest(secret: str) -> str:
    """The stored form of a rating secret (a random 192-bit secret needs no slow hash)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


async def take(
    session: AsyncSession,
    *,
    outbox: Outbox,
    hall_code: str,
    matter_code: str,
    channel: str,
    green_channel: bool = False,
    priority: int | None = None,
    appointment_id: uuid.UUID | None = None,
    correlation_id: str | None = None,
    applicant_id: str | None = None,
    max_waiting_per_applicant: int | None = None,
    rating_secret_hash: str | None = None,
    numbers: TicketNumbers,
    snapshots: Snapshots | None = None,
    now: datetime | None = None,
) -> tuple[Ticket, int, float | None]:
    """Issue a number for a matter, routed to the zone with the least expected wait.

    ``correlation_id`` is the caller's own (X-Correlation-ID), if it sent one; otherwise the flow is
    named after the ticket. Either way it is fixed here and carried to the licence.
    ``applicant_id`` (web tickets of a logged-in applicant) is recorded; with ``max_waiting_per_applicant``
    the applicant may hold that many waiting tickets of the hall per business day (409 beyond), checked
    under a lock so concurrent requests cannot both pass. ``rating_secret_hash`` (``new_rating_secret``)
    is what a rating must match; without one the ticket cannot be rated. ``numbers`` hands out the
    number outside this transaction (numbering.py); ``snapshots`` holds the process's copies of the
    hall's windows and the matters (none: read from the database).
    """
    snapshots = snapshots or Snapshots()
    now = now or datetime.now(UTC)
    hall = await halls.require_hall(session, code=hall_code)
    halls.require_open(hall)  # closed down (撤并): no numbers at any hour
    if not hours.is_open(hall, now):
        raise HallClosed(
            f"hall {hall_code} is closed now; opening hours {hall.opens_at:%H:%M}-{hall.closes_at:%H:%M}"
        )
    matter, matters = await catalog.require_matter(session, code=matter_code, snapshots=snapshots)
    if priority is None:
        priority = PRIORITY_GREEN if green_channel else PRIORITY_NORMAL
    windows = await snapshots.windows(session, hall=hall, matters=matters)
    zone, ahead, minutes = await routing.route(session, hall=hall_code, matter=matter, priority=priority,
                                               windows=windows)
    day = hours.business_day(now)
    if applicant_id is not None and max_waiting_per_applicant is not None:
        await repo.lock_key(session, key=f"ticketing.web-tickets:{hall_code}:{applicant_id}:{day.isoformat()}")
        held = await repo.waiting_web_tickets(session, hall=hall_code, applicant_id=applicant_id, day=day)
        if held >= max_waiting_per_applicant:
            raise TooManyWebTickets(
                f"you already hold {held} waiting tickets in hall {hall_code} today "
                f"(at most {max_waiting_per_applicant}); use or cancel one first"
            )
    seq = await numbers.next(hall=hall_code, zone=zone, day=day)
    ticket_id = uuid7()
    ticket = Ticket(
        id=ticket_id,
        hall=hall_code,
        zone=zone,
        business_day=day,
        number=f"{zone}{seq:03d}",
        matter_code=matter.code,
        category=matter.category,
        channel=channel,
        priority=priority,
        green_channel=green_channel,
        status="waiting",
        issued_at=now,
        queue_at=now,
        estimated_wait_seconds=None if minutes is None else minutes * 60,
        call_count=0,
        no_shows=0,
        transfers=[],
        appointment_id=appointment_id,
        applicant_id=applicant_id,
        rating_secret_hash=rating_secret_hash,
        correlation_id=correlation_id or str(ticket_id),
    )
    session.add(ticket)
    await session.flush()
    await outbox.add(
        session,
        TicketIssued(
            ticket_id=str(ticket.id),
            hall=hall_code,
            number=ticket.number,
            matter_code=matter.code,
            zone=zone,
            channel=channel,
            priority=priority,
            issued_at=now,
        ),
        hall=hall_code,
        correlation_id=ticket.correlation_id,
    )
    return ticket, ahead + 1, minutes


async def require(session: AsyncSession, *, ticket_id: uuid.UUID) -> Ticket:
    """The ticket or 404."""
    ticket = await repo.get_ticket(session, ticket_id=ticket_id)
    if ticket is None:
        raise NotFound(f"ticket {ticket_id} does not exist")
    return ticket


async def position(
    session: AsyncSession, *, ticket: Ticket, snapshots: Snapshots | None = None
) -> tuple[int | None, float | None]:
    """Position (1 = next among the tickets competing for its windows) and expected wait; None unless waiting."""
    if ticket.status != "waiting":
        return None, None
    snapshots = snapshots or Snapshots()
    matters = await snapshots.matters(session)
    matter = matters.get(ticket.matter_code)
    if matter is None:
        return None, None
    windows = await snapshots.windows(session, hall=await halls.require_hall(session, code=ticket.hall),
                                      matters=matters)
    ahead, minutes = await routing.estimate_minutes(
        session,
        hall=ticket.hall,
        zone=ticket.zone,
        matter=matter,
        priority=ticket.priority,
        queue_at=ticket.queue_at,
        windows=windows,
    )
    return ahead + 1, minutes


class _TicketRef(TypedDict):
    """What every event of a ticket says about the ticket."""

    ticket_id: str
    hall: str
    number: str
    matter_code: str


async def _emit(session: AsyncSession, outbox: Outbox, ticket: Ticket, event: Event) -> None:
    """Stage one of the ticket's events: each carries the ticket's hall and the ticket's correlation id."""
    await outbox.add(session, event, hall=ticket.hall, correlation_id=ticket.correlation_id)


def _ref(ticket: Ticket) -> _TicketRef:
    return {
        "ticket_id": str(ticket.id),
        "hall": ticket.hall,
        "number": ticket.number,
        "matter_code": ticket.matter_code,
    }


def _called(ticket: Ticket, window: Window, now: datetime, *, recall: bool = False) -> TicketCalled:
    return TicketCalled(
        **_ref(ticket),
        window=window.code,
        staff_id=window.staff_id,
        called_at=now,
        zone=ticket.zone,
        recall=recall,
    )


async def call_next(
    session: AsyncSession,
    *,
    outbox: Outbox,
    hall: str,
    window_code: str,
    principal: Principal,
    now: datetime | None = None,
) -> Ticket | None:
    """The window takes its best waiting ticket (None when nothing waits); never one another window holds."""
    now = now or datetime.now(UTC)
    window = await halls.staffed_window(session, hall=hall, code=window_code, principal=principal)
    if window.state == "paused":
        raise Conflict(f"window {window_code} is paused; resume it first")
    if await repo.current_ticket(session, hall=hall, window=window_code) is not None:
        raise Conflict("finish, park or mark the current ticket as a no-show first")
    hall_row = await halls.require_hall(session, code=hall)
    ticket = await repo.pick_next(
        session, window=window, starve_before=now - timedelta(minutes=hall_row.starve_after_minutes)
    )
    if ticket is None:
        return None
    ticket.status, ticket.window, ticket.staff_id = "called", window.code, window.staff_id
    ticket.first_called_at = ticket.first_called_at or now
    ticket.last_called_at, ticket.call_count = now, ticket.call_count + 1
    await session.flush()
    await _emit(session, outbox, ticket, _called(ticket, window, now))
    await board.announce(session, ticket=ticket, window=window, called_at=now, recall=False)
    return ticket


async def held(
    session: AsyncSession,
    *,
    ticket_id: uuid.UUID,
    principal: Principal,
    statuses: tuple[str, ...] = ("called",),
) -> tuple[Ticket, Window]:
    """A ticket locked for a window action by the clerk signed in where it was called."""
    ticket = await repo.get_ticket(session, ticket_id=ticket_id, lock=True)
    if ticket is None:
        raise NotFound(f"ticket {ticket_id} does not exist")
    principal.check_hall(ticket.hall)
    if ticket.status not in statuses:
        raise Conflict(f"ticket {ticket.number} is {ticket.status}")
    if ticket.window is None:
        raise Conflict(f"ticket {ticket.number} is not at a window")
    window = await halls.staffed_window(session, hall=ticket.hall, code=ticket.window, principal=principal)
    return ticket, window


async def recall(
    session: AsyncSession,
    *,
    outbox: Outbox,
    ticket_id: uuid.UUID,
    principal: Principal,
    now: datetime | None = None,
) -> Ticket:
    """Call the same ticket again (the display and the speaker repeat it)."""
    now = now or datetime.now(UTC)
    ticket, window = await held(session, ticket_id=ticket_id, principal=principal)
    ticket.last_called_at, ticket.call_count = now, ticket.call_count + 1
    await session.flush()
    await _emit(session, outbox, ticket, _called(ticket, window, now, recall=True))
    await board.announce(session, ticket=ticket, window=window, called_at=now, recall=True)
    return ticket


async def no_show(
    session: AsyncSession,
    *,
    outbox: Outbox,
    ticket_id: uuid.UUID,
    principal: Principal,
    now: datetime | None = None,
) -> Ticket:
    """The citizen did not come: back to the end of the queue once, dropped the second time."""
    now = now or datetime.now(UTC)
    ticket, window = await held(session, ticket_id=ticket_id, principal=principal)
    ticket.no_shows += 1
    requeued = ticket.no_shows == 1
    if requeued:
        ticket.status, ticket.queue_at, ticket.window, ticket.staff_id = "waiting", now, None, None
    else:
        ticket.status, ticket.finished_at = "no_show", now
    await session.flush()
    await _emit(
        session,
        outbox,
        ticket,
        TicketNoShow(
            **_ref(ticket),
            window=window.code,
            requeued=requeued,
            at=now,
        ),
    )
    return ticket


async def transfer(
    session: AsyncSession,
    *,
    outbox: Outbox,
    ticket_id: uuid.UUID,
    principal: Principal,
    matter_code: str,
    zone: str | None,
    snapshots: Snapshots | None = None,
    now: datetime | None = None,
) -> Ticket:
    """Move a called (or parked) ticket to another matter or zone; it keeps its place by original wait."""
    snapshots = snapshots or Snapshots()
    now = now or datetime.now(UTC)
    ticket, window = await held(
        session, ticket_id=ticket_id, principal=principal, statuses=("called", "parked")
    )
    matter, matters = await catalog.require_matter(session, code=matter_code, snapshots=snapshots)
    windows = await snapshots.windows(session, hall=await halls.require_hall(session, code=ticket.hall),
                                      matters=matters)
    if zone is None:
        zone, _, _ = await routing.route(
            session,
            hall=ticket.hall,
            matter=matter,
            priority=ticket.priority,
            windows=windows,
        )
    elif not any(w.zone == zone and routing.serves(w, matter) for w in windows):
        raise routing.MatterNotServed(
            f"no window of zone {zone} serves {matter.code}",
            errors=[FieldError(field="zone", message=f"no window of zone {zone} serves {matter.code}")],
        )
    from_matter = ticket.matter_code
    ticket.transfers = [
        *ticket.transfers,
        {"at": now.isoformat(), "from_matter": from_matter, "from_zone": ticket.zone, "window": window.code},
    ]
    ticket.matter_code, ticket.category, ticket.zone = matter.code, matter.category, zone
    ticket.status, ticket.window, ticket.staff_id = "waiting", None, None  # queue_at kept: the wait counts
    await session.flush()
    await _emit(
        session,
        outbox,
        ticket,
        TicketTransferred(
            **_ref(ticket),
            from_matter_code=from_matter,
            to_zone=zone,
            at=now,
        ),
    )
    return ticket


async def park(
    session: AsyncSession,
    *,
    outbox: Outbox,
    ticket_id: uuid.UUID,
    principal: Principal,
    now: datetime | None = None,
) -> Ticket:
    """Set a called ticket aside (the citizen fetches a document); the window is free for the next."""
    now = now or datetime.now(UTC)
    ticket, window = await held(session, ticket_id=ticket_id, principal=principal)
    ticket.status = "parked"
    await session.flush()
    await _emit(
        session,
        outbox,
        ticket,
        TicketParked(
            **_ref(ticket),
            window=window.code,
            at=now,
        ),
    )
    return ticket


async def resume(
    session: AsyncSession,
    *,
    outbox: Outbox,
    ticket_id: uuid.UUID,
    principal: Principal,
    window_code: str,
    now: datetime | None = None,
) -> Ticket:
    """A staffed window takes a parked ticket back and calls it."""
    now = now or datetime.now(UTC)
    ticket = await repo.get_ticket(session, ticket_id=ticket_id, lock=True)
    if ticket is None:
        raise NotFound(f"ticket {ticket_id} does not exist")
    principal.check_hall(ticket.hall)
    if ticket.status != "parked":
        raise Conflict(f"ticket {ticket.number} is {ticket.status}, not parked")
    window = await halls.staffed_window(session, hall=ticket.hall, code=window_code, principal=principal)
    if await repo.current_ticket(session, hall=ticket.hall, window=window_code) is not None:
        raise Conflict("finish, park or mark the current ticket as a no-show first")
    ticket.status, ticket.window, ticket.staff_id = "called", window.code, window.staff_id
    ticket.last_called_at, ticket.call_count = now, ticket.call_count + 1
    await session.flush()
    await _emit(session, outbox, ticket, _called(ticket, window, now, recall=True))
    await board.announce(session, ticket=ticket, window=window, called_at=now, recall=True)
    return ticket


async def finish(
    session: AsyncSession,
    *,
    outbox: Outbox,
    ticket_id: uuid.UUID,
    principal: Principal,
    outcome: str,
    application_id: str | None,
    now: datetime | None = None,
) -> Ticket:
    """Service finished with an outcome (and the application the clerk opened, if any)."""
    now = now or datetime.now(UTC)
    ticket, window = await held(session, ticket_id=ticket_id, principal=principal)
    ticket.status, ticket.finished_at, ticket.outcome, ticket.application_id = (
        "served",
        now,
        outcome,
        application_id,
    )
    await session.flush()
    assert ticket.first_called_at is not None and ticket.last_called_at is not None
    await _emit(
        session,
        outbox,
        ticket,
        TicketServed(
            **_ref(ticket),
            window=window.code,
            staff_id=window.staff_id,
            outcome=outcome,
            application_id=application_id,
            wait_seconds=(ticket.first_called_at - ticket.issued_at).total_seconds(),
            service_seconds=(now - ticket.last_called_at).total_seconds(),
            served_at=now,
        ),
    )
    return ticket


async def rate(
    session: AsyncSession,
    *,
    outbox: Outbox,
    ticket_id: uuid.UUID,
    rating_secret: str,
    score: int,
    comment: str | None,
    now: datetime | None = None,
) -> Ticket:
    """The citizen rates the service on the hall pad (once per ticket), proving with the rating secret
    of the slip that they hold the ticket: the id alone is public (pad, display board). A wrong secret
    is a 403 and uses nothing up."""
    now = now or datetime.now(UTC)
    ticket = await repo.get_ticket(session, ticket_id=ticket_id, lock=True)
    if ticket is None:
        raise NotFound(f"ticket {ticket_id} does not exist")
    given = rating_secret_digest(rating_secret)
    if ticket.rating_secret_hash is None or not hmac.compare_digest(given, ticket.rating_secret_hash):
        raise Forbidden("the rating secret does not match this ticket", code="rating_secret_mismatch")
    if ticket.status not in ("called", "served"):
        raise Conflict(f"ticket {ticket.number} has not been served")
    if ticket.rating is not None:
        raise Conflict(f"ticket {ticket.number} is already rated")
    ticket.rating, ticket.rating_comment, ticket.rated_at = score, comment, now
    await session.flush()
    await _emit(
        session,
        outbox,
        ticket,
        TicketRated(
            **_ref(ticket),
            score=score,
            window=ticket.window,
            staff_id=ticket.staff_id,
            at=now,
        ),
    )
    return ticket
