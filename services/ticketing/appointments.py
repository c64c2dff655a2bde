"""Appointments: slots with a capacity, bookings, cancellations and check-in at the kiosk."""

import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.ticketing import catalog, halls, hours, tickets
from services.ticketing import repository as repo
from services.ticketing.models import Appointment, Slot, Ticket
from services.ticketing.numbering import TicketNumbers
from services.ticketing.schemas import SlotsIn
from services.ticketing.snapshots import Snapshots
from shared.auth import Principal
from shared.outbox import Outbox
from shared.problems import Conflict, NotFound


async def create_slots(session: AsyncSession, *, hall: str, data: SlotsIn) -> list[Slot]:
    """Slots of ``length_minutes`` in [starts_at, ends_at) for a matter; existing ones keep their bookings."""
    await halls.require_hall(session, code=hall)
    await catalog.require_matter(session, code=data.matter_code)
    existing = {
        s.starts_at: s
        for s in await repo.slots_of(
            session, hall=hall, matter_code=data.matter_code, start=data.starts_at, end=data.ends_at
        )
    }
    slots, start, step = [], data.starts_at, timedelta(minutes=data.length_minutes)
    while start + step <= data.ends_at:
        slot = existing.get(start)
        if slot is None:
            slot = Slot(
                id=uuid.uuid4(),
                hall=hall,
                matter_code=data.matter_code,
                starts_at=start,
                ends_at=start + step,
                capacity=data.capacity,
                booked=0,
            )
            session.add(slot)
        else:
            slot.capacity = max(data.capacity, slot.booked)
        slots.append(slot)
        start += step
    await session.flush()
    return slots


async def list_slots(session: AsyncSession, *, hall: str, day: date, matter_code: str | None) -> list[Slot]:
    """Slots of a hall's business day (Asia/Shanghai), of one matter when given; 404 for an unknown hall."""
    await halls.require_hall(session, code=hall)
    start = datetime.combine(day, datetime.min.time(), tzinfo=hours.TZ)
    return await repo.slots_of(
        session, hall=hall, matter_code=matter_code, start=start, end=start + timedelta(days=1)
    )


async def book(
    session: AsyncSession,
    *,
    slot_id: uuid.UUID,
    applicant_id: str,
    max_per_matter_day: int = 1,
    now: datetime | None = None,
) -> Appointment:
    """Book a place of a slot; never more bookings than its capacity, and at most ``max_per_matter_day``
    active (not cancelled) bookings per applicant, matter and business day (409 ``booking_limit``): one
    person cannot take every place. The check runs under a lock on (applicant, matter, day), so two
    concurrent bookings cannot both pass it."""
    now = now or datetime.now(UTC)
    slot = await session.get(Slot, slot_id)
    if slot is None:
        raise NotFound(f"slot {slot_id} does not exist")
    if slot.ends_at <= now:
        raise Conflict("the slot is over")
    day = hours.business_day(slot.starts_at)
    await repo.lock_key(session, key=f"ticketing.bookings:{applicant_id}:{slot.matter_code}:{day.isoformat()}")
    start = datetime.combine(day, datetime.min.time(), tzinfo=hours.TZ)
    held = await repo.active_bookings(
        session, applicant_id=applicant_id, matter_code=slot.matter_code, start=start, end=start + timedelta(days=1)
    )
    if held >= max_per_matter_day:
        raise Conflict(
            f"you already hold {held} booking(s) of {slot.matter_code} on {day.isoformat()} "
            f"(at most {max_per_matter_day}); cancel one to book another",
            code="booking_limit",
        )
    reserved = await repo.reserve_slot(session, slot_id=slot_id)
    if reserved is None:
        raise Conflict("the slot is fully booked", code="slot_full")
    appointment = Appointment(
        id=uuid.uuid4(),
        slot_id=slot_id,
        hall=slot.hall,
        matter_code=slot.matter_code,
        starts_at=slot.starts_at,
        applicant_id=applicant_id,
        status="booked",
    )
    session.add(appointment)
    await session.flush()
    return appointment


async def own_appointment(
    session: AsyncSession, *, appointment_id: uuid.UUID, principal: Principal
) -> Appointment:
    """The caller's appointment (404 for others': no hint it exists)."""
    appointment = await session.get(Appointment, appointment_id, with_for_update=True)
    if appointment is None or appointment.applicant_id != principal.applicant_id:
        raise NotFound(f"appointment {appointment_id} does not exist")
    return appointment


async def mine(session: AsyncSession, *, principal: Principal) -> list[Appointment]:
    """The caller's appointments, earliest first."""
    if principal.applicant_id is None:
        return []
    return await repo.appointments_of(session, applicant_id=principal.applicant_id)


async def cancel(session: AsyncSession, *, appointment_id: uuid.UUID, principal: Principal) -> Appointment:
    """Cancel a booking; its place goes back to the slot."""
    appointment = await own_appointment(session, appointment_id=appointment_id, principal=principal)
    if appointment.status != "booked":
        raise Conflict(f"appointment is {appointment.status}")
    appointment.status = "cancelled"
    await repo.release_slot(session, slot_id=appointment.slot_id)
    await session.flush()
    return appointment


async def check_in(
    session: AsyncSession,
    *,
    outbox: Outbox,
    appointment_id: uuid.UUID,
    correlation_id: str | None = None,
    rating_secret_hash: str | None = None,
    numbers: TicketNumbers,
    snapshots: Snapshots | None = None,
    now: datetime | None = None,
) -> tuple[Appointment, Ticket, int, float | None, bool]:
    """At the kiosk: on time (early/late limits) gives an appointment-priority ticket, late a walk-in one
    (``rating_secret_hash``: see ``tickets.take``)."""
    now = now or datetime.now(UTC)
    appointment = await session.get(Appointment, appointment_id, with_for_update=True)
    if appointment is None:
        raise NotFound(f"appointment {appointment_id} does not exist")
    if appointment.status != "booked":
        raise Conflict(f"appointment is {appointment.status}")
    hall = await halls.require_hall(session, code=appointment.hall)
    if now < appointment.starts_at - timedelta(minutes=hall.appointment_early_minutes):
        raise Conflict(
            f"too early: check in from {hall.appointment_early_minutes} minutes before the slot",
            code="too_early",
        )
    on_time = now <= appointment.starts_at + timedelta(minutes=hall.appointment_late_minutes)
    ticket, position, minutes = await tickets.take(
        session,
        outbox=outbox,
        hall_code=appointment.hall,
        matter_code=appointment.matter_code,
        channel="appointment",
        priority=tickets.PRIORITY_APPOINTMENT if on_time else tickets.PRIORITY_NORMAL,
        appointment_id=appointment.id,
        correlation_id=correlation_id,
        rating_secret_hash=rating_secret_hash,
        numbers=numbers,
        snapshots=snapshots,
        now=now,
    )
    appointment.status, appointment.ticket_id = "checked_in", ticket.id
    await session.flush()
    return appointment, ticket, position, minutes, on_time
