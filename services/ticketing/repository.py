"""Every query of the ticketing service."""

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, case, delete, func, literal, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.ticketing.models import (
    Appointment,
    BoardCall,
    BoardCounter,
    BoardPending,
    Hall,
    Slot,
    Ticket,
    WebProof,
    Window,
    Zone,
)


async def get_hall(session: AsyncSession, *, code: str, lock: bool = False) -> Hall | None:
    """The hall ``code`` or None; ``lock`` takes a row lock (serialises changes of one hall)."""
    return await session.get(Hall, code, with_for_update=lock or None)


async def claim_unpublished_halls(session: AsyncSession) -> list[Hall]:
    """Mark every hall whose version was never published as published, returning them; the row locks
    make a concurrent caller wait and then skip them (its WHERE no longer matches)."""
    statement = (
        update(Hall)
        .where(Hall.published_version < Hall.version)
        .values(published_version=Hall.version)
        .returning(Hall)
        .execution_options(synchronize_session=False)
    )
    return list((await session.execute(statement)).scalars())


async def zones_of(session: AsyncSession, *, hall: str) -> list[Zone]:
    """The zones of ``hall`` by code."""
    return list((await session.execute(select(Zone).where(Zone.hall == hall).order_by(Zone.code))).scalars())


async def windows_of(session: AsyncSession, *, hall: str, active_only: bool = True) -> list[Window]:
    """The windows of ``hall`` by code."""
    query = select(Window).where(Window.hall == hall)
    if active_only:
        query = query.where(Window.active.is_(True))
    return list((await session.execute(query.order_by(Window.code))).scalars())


async def get_window(session: AsyncSession, *, hall: str, code: str, lock: bool = False) -> Window | None:
    """One window; ``lock`` takes a row lock (serialises calls of one window)."""
    return await session.get(Window, (hall, code), with_for_update=lock or None)


def _skill_match(skills: list[str]) -> Any:
    return or_(Ticket.matter_code.in_(skills), Ticket.category.in_(skills))


async def pick_next(
    session: AsyncSession, *, window: Window, starve_before: datetime
) -> Ticket | None:
    """Lock and return the best waiting ticket for ``window``; tickets other windows hold are skipped.

    Order: priority (green channel, on-time appointments), then any ticket waiting since before
    ``starve_before`` (so low-volume matters never starve), then the window's primary skills,
    then the longest wait.

    Done as walks of the zone's queue index (ix_tickets_zone_queue) rather than one sort of every
    waiting ticket by a computed rank, which grew with the backlog: a probe finds the top priority and
    its longest wait (an empty queue ends there); if that ticket is starving, or the window has no primary
    skills, the oldest of the priority is the answer, else the oldest primary-skill ticket of the
    priority, else the oldest. Only when every candidate of that priority is locked by other windows
    does the full ranking decide.
    """
    serves = and_(Ticket.hall == window.hall, Ticket.zone == window.zone, Ticket.status == "waiting",
                  _skill_match(window.skills))
    in_queue = (Ticket.priority.desc(), Ticket.queue_at, Ticket.id)
    probe = (await session.execute(select(Ticket.priority, Ticket.queue_at).where(serves).order_by(*in_queue)
                                   .limit(1))).first()
    if probe is None:
        return None
    top, oldest_at = probe
    primary = window.primary_skills or []

    async def oldest(*where: Any) -> Ticket | None:
        query = (select(Ticket).where(serves, Ticket.priority == top, *where).order_by(*in_queue).limit(1)
                 .with_for_update(skip_locked=True))
        return (await session.execute(query)).scalars().first()

    ticket = None
    if primary and oldest_at > starve_before:
        ticket = await oldest(_skill_match(primary))
    ticket = ticket or await oldest()
    if ticket is not None:
        return ticket
    rank = case(
        (Ticket.queue_at <= starve_before, 0),
        (_skill_match(primary) if primary else literal(False), 1),
        else_=2,
    )
    query = (
        select(Ticket).where(serves).order_by(Ticket.priority.desc(), rank, Ticket.queue_at, Ticket.id).limit(1)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(query)).scalars().first()


async def current_ticket(session: AsyncSession, *, hall: str, window: str) -> Ticket | None:
    """The ticket a window has called and not finished."""
    query = select(Ticket).where(Ticket.hall == hall, Ticket.window == window, Ticket.status == "called")
    return (await session.execute(query.order_by(Ticket.last_called_at.desc()).limit(1))).scalars().first()


async def get_ticket(session: AsyncSession, *, ticket_id: uuid.UUID, lock: bool = False) -> Ticket | None:
    """One ticket; ``lock`` takes a row lock."""
    return await session.get(Ticket, ticket_id, with_for_update=lock or None)


# A route's figures in one round trip (hand-written: three grouped reads as one statement): the windows
# serving a ticket now, the waiting tickets ahead per zone and matter, the latest service times per zone
# (a walk of ix_tickets_served each).
_ZONE_FIGURES = """
SELECT 'busy' AS kind, t."window" AS zone, NULL AS matter_code, NULL::float8 AS value
  FROM ticketing.tickets t WHERE t.hall = :hall AND t.status = 'called' AND t."window" IS NOT NULL
 GROUP BY t."window"
UNION ALL
SELECT 'ahead', t.zone, t.matter_code, count(*)::float8
  FROM ticketing.tickets t
 WHERE t.hall = :hall AND t.zone = ANY(CAST(:zones AS text[])) AND t.status = 'waiting' AND {ahead}
 GROUP BY t.zone, t.matter_code
UNION ALL
SELECT 'recent', z.zone, NULL, r.minutes
  FROM unnest(CAST(:zones AS text[])) AS z(zone)
 CROSS JOIN LATERAL (
       SELECT extract(epoch FROM s.finished_at - s.last_called_at)::float8 / 60.0 AS minutes
         FROM ticketing.tickets s
        WHERE s.hall = :hall AND s.zone = z.zone AND s.status = 'served'
        ORDER BY s.finished_at DESC LIMIT :recent) r
"""
_FIGURES_NEW = text(_ZONE_FIGURES.format(ahead="t.priority >= :priority"))
_FIGURES_HELD = text(_ZONE_FIGURES.format(
    ahead="(t.priority > :priority OR (t.priority = :priority AND t.queue_at < :queue_at))"))


async def zone_figures(
    session: AsyncSession, *, hall: str, zones: Iterable[str], priority: int, queue_at: datetime | None, recent: int,
) -> tuple[set[str], dict[tuple[str, str], int], dict[str, list[float]]]:
    """(windows of the hall serving a ticket, waiting tickets per (zone, matter) of ``zones`` called before
    one with this priority/time (``queue_at`` None: a new ticket), the latest ``recent`` service times in
    minutes per zone)."""
    wanted = sorted(set(zones))
    params: dict[str, Any] = {"hall": hall, "zones": wanted, "priority": priority, "recent": recent}
    if queue_at is not None:
        params["queue_at"] = queue_at
    rows = (await session.execute(_FIGURES_NEW if queue_at is None else _FIGURES_HELD, params)).all()
    busy: set[str] = set()
    ahead: dict[tuple[str, str], int] = {}
    minutes: dict[str, list[float]] = {z: [] for z in wanted}
    for kind, zone, matter_code, value in rows:
        if kind == "busy":
            busy.add(zone)
        elif kind == "ahead":
            ahead[(zone, matter_code)] = int(value)
        else:
            minutes[zone].append(float(value))
    return busy, ahead, minutes


async def waiting_counts(session: AsyncSession, *, hall: str) -> dict[tuple[str, str], int]:
    """Waiting tickets per (zone, matter) of a hall."""
    query = (
        select(Ticket.zone, Ticket.matter_code, func.count())
        .where(Ticket.hall == hall, Ticket.status == "waiting")
        .group_by(Ticket.zone, Ticket.matter_code)
    )
    return {(z, m): n for z, m, n in (await session.execute(query)).all()}


async def add_board_call(session: AsyncSession, *, values: dict[str, Any]) -> None:
    """Record one call; the deferred trigger gives it its board position at commit."""
    session.add(BoardPending(**values))


async def board_position(session: AsyncSession, *, hall: str) -> int:
    """The last committed board position of ``hall`` (0 before its first call)."""
    query = select(BoardCounter.last).where(BoardCounter.hall == hall)
    return (await session.execute(query)).scalar() or 0


async def board_calls(session: AsyncSession, *, hall: str, after: int | None, limit: int = 50) -> list[BoardCall]:
    """Board entries of ``hall`` after position ``after`` (the latest ``limit`` when None), oldest first."""
    query = select(BoardCall).where(BoardCall.hall == hall)
    if after is None:
        rows = (await session.execute(query.order_by(BoardCall.seq.desc()).limit(limit))).scalars().all()
        return list(reversed(rows))
    query = query.where(BoardCall.seq > after).order_by(BoardCall.seq).limit(limit)
    return list((await session.execute(query)).scalars())


async def lock_key(session: AsyncSession, *, key: str) -> None:
    """Serialise transactions on ``key`` until this one ends (a PostgreSQL transaction advisory lock):
    a check-then-insert under it cannot be passed by two concurrent callers."""
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))


async def waiting_web_tickets(session: AsyncSession, *, hall: str, applicant_id: str, day: date) -> int:
    """Waiting tickets an applicant took on the web in a hall on a business day."""
    query = select(func.count()).where(
        Ticket.applicant_id == applicant_id, Ticket.business_day == day, Ticket.hall == hall,
        Ticket.status == "waiting",
    )
    return (await session.execute(query)).scalar_one()


async def spend_web_proof(
    session: AsyncSession, *, nonce: str, hall: str, expires_at: datetime, now: datetime
) -> bool:
    """Record a captcha proof as used; False when it was used already. Expired ones are forgotten first
    (a replay of those is refused by its expiry). A concurrent use of the same nonce waits on the key and
    then finds it taken (or takes it, if the first transaction rolled back)."""
    await session.execute(delete(WebProof).where(WebProof.expires_at < now))
    statement = (
        insert(WebProof)
        .values(nonce=nonce, hall=hall, expires_at=expires_at, used_at=now)
        .on_conflict_do_nothing(index_elements=[WebProof.nonce])
        .returning(WebProof.nonce)
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None


async def active_bookings(
    session: AsyncSession, *, applicant_id: str, matter_code: str, start: datetime, end: datetime
) -> int:
    """An applicant's bookings (not cancelled) of a matter whose slot starts in [start, end)."""
    query = select(func.count()).where(
        Appointment.applicant_id == applicant_id, Appointment.matter_code == matter_code,
        Appointment.starts_at >= start, Appointment.starts_at < end, Appointment.status != "cancelled",
    )
    return (await session.execute(query)).scalar_one()


async def reserve_slot(session: AsyncSession, *, slot_id: uuid.UUID) -> Slot | None:
    """Take one place of a slot if any is left (atomic); None when the slot is full or unknown."""
    statement = (
        update(Slot)
        .where(Slot.id == slot_id, Slot.booked < Slot.capacity)
        .values(booked=Slot.booked + 1)
        .returning(Slot.id)
        .execution_options(synchronize_session=False)  # a plain UPDATE; the row is re-read below
    )
    if (await session.execute(statement)).scalar_one_or_none() is None:
        return None
    return await session.get(Slot, slot_id, populate_existing=True)


async def release_slot(session: AsyncSession, *, slot_id: uuid.UUID) -> None:
    """Give back one place of a slot."""
    await session.execute(
        update(Slot)
        .where(Slot.id == slot_id, Slot.booked > 0)
        .values(booked=Slot.booked - 1)
        .execution_options(synchronize_session=False)
    )


async def slots_of(session: AsyncSession, *, hall: str, matter_code: str | None, start: datetime,
                   end: datetime) -> list[Slot]:
    """Slots of a hall (and matter) starting in [start, end)."""
    query = select(Slot).where(Slot.hall == hall, Slot.starts_at >= start, Slot.starts_at < end)
    if matter_code:
        query = query.where(Slot.matter_code == matter_code)
    return list((await session.execute(query.order_by(Slot.starts_at, Slot.matter_code))).scalars())


async def appointments_of(session: AsyncSession, *, applicant_id: str) -> list[Appointment]:
    """An applicant's appointments, earliest first."""
    query = select(Appointment).where(Appointment.applicant_id == applicant_id).order_by(Appointment.starts_at)
    return list((await session.execute(query)).scalars())


STATS_KEYS = {
    "hall": "t.hall",
    "zone": "t.zone",
    "matter": "t.matter_code",
    "window": "t.window",
    "clerk": "t.staff_id",
    "day": "t.business_day::text",
    "hour": "lpad(extract(hour from t.issued_at AT TIME ZONE :tz)::int::text, 2, '0')",
}


async def statistics(
    session: AsyncSession, *, hall: str, day_from: date, day_to: date, group_by: str, tz: str
) -> list[dict[str, Any]]:
    """Waiting and service percentiles, no-shows and ratings of a hall's tickets, grouped."""
    key = STATS_KEYS[group_by]
    sql = text(
        f"""
        SELECT {key} AS key,
          count(*) AS tickets,
          count(*) FILTER (WHERE t.status = 'served') AS served,
          count(*) FILTER (WHERE t.status = 'no_show') AS no_shows,
          percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM t.first_called_at - t.issued_at))
            FILTER (WHERE t.first_called_at IS NOT NULL) / 60.0 AS wait_p50,
          percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM t.first_called_at - t.issued_at))
            FILTER (WHERE t.first_called_at IS NOT NULL) / 60.0 AS wait_p90,
          percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM t.finished_at - t.last_called_at))
            FILTER (WHERE t.status = 'served') / 60.0 AS service_p50,
          percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM t.finished_at - t.last_called_at))
            FILTER (WHERE t.status = 'served') / 60.0 AS service_p90,
          count(t.rating) AS ratings,
          avg(t.rating)::float AS rating_avg
        FROM ticketing.tickets t
        WHERE t.hall = :hall AND t.business_day BETWEEN :day_from AND :day_to
        GROUP BY 1 ORDER BY 1 NULLS LAST
        """
    )
    params: dict[str, Any] = {"hall": hall, "day_from": day_from, "day_to": day_to}
    if ":tz" in key:
        params["tz"] = tz
    return [dict(r._mapping) for r in (await session.execute(sql, params)).all()]
