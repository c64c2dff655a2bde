"""Queue rules: halls and windows, taking numbers, routing, calling, appointments (flush, never commit)."""

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from services.ticketing import estimate
from services.ticketing import repository as repo
from services.ticketing.models import Appointment, Hall, Matter, Slot, Ticket, Window, Zone
from services.ticketing.schemas import HallIn, SlotsIn, WindowIn
from shared.auth import Principal
from shared.events.catalog import MatterPublished
from shared.events.envelope import uuid7
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
from shared.problems import Conflict, DomainError, FieldError, NotFound, Unprocessable
from shared.workdays import default_calendar

TZ = ZoneInfo("Asia/Shanghai")
PRIORITY_NORMAL, PRIORITY_APPOINTMENT, PRIORITY_GREEN = 0, 1, 2
RECENT_SERVICES = 60


class HallClosed(DomainError):
    status, code, title = 409, "hall_closed", "Hall closed"


class MatterNotServed(DomainError):
    status, code, title = 422, "matter_not_served", "Matter not served in this hall"


def business_day(at: datetime) -> date:
    """The business day (Asia/Shanghai) of an instant."""
    return at.astimezone(TZ).date()


def is_open(hall: Hall, at: datetime) -> bool:
    """Whether ``hall`` takes numbers at ``at`` (its hours, on working days unless open every day)."""
    local = at.astimezone(TZ)
    if hall.open_days == "workdays" and not default_calendar().is_working_day(local.date()):
        return False
    return hall.opens_at <= local.time().replace(tzinfo=None) < hall.closes_at


def serves(window: Window, matter: Matter | Ticket) -> bool:
    """Whether a window's skills cover a matter (by code or category)."""
    code = matter.code if isinstance(matter, Matter) else matter.matter_code
    return code in window.skills or matter.category in window.skills


# ---- administration ----------------------------------------------------------------------------


async def put_hall(session: AsyncSession, *, code: str, data: HallIn) -> tuple[Hall, list[Zone]]:
    """Create or replace a hall's settings and zones (windows stay)."""
    hall = await repo.get_hall(session, code=code)
    values = data.model_dump(exclude={"zones"})
    if hall is None:
        hall = Hall(code=code, **values)
        session.add(hall)
    else:
        for key, value in values.items():
            setattr(hall, key, value)
        hall.updated_at = datetime.now(UTC)
    await session.execute(delete(Zone).where(Zone.hall == code))
    zones = [Zone(hall=code, code=z.code, name=z.name) for z in data.zones]
    session.add_all(zones)
    await session.flush()
    return hall, zones


async def require_hall(session: AsyncSession, *, code: str) -> Hall:
    """The hall or 404."""
    hall = await repo.get_hall(session, code=code)
    if hall is None:
        raise NotFound(f"hall {code} does not exist")
    return hall


async def put_window(session: AsyncSession, *, hall: str, code: str, data: WindowIn) -> Window:
    """Create or replace a window's zone and skills (its sign-in state stays)."""
    await require_hall(session, code=hall)
    if data.zone not in {z.code for z in await repo.zones_of(session, hall=hall)}:
        raise Unprocessable("unknown zone", errors=[FieldError(field="zone", message=f"hall {hall} has no zone {data.zone}")])
    window = await repo.get_window(session, hall=hall, code=code, lock=True)
    if window is None:
        window = Window(hall=hall, code=code, state="closed")
        session.add(window)
    window.zone, window.name, window.active = data.zone, data.name, data.active
    window.skills, window.primary_skills = list(data.skills), list(data.primary_skills)
    await session.flush()
    return window


async def staffed_window(session: AsyncSession, *, hall: str, code: str, principal: Principal, lock: bool = True) -> Window:
    """The window the caller is signed in at (404 unknown, 409 not signed in by the caller)."""
    principal.check_hall(hall)
    window = await repo.get_window(session, hall=hall, code=code, lock=lock)
    if window is None or not window.active:
        raise NotFound(f"window {code} does not exist in hall {hall}")
    if window.staff_id != principal.sub or window.state == "closed":
        raise Conflict(f"sign in at window {code} first")
    return window


async def sign_in(session: AsyncSession, *, hall: str, code: str, principal: Principal, staff_name: str | None,
                  photo_url: str | None) -> Window:
    """The clerk takes a window (one clerk per window; a clerk may hold several posts there)."""
    principal.check_hall(hall)
    window = await repo.get_window(session, hall=hall, code=code, lock=True)
    if window is None or not window.active:
        raise NotFound(f"window {code} does not exist in hall {hall}")
    if window.state != "closed" and window.staff_id not in (None, principal.sub):
        raise Conflict(f"window {code} is staffed by someone else; they sign out first")
    window.staff_id, window.staff_name = principal.sub, staff_name or principal.name
    window.staff_photo_url, window.state, window.signed_in_at = photo_url, "open", datetime.now(UTC)
    await session.flush()
    return window


async def sign_out(session: AsyncSession, *, hall: str, code: str, principal: Principal) -> Window:
    """The clerk leaves the window; a ticket still called there waits again at the head of its queue."""
    window = await staffed_window(session, hall=hall, code=code, principal=principal)
    current = await repo.current_ticket(session, hall=hall, window=code)
    if current is not None:
        current.status, current.window, current.staff_id = "waiting", None, None
    window.state, window.staff_id, window.staff_name, window.staff_photo_url = "closed", None, None, None
    await session.flush()
    return window


async def set_paused(session: AsyncSession, *, hall: str, code: str, principal: Principal, paused: bool) -> Window:
    """Pause (no calls) or resume a staffed window."""
    window = await staffed_window(session, hall=hall, code=code, principal=principal)
    window.state = "paused" if paused else "open"
    await session.flush()
    return window


# ---- estimates and routing ---------------------------------------------------------------------


def staffed(windows: Sequence[Window]) -> list[Window]:
    """Windows that are open, or all active ones when nobody signed in yet (the estimate of the day)."""
    open_ = [w for w in windows if w.state == "open"]
    return open_ or [w for w in windows if w.active]


def skill_view(windows: Sequence[Window], matters: dict[str, Matter], busy: set[str]) -> list[estimate.WindowSkills]:
    """The predictor's view of windows: matter codes each serves (categories expanded), idle or not."""
    by_category: dict[str, set[str]] = {}
    for m in matters.values():
        by_category.setdefault(m.category, set()).add(m.code)
    view = []
    for w in windows:
        codes: set[str] = set()
        for skill in w.skills:
            if skill in matters:
                codes.add(skill)
            codes |= by_category.get(skill, set())
        view.append(estimate.WindowSkills(frozenset(codes), idle=w.state == "open" and w.code not in busy))
    return view


async def estimate_minutes(
    session: AsyncSession, *, hall: str, zone: str, matter: Matter, priority: int, queue_at: datetime | None,
    windows: Sequence[Window], matters: dict[str, Matter], busy: set[str],
) -> tuple[int, float | None]:
    """(tickets ahead, E[W | n] in minutes) for a ticket of ``matter`` in ``zone`` (skill-pool predictor).

    n = waiting tickets ahead whose matter the same windows serve, s = windows of the zone serving the
    matter, 1/mu = recent service times in the zone (see estimate.py and docs/wait-estimate.md).
    """
    view = skill_view(staffed([w for w in windows if w.zone == zone]), matters, busy)
    pool = estimate.skill_pool(view, matter.code)
    servers, idle = estimate.pool_servers(view, matter.code)
    ahead = await repo.waiting_ahead(session, hall=hall, zone=zone, matter_codes=pool or {matter.code},
                                     priority=priority, queue_at=queue_at)
    recent = await repo.recent_service_minutes(session, hall=hall, zone=zone, limit=RECENT_SERVICES)
    mean = estimate.mean_service_minutes(recent, prior_minutes=float(matter.avg_handling_minutes))
    value = estimate.expected_wait_minutes(ahead=ahead, servers=servers, mean_service=mean, idle=idle)
    return ahead, None if value is None else round(value, 1)


async def _matter(session: AsyncSession, code: str, field: str = "matter_code") -> tuple[Matter, dict[str, Matter]]:
    matters = await repo.all_matters(session)
    matter = matters.get(code)
    if matter is None:
        raise Unprocessable(f"unknown matter {code}", errors=[FieldError(field=field, message=f"unknown matter {code}")])
    return matter, matters


async def route(
    session: AsyncSession, *, hall: str, matter: Matter, matters: dict[str, Matter], priority: int,
    windows: Sequence[Window],
) -> tuple[str, int, float | None]:
    """The zone with the least expected wait for a new ticket: (zone, tickets ahead, minutes)."""
    zones = sorted({w.zone for w in windows if serves(w, matter)}, key=lambda z: (z != matter.zone, z))
    if not zones:
        raise MatterNotServed(f"matter {matter.code} is not served in hall {hall}")
    busy = await repo.busy_windows(session, hall=hall)
    best: tuple[str, int, float | None] | None = None
    for zone in zones:
        ahead, minutes = await estimate_minutes(session, hall=hall, zone=zone, matter=matter, priority=priority,
                                                queue_at=None, windows=windows, matters=matters, busy=busy)
        if best is None or (minutes is not None and (best[2] is None or minutes < best[2])):
            best = (zone, ahead, minutes)
    assert best is not None
    return best


# ---- tickets -----------------------------------------------------------------------------------


async def take_ticket(
    session: AsyncSession, *, outbox: Outbox, hall_code: str, matter_code: str, channel: str,
    green_channel: bool = False, priority: int | None = None, appointment_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> tuple[Ticket, int, float | None]:
    """Issue a number for a matter, routed to the zone with the least expected wait."""
    now = now or datetime.now(UTC)
    hall = await require_hall(session, code=hall_code)
    if not is_open(hall, now):
        raise HallClosed(f"hall {hall_code} is closed now; opening hours {hall.opens_at:%H:%M}-{hall.closes_at:%H:%M}")
    matter, matters = await _matter(session, matter_code)
    if priority is None:
        priority = PRIORITY_GREEN if green_channel else PRIORITY_NORMAL
    windows = await repo.windows_of(session, hall=hall_code)
    zone, ahead, minutes = await route(
        session, hall=hall_code, matter=matter, matters=matters, priority=priority, windows=windows
    )
    day = business_day(now)
    seq = await repo.next_number(session, hall=hall_code, zone=zone, day=day)
    ticket = Ticket(
        id=uuid7(), hall=hall_code, zone=zone, business_day=day, number=f"{zone}{seq:03d}", matter_code=matter.code,
        category=matter.category, channel=channel, priority=priority, green_channel=green_channel, status="waiting",
        issued_at=now, queue_at=now, estimated_wait_seconds=None if minutes is None else minutes * 60,
        call_count=0, no_shows=0, transfers=[], appointment_id=appointment_id,
    )
    session.add(ticket)
    await session.flush()
    await outbox.add(
        session,
        TicketIssued(ticket_id=str(ticket.id), hall=hall_code, number=ticket.number, matter_code=matter.code,
                     zone=zone, channel=channel, priority=priority, issued_at=now),
        hall=hall_code,
    )
    return ticket, ahead + 1, minutes


async def ticket_position(session: AsyncSession, *, ticket: Ticket) -> tuple[int | None, float | None]:
    """Position (1 = next among the tickets competing for its windows) and expected wait; None unless waiting."""
    if ticket.status != "waiting":
        return None, None
    matters = await repo.all_matters(session)
    matter = matters.get(ticket.matter_code)
    if matter is None:
        return None, None
    windows = await repo.windows_of(session, hall=ticket.hall)
    ahead, minutes = await estimate_minutes(
        session, hall=ticket.hall, zone=ticket.zone, matter=matter, priority=ticket.priority,
        queue_at=ticket.queue_at, windows=windows, matters=matters, busy=await repo.busy_windows(session, hall=ticket.hall),
    )
    return ahead + 1, minutes


def _called(ticket: Ticket, window: Window, now: datetime, *, recall: bool = False) -> TicketCalled:
    return TicketCalled(ticket_id=str(ticket.id), hall=ticket.hall, number=ticket.number,
                        matter_code=ticket.matter_code, window=window.code, staff_id=window.staff_id,
                        called_at=now, zone=ticket.zone, recall=recall)


async def call_next(
    session: AsyncSession, *, outbox: Outbox, hall: str, window_code: str, principal: Principal,
    now: datetime | None = None,
) -> Ticket | None:
    """The window takes its best waiting ticket (None when nothing waits); never one another window holds."""
    now = now or datetime.now(UTC)
    window = await staffed_window(session, hall=hall, code=window_code, principal=principal)
    if window.state == "paused":
        raise Conflict(f"window {window_code} is paused; resume it first")
    if await repo.current_ticket(session, hall=hall, window=window_code) is not None:
        raise Conflict("finish, park or mark the current ticket as a no-show first")
    hall_row = await require_hall(session, code=hall)
    ticket = await repo.pick_next(
        session, window=window, starve_before=now - timedelta(minutes=hall_row.starve_after_minutes)
    )
    if ticket is None:
        return None
    ticket.status, ticket.window, ticket.staff_id = "called", window.code, window.staff_id
    ticket.first_called_at = ticket.first_called_at or now
    ticket.last_called_at, ticket.call_count = now, ticket.call_count + 1
    await session.flush()
    await outbox.add(session, _called(ticket, window, now), hall=hall)
    return ticket


async def held_ticket(session: AsyncSession, *, ticket_id: uuid.UUID, principal: Principal,
                      statuses: tuple[str, ...] = ("called",)) -> tuple[Ticket, Window]:
    """A ticket locked for a window action by the clerk signed in where it was called."""
    ticket = await repo.get_ticket(session, ticket_id=ticket_id, lock=True)
    if ticket is None:
        raise NotFound(f"ticket {ticket_id} does not exist")
    principal.check_hall(ticket.hall)
    if ticket.status not in statuses:
        raise Conflict(f"ticket {ticket.number} is {ticket.status}")
    if ticket.window is None:
        raise Conflict(f"ticket {ticket.number} is not at a window")
    window = await staffed_window(session, hall=ticket.hall, code=ticket.window, principal=principal)
    return ticket, window


async def recall(session: AsyncSession, *, outbox: Outbox, ticket_id: uuid.UUID, principal: Principal,
                 now: datetime | None = None) -> Ticket:
    """Call the same ticket again (the display and the speaker repeat it)."""
    now = now or datetime.now(UTC)
    ticket, window = await held_ticket(session, ticket_id=ticket_id, principal=principal)
    ticket.last_called_at, ticket.call_count = now, ticket.call_count + 1
    await session.flush()
    await outbox.add(session, _called(ticket, window, now, recall=True), hall=ticket.hall)
    return ticket


async def no_show(session: AsyncSession, *, outbox: Outbox, ticket_id: uuid.UUID, principal: Principal,
                  now: datetime | None = None) -> Ticket:
    """The citizen did not come: back to the end of the queue once, dropped the second time."""
    now = now or datetime.now(UTC)
    ticket, window = await held_ticket(session, ticket_id=ticket_id, principal=principal)
    ticket.no_shows += 1
    requeued = ticket.no_shows == 1
    if requeued:
        ticket.status, ticket.queue_at, ticket.window, ticket.staff_id = "waiting", now, None, None
    else:
        ticket.status, ticket.finished_at = "no_show", now
    await session.flush()
    await outbox.add(
        session,
        TicketNoShow(ticket_id=str(ticket.id), hall=ticket.hall, number=ticket.number, matter_code=ticket.matter_code,
                     window=window.code, requeued=requeued, at=now),
        hall=ticket.hall,
    )
    return ticket


async def transfer(session: AsyncSession, *, outbox: Outbox, ticket_id: uuid.UUID, principal: Principal,
                   matter_code: str, zone: str | None, now: datetime | None = None) -> Ticket:
    """Move a called (or parked) ticket to another matter or zone; it keeps its place by original wait."""
    now = now or datetime.now(UTC)
    ticket, window = await held_ticket(session, ticket_id=ticket_id, principal=principal, statuses=("called", "parked"))
    matter, matters = await _matter(session, matter_code)
    windows = await repo.windows_of(session, hall=ticket.hall)
    if zone is None:
        zone, _, _ = await route(session, hall=ticket.hall, matter=matter, matters=matters, priority=ticket.priority,
                                 windows=windows)
    elif not any(w.zone == zone and serves(w, matter) for w in windows):
        raise MatterNotServed(f"no window of zone {zone} serves {matter.code}",
                              errors=[FieldError(field="zone", message=f"no window of zone {zone} serves {matter.code}")])
    from_matter = ticket.matter_code
    ticket.transfers = [*ticket.transfers, {"at": now.isoformat(), "from_matter": from_matter, "from_zone": ticket.zone,
                                            "window": window.code}]
    ticket.matter_code, ticket.category, ticket.zone = matter.code, matter.category, zone
    ticket.status, ticket.window, ticket.staff_id = "waiting", None, None  # queue_at kept: the wait counts
    await session.flush()
    await outbox.add(
        session,
        TicketTransferred(ticket_id=str(ticket.id), hall=ticket.hall, number=ticket.number,
                          matter_code=matter.code, from_matter_code=from_matter, to_zone=zone, at=now),
        hall=ticket.hall,
    )
    return ticket


async def park(session: AsyncSession, *, outbox: Outbox, ticket_id: uuid.UUID, principal: Principal,
               now: datetime | None = None) -> Ticket:
    """Set a called ticket aside (the citizen fetches a document); the window is free for the next."""
    now = now or datetime.now(UTC)
    ticket, window = await held_ticket(session, ticket_id=ticket_id, principal=principal)
    ticket.status = "parked"
    await session.flush()
    await outbox.add(
        session,
        TicketParked(ticket_id=str(ticket.id), hall=ticket.hall, number=ticket.number, matter_code=ticket.matter_code,
                     window=window.code, at=now),
        hall=ticket.hall,
    )
    return ticket


async def resume(session: AsyncSession, *, outbox: Outbox, ticket_id: uuid.UUID, principal: Principal,
                 window_code: str, now: datetime | None = None) -> Ticket:
    """A staffed window takes a parked ticket back and calls it."""
    now = now or datetime.now(UTC)
    ticket = await repo.get_ticket(session, ticket_id=ticket_id, lock=True)
    if ticket is None:
        raise NotFound(f"ticket {ticket_id} does not exist")
    principal.check_hall(ticket.hall)
    if ticket.status != "parked":
        raise Conflict(f"ticket {ticket.number} is {ticket.status}, not parked")
    window = await staffed_window(session, hall=ticket.hall, code=window_code, principal=principal)
    if await repo.current_ticket(session, hall=ticket.hall, window=window_code) is not None:
        raise Conflict("finish, park or mark the current ticket as a no-show first")
    ticket.status, ticket.window, ticket.staff_id = "called", window.code, window.staff_id
    ticket.last_called_at, ticket.call_count = now, ticket.call_count + 1
    await session.flush()
    await outbox.add(session, _called(ticket, window, now, recall=True), hall=ticket.hall)
    return ticket


async def finish(session: AsyncSession, *, outbox: Outbox, ticket_id: uuid.UUID, principal: Principal,
                 outcome: str, application_id: str | None, now: datetime | None = None) -> Ticket:
    """Service finished with an outcome (and the application the clerk opened, if any)."""
    now = now or datetime.now(UTC)
    ticket, window = await held_ticket(session, ticket_id=ticket_id, principal=principal)
    ticket.status, ticket.finished_at, ticket.outcome, ticket.application_id = "served", now, outcome, application_id
    await session.flush()
    assert ticket.first_called_at is not None and ticket.last_called_at is not None
    await outbox.add(
        session,
        TicketServed(
            ticket_id=str(ticket.id), hall=ticket.hall, number=ticket.number, matter_code=ticket.matter_code,
            window=window.code, staff_id=window.staff_id, outcome=outcome, application_id=application_id,
            wait_seconds=(ticket.first_called_at - ticket.issued_at).total_seconds(),
            service_seconds=(now - ticket.last_called_at).total_seconds(), served_at=now,
        ),
        hall=ticket.hall,
    )
    return ticket


async def rate(session: AsyncSession, *, outbox: Outbox, ticket_id: uuid.UUID, score: int, comment: str | None,
               now: datetime | None = None) -> Ticket:
    """The citizen rates the service on the hall pad (once per ticket)."""
    now = now or datetime.now(UTC)
    ticket = await repo.get_ticket(session, ticket_id=ticket_id, lock=True)
    if ticket is None:
        raise NotFound(f"ticket {ticket_id} does not exist")
    if ticket.status not in ("called", "served"):
        raise Conflict(f"ticket {ticket.number} has not been served")
    if ticket.rating is not None:
        raise Conflict(f"ticket {ticket.number} is already rated")
    ticket.rating, ticket.rating_comment, ticket.rated_at = score, comment, now
    await session.flush()
    await outbox.add(
        session,
        TicketRated(ticket_id=str(ticket.id), hall=ticket.hall, number=ticket.number, matter_code=ticket.matter_code,
                    score=score, window=ticket.window, staff_id=ticket.staff_id, at=now),
        hall=ticket.hall,
    )
    return ticket


# ---- public queue status -----------------------------------------------------------------------


async def queue_status(session: AsyncSession, *, hall: str) -> dict[str, object]:
    """Waiting count and expected wait of a new ticket, per zone and per matter served in the hall."""
    await require_hall(session, code=hall)
    windows = await repo.windows_of(session, hall=hall)
    matters = await repo.all_matters(session)
    counts = await repo.waiting_counts(session, hall=hall)
    busy = await repo.busy_windows(session, hall=hall)
    lines: list[dict[str, object]] = []
    zones: list[dict[str, object]] = []
    for zone in sorted({w.zone for w in windows}):
        estimates: list[float] = []
        for matter in sorted(matters.values(), key=lambda m: m.code):
            if not any(w.zone == zone and serves(w, matter) for w in windows):
                continue
            _, minutes = await estimate_minutes(session, hall=hall, zone=zone, matter=matter, priority=PRIORITY_NORMAL,
                                                queue_at=None, windows=windows, matters=matters, busy=busy)
            lines.append({"zone": zone, "matter_code": matter.code, "waiting": counts.get((zone, matter.code), 0),
                          "estimated_wait_minutes": minutes})
            if minutes is not None:
                estimates.append(minutes)
        waiting = sum(n for (z, _), n in counts.items() if z == zone)
        zones.append({"zone": zone, "waiting": waiting, "estimated_wait_minutes": max(estimates) if estimates else None})
    return {"hall": hall, "open_windows": sum(1 for w in windows if w.state == "open"), "zones": zones,
            "matters": lines}


# ---- appointments ------------------------------------------------------------------------------


async def create_slots(session: AsyncSession, *, hall: str, data: SlotsIn) -> list[Slot]:
    """Slots of ``length_minutes`` in [starts_at, ends_at) for a matter; existing ones keep their bookings."""
    await require_hall(session, code=hall)
    await _matter(session, data.matter_code)
    existing = {s.starts_at: s for s in await repo.slots_of(session, hall=hall, matter_code=data.matter_code,
                                                             start=data.starts_at, end=data.ends_at)}
    slots, start, step = [], data.starts_at, timedelta(minutes=data.length_minutes)
    while start + step <= data.ends_at:
        slot = existing.get(start)
        if slot is None:
            slot = Slot(id=uuid.uuid4(), hall=hall, matter_code=data.matter_code, starts_at=start, ends_at=start + step,
                        capacity=data.capacity, booked=0)
            session.add(slot)
        else:
            slot.capacity = max(data.capacity, slot.booked)
        slots.append(slot)
        start += step
    await session.flush()
    return slots


async def book(session: AsyncSession, *, slot_id: uuid.UUID, applicant_id: str, now: datetime | None = None) -> Appointment:
    """Book a place of a slot; never more bookings than its capacity."""
    now = now or datetime.now(UTC)
    slot = await session.get(Slot, slot_id)
    if slot is None:
        raise NotFound(f"slot {slot_id} does not exist")
    if slot.ends_at <= now:
        raise Conflict("the slot is over")
    reserved = await repo.reserve_slot(session, slot_id=slot_id)
    if reserved is None:
        raise Conflict("the slot is fully booked", code="slot_full")
    appointment = Appointment(id=uuid.uuid4(), slot_id=slot_id, hall=slot.hall, matter_code=slot.matter_code,
                              starts_at=slot.starts_at, applicant_id=applicant_id, status="booked")
    session.add(appointment)
    await session.flush()
    return appointment


async def own_appointment(session: AsyncSession, *, appointment_id: uuid.UUID, principal: Principal) -> Appointment:
    """The caller's appointment (404 for others': no hint it exists)."""
    appointment = await session.get(Appointment, appointment_id, with_for_update=True)
    if appointment is None or appointment.applicant_id != principal.applicant_id:
        raise NotFound(f"appointment {appointment_id} does not exist")
    return appointment


async def cancel(session: AsyncSession, *, appointment_id: uuid.UUID, principal: Principal) -> Appointment:
    """Cancel a booking; its place goes back to the slot."""
    appointment = await own_appointment(session, appointment_id=appointment_id, principal=principal)
    if appointment.status != "booked":
        raise Conflict(f"appointment is {appointment.status}")
    appointment.status = "cancelled"
    await repo.release_slot(session, slot_id=appointment.slot_id)
    await session.flush()
    return appointment


async def check_in(session: AsyncSession, *, outbox: Outbox, appointment_id: uuid.UUID,
                   now: datetime | None = None) -> tuple[Appointment, Ticket, int, float | None, bool]:
    """At the kiosk: on time (early/late limits) gives an appointment-priority ticket, late a walk-in one."""
    now = now or datetime.now(UTC)
    appointment = await session.get(Appointment, appointment_id, with_for_update=True)
    if appointment is None:
        raise NotFound(f"appointment {appointment_id} does not exist")
    if appointment.status != "booked":
        raise Conflict(f"appointment is {appointment.status}")
    hall = await require_hall(session, code=appointment.hall)
    if now < appointment.starts_at - timedelta(minutes=hall.appointment_early_minutes):
        raise Conflict(f"too early: check in from {hall.appointment_early_minutes} minutes before the slot",
                       code="too_early")
    on_time = now <= appointment.starts_at + timedelta(minutes=hall.appointment_late_minutes)
    ticket, position, minutes = await take_ticket(
        session, outbox=outbox, hall_code=appointment.hall, matter_code=appointment.matter_code, channel="appointment",
        priority=PRIORITY_APPOINTMENT if on_time else PRIORITY_NORMAL, appointment_id=appointment.id, now=now,
    )
    appointment.status, appointment.ticket_id = "checked_in", ticket.id
    await session.flush()
    return appointment, ticket, position, minutes, on_time


# ---- statistics --------------------------------------------------------------------------------


async def statistics(session: AsyncSession, *, hall: str, day_from: date, day_to: date, group_by: str) -> list[dict]:
    """Percentiles of waiting and service time, no-show rate and ratings, grouped."""
    await require_hall(session, code=hall)
    if day_to < day_from:
        raise Unprocessable("day_to before day_from", errors=[FieldError(field="day_to", message="before day_from")])
    if (day_to - day_from).days > 366:
        raise Unprocessable("at most one year", errors=[FieldError(field="day_to", message="at most 366 days")])
    rows = await repo.statistics(session, hall=hall, day_from=day_from, day_to=day_to, group_by=group_by,
                                 tz="Asia/Shanghai")
    for row in rows:
        done = row["served"] + row["no_shows"]
        row["no_show_rate"] = round(row["no_shows"] / done, 4) if done else None
        for key in ("wait_p50", "wait_p90", "service_p50", "service_p90"):
            value = row.pop(key)
            row[f"{key}_minutes"] = None if value is None else round(float(value), 2)
        row["rating_avg"] = None if row["rating_avg"] is None else round(row["rating_avg"], 2)
    return rows


# ---- catalogue read model ----------------------------------------------------------------------


async def upsert_matter(session: AsyncSession, *, event: MatterPublished) -> None:
    """Keep the matter read model at the newest catalogue version (older versions never overwrite)."""
    matter = await session.get(Matter, event.code, with_for_update=True)
    if matter is not None and matter.catalog_version > event.catalog_version:
        return
    if matter is None:
        matter = Matter(code=event.code)
        session.add(matter)
    matter.name, matter.zone, matter.category, matter.department = event.name, event.zone, event.category, event.department
    matter.avg_handling_minutes, matter.daily_share_weight = event.avg_handling_minutes, event.daily_share_weight
    matter.catalog_version = event.catalog_version
    await session.flush()

