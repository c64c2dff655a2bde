"""Ticketing HTTP endpoints (thin: every rule and query lives in the sub-domain modules)."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import HTMLResponse, StreamingResponse

from services.ticketing import (
    appointments,
    board,
    channels,
    display,
    halls,
    hours,
    search,
    statistics,
    tickets,
)
from services.ticketing import wakeups as wakeups_module
from services.ticketing.config import TicketingSettings
from services.ticketing.models import Appointment, Hall, Slot, Ticket, Window, Zone
from services.ticketing.numbering import TicketNumbers
from services.ticketing.schemas import (
    AppointmentOut,
    Book,
    CallOut,
    CheckInOut,
    Finish,
    HallIn,
    HallOut,
    MatterHit,
    PadOut,
    QueueStatus,
    Rating,
    SignIn,
    SlotOut,
    SlotsIn,
    Stats,
    TakeTicket,
    TicketCallOut,
    TicketIssuedOut,
    TicketOut,
    Transfer,
    WebTicket,
    WindowIn,
    WindowOut,
    ZoneIn,
)
from services.ticketing.snapshots import Snapshots
from services.ticketing.wakeups import Wakeups
from shared.auth import Principal, Role, public, require
from shared.observability import CORRELATION_HEADER
from shared.problems import FieldError, Unprocessable
from shared.service_app import RuntimeDep, SessionDep
from shared.validators import HallCode, SaneDate

router = APIRouter(tags=["ticketing"])

WINDOW_ROLES = channels.WINDOW_ROLES
HallAdmin = Annotated[Principal, require(Role.HALL_ADMIN)]
WindowStaff = Annotated[Principal, require(*WINDOW_ROLES)]
Applicant = Annotated[Principal, require(Role.APPLICANT)]
WindowStaffOrService = Annotated[Principal, require(Role.CLERK, Role.SERVICE)]
TicketTaker = Annotated[Principal, require(*channels.TAKE_ROLES)]


async def _settings(request: Request) -> TicketingSettings:
    """The running service's settings (a ``TicketingSettings``, as given to ``create_app``)."""
    settings: TicketingSettings = request.app.state.runtime.settings
    return settings


Settings = Annotated[TicketingSettings, Depends(_settings)]


async def _numbers(request: Request) -> TicketNumbers:
    numbers: TicketNumbers = request.app.state.ticket_numbers
    return numbers


async def _snapshots(request: Request) -> Snapshots:
    snapshots: Snapshots = request.app.state.snapshots
    return snapshots


async def _wakeups(request: Request) -> Wakeups:
    wakeups: Wakeups = request.app.state.wakeups
    return wakeups


# Built with the app (main.py): ticket numbers on their own connections, copies of windows and matters,
# the windows waiting for a ticket.
Numbers = Annotated[TicketNumbers, Depends(_numbers)]
Copies = Annotated[Snapshots, Depends(_snapshots)]
Wakeup = Annotated[Wakeups, Depends(_wakeups)]
DISPLAY_PAGE = Path(__file__).resolve().parent / "display.html"
BOARD_BATCH = 50  # board entries read per poll


def caller_correlation(request: Request) -> str | None:
    """The X-Correlation-ID the caller sent, if any (the middleware makes one up for every request,
    but only one the caller chose should name a whole flow)."""
    value = (request.headers.get(CORRELATION_HEADER) or "").strip()
    return value[:100] or None


def ticket_out(ticket: Ticket, *, position: int | None = None, minutes: float | None = None) -> TicketOut:
    return TicketOut(
        id=ticket.id, hall=ticket.hall, zone=ticket.zone, number=ticket.number, matter_code=ticket.matter_code,
        channel=ticket.channel, priority=ticket.priority, status=ticket.status, issued_at=ticket.issued_at,
        window=ticket.window, position=position, estimated_wait_minutes=minutes, correlation_id=ticket.correlation_id,
    )


def issued_out(ticket: Ticket, rating_secret: str, *, position: int | None, minutes: float | None) -> TicketIssuedOut:
    """The ticket as its taker gets it: with the rating secret (never in any other response)."""
    return TicketIssuedOut(**ticket_out(ticket, position=position, minutes=minutes).model_dump(),
                           rating_secret=rating_secret)


def window_out(window: Window) -> WindowOut:
    return WindowOut(hall=window.hall, code=window.code, zone=window.zone, name=window.name, skills=window.skills,
                     primary_skills=window.primary_skills, active=window.active, state=window.state,
                     staff_name=window.staff_name, staff_no=window.staff_no, staff_unit=window.staff_unit)


def appointment_out(a: Appointment) -> AppointmentOut:
    return AppointmentOut(id=a.id, hall=a.hall, matter_code=a.matter_code, starts_at=a.starts_at, status=a.status,
                          ticket_id=a.ticket_id)


def slot_out(s: Slot) -> SlotOut:
    return SlotOut(id=s.id, hall=s.hall, matter_code=s.matter_code, starts_at=s.starts_at, ends_at=s.ends_at,
                   capacity=s.capacity, available=s.capacity - s.booked)


# ---- administration (hall_admin, scoped to halls) ----------------------------------------------


def hall_out(row: Hall, zones: list[Zone]) -> HallOut:
    return HallOut(**{k: getattr(row, k) for k in HallOut.model_fields if k != "zones"},
                   zones=[ZoneIn(code=z.code, name=z.name) for z in zones])


@router.put("/halls/{hall}", tags=["administration"])
async def put_hall(hall: HallCode, body: HallIn, session: SessionDep, runtime: RuntimeDep,
                   principal: HallAdmin) -> HallOut:
    """Create or update a hall: opening hours, queue rules and zones (a closed-down hall stays closed).
    Every change is published as ``hall.published``: acceptance checks collection halls against it."""
    principal.check_hall(hall)
    row, zones = await halls.put_hall(session, outbox=runtime.outbox, code=hall, data=body)
    return hall_out(row, zones)


@router.post("/halls/{hall}/close", tags=["administration"])
async def close_hall(hall: HallCode, session: SessionDep, runtime: RuntimeDep, principal: HallAdmin) -> HallOut:
    """Close the hall down (撤并): it takes no more tickets, and acceptance refuses it as a collection
    hall (``hall.published`` with status ``closed``). Windows, zones and history stay; idempotent."""
    principal.check_hall(hall)
    return hall_out(*await halls.set_status(session, outbox=runtime.outbox, code=hall, status="closed"))


@router.post("/halls/{hall}/reopen", tags=["administration"])
async def reopen_hall(hall: HallCode, session: SessionDep, runtime: RuntimeDep, principal: HallAdmin) -> HallOut:
    """Reopen a hall that was closed down; idempotent."""
    principal.check_hall(hall)
    return hall_out(*await halls.set_status(session, outbox=runtime.outbox, code=hall, status="open"))


@router.put("/halls/{hall}/windows/{window}", tags=["administration"])
async def put_window(hall: HallCode, window: str, body: WindowIn, session: SessionDep, principal: HallAdmin) -> WindowOut:
    """Create or update a window: zone and skills (matter codes or categories)."""
    principal.check_hall(hall)
    return window_out(await halls.put_window(session, hall=hall, code=window, data=body))


@router.get("/halls/{hall}/windows", tags=["administration"])
async def list_windows(
    hall: HallCode, session: SessionDep,
    principal: Annotated[Principal, require(Role.HALL_ADMIN, *WINDOW_ROLES, Role.AUDITOR)],
) -> list[WindowOut]:
    """The windows of a hall with their state and the clerk signed in."""
    principal.check_hall(hall)
    return [window_out(w) for w in await halls.list_windows(session, hall=hall)]


@router.post("/halls/{hall}/slots", status_code=201, tags=["appointments"])
async def create_slots(hall: HallCode, body: SlotsIn, session: SessionDep, principal: HallAdmin) -> list[SlotOut]:
    """Open appointment slots for a matter (capacity per slot)."""
    principal.check_hall(hall)
    return [slot_out(s) for s in await appointments.create_slots(session, hall=hall, data=body)]


@router.get("/halls/{hall}/stats", tags=["statistics"])
async def stats(
    hall: HallCode, session: SessionDep, principal: Annotated[Principal, require(Role.HALL_ADMIN, Role.AUDITOR)],
    group_by: Literal["hall", "zone", "matter", "window", "clerk", "day", "hour"] = "zone",
    day_from: SaneDate | None = None, day_to: SaneDate | None = None,
) -> Stats:
    """Waiting and service time percentiles, no-show rate and ratings, by zone/matter/window/clerk/day/hour."""
    principal.check_hall(hall)
    today = hours.business_day(datetime.now(UTC))
    day_from, day_to = day_from or today, day_to or day_from or today
    rows = await statistics.report(session, hall=hall, day_from=day_from, day_to=day_to, group_by=group_by)
    return Stats(hall=hall, day_from=day_from, day_to=day_to, group_by=group_by, rows=rows)


# ---- windows (clerks) --------------------------------------------------------------------------


@router.post("/halls/{hall}/windows/{window}/sign-in", tags=["windows"])
async def sign_in(hall: HallCode, window: str, session: SessionDep, principal: WindowStaff,
                  body: SignIn | None = None) -> WindowOut:
    """The clerk signs in at a window (opens it). The pad shows name, staff number (工号) and unit: the
    token's ``staff_no``/``unit`` claims, or the body's when the token has none (422 when they differ)."""
    body = body or SignIn()
    return window_out(await halls.sign_in(session, hall=hall, code=window, principal=principal,
                                          staff_name=body.staff_name, photo_url=body.photo_url,
                                          staff_no=body.staff_no, unit=body.unit))


@router.post("/halls/{hall}/windows/{window}/sign-out", tags=["windows"])
async def sign_out(hall: HallCode, window: str, session: SessionDep, principal: WindowStaff) -> WindowOut:
    """The clerk signs out (closes the window)."""
    return window_out(await halls.sign_out(session, hall=hall, code=window, principal=principal))


@router.post("/halls/{hall}/windows/{window}/pause", tags=["windows"])
async def pause(hall: HallCode, window: str, session: SessionDep, principal: WindowStaff) -> WindowOut:
    """Pause the window: no calls until resumed."""
    return window_out(await halls.set_paused(session, hall=hall, code=window, principal=principal, paused=True))


@router.post("/halls/{hall}/windows/{window}/resume", tags=["windows"])
async def resume_window(hall: HallCode, window: str, session: SessionDep, principal: WindowStaff) -> WindowOut:
    """Resume a paused window."""
    return window_out(await halls.set_paused(session, hall=hall, code=window, principal=principal, paused=False))


@router.post("/halls/{hall}/windows/{window}/call-next", tags=["windows"],
             responses={204: {"description": "Nothing waits for this window"}})
async def call_next(
    hall: HallCode, window: str, runtime: RuntimeDep, principal: WindowStaff, wakeups: Wakeup,
    wait: Annotated[float, Query(ge=0, le=wakeups_module.MAX_WAIT_SECONDS, description=(
        "Seconds to hold the request when nothing waits, until a ticket this window serves is taken "
        "(long poll; 0: answer at once)"))] = 0,
) -> Response:
    """Call the best waiting ticket this window is skilled for (204 when none waits, or none came within
    ``wait`` seconds). A clerk's screen that long-polls (``wait=25``) gets the next citizen the moment one
    takes a number, without polling an empty queue; the longest idle window is woken first."""
    deadline = time.monotonic() + wait
    while True:
        # a transaction per attempt: no database connection is held while the window waits
        async with runtime.transaction() as session:
            ticket = await tickets.call_next(session, outbox=runtime.outbox, hall=hall, window_code=window,
                                             principal=principal)
            idle = None if ticket else await halls.staffed_window(session, hall=hall, code=window,
                                                                  principal=principal, lock=False)
        left = deadline - time.monotonic()
        if ticket is not None:
            return Response(ticket_out(ticket).model_dump_json(), media_type="application/json")
        if left <= 0 or idle is None or runtime.draining:
            return Response(status_code=204)
        await wakeups.wait(hall=hall, zone=idle.zone, skills=frozenset(idle.skills), timeout=left)


@router.post("/tickets/{ticket_id}/recall", tags=["windows"])
async def recall(ticket_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep, principal: WindowStaff) -> TicketOut:
    """Call the current ticket again."""
    return ticket_out(await tickets.recall(session, outbox=runtime.outbox, ticket_id=ticket_id, principal=principal))


@router.post("/tickets/{ticket_id}/no-show", tags=["windows"])
async def no_show(ticket_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep, principal: WindowStaff) -> TicketOut:
    """The citizen did not come: requeued once, dropped the second time."""
    return ticket_out(await tickets.no_show(session, outbox=runtime.outbox, ticket_id=ticket_id, principal=principal))


@router.post("/tickets/{ticket_id}/transfer", tags=["windows"])
async def transfer(ticket_id: uuid.UUID, body: Transfer, session: SessionDep, runtime: RuntimeDep,
                   principal: WindowStaff, copies: Copies) -> TicketOut:
    """Move the ticket to another matter or zone; it keeps its original wait."""
    ticket = await tickets.transfer(session, outbox=runtime.outbox, ticket_id=ticket_id, principal=principal,
                                    matter_code=body.matter_code, zone=body.zone, snapshots=copies)
    position, minutes = await tickets.position(session, ticket=ticket, snapshots=copies)
    return ticket_out(ticket, position=position, minutes=minutes)


@router.post("/tickets/{ticket_id}/park", tags=["windows"])
async def park(ticket_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep, principal: WindowStaff) -> TicketOut:
    """Set the ticket aside; the window can call the next one."""
    return ticket_out(await tickets.park(session, outbox=runtime.outbox, ticket_id=ticket_id, principal=principal))


@router.post("/tickets/{ticket_id}/resume", tags=["windows"])
async def resume_ticket(ticket_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep, principal: WindowStaff,
                        window: Annotated[str, Query(min_length=1, max_length=40)]) -> TicketOut:
    """A window takes a parked ticket back and calls it."""
    return ticket_out(await tickets.resume(session, outbox=runtime.outbox, ticket_id=ticket_id, principal=principal,
                                           window_code=window))


@router.post("/tickets/{ticket_id}/finish", tags=["windows"])
async def finish(ticket_id: uuid.UUID, body: Finish, session: SessionDep, runtime: RuntimeDep,
                 principal: WindowStaff) -> TicketOut:
    """Service finished: outcome and the application the clerk opened."""
    return ticket_out(await tickets.finish(session, outbox=runtime.outbox, ticket_id=ticket_id, principal=principal,
                                           outcome=body.outcome, application_id=body.application_id))


@router.get("/tickets/{ticket_id}/call", tags=["windows"])
async def ticket_call(ticket_id: uuid.UUID, session: SessionDep, principal: WindowStaffOrService) -> TicketCallOut:
    """How the ticket was last called (window, staff, time) and its flow's id: acceptance reads it through
    when a clerk opens an application before ``ticket.called`` reached it. Clerks see their halls only."""
    ticket = await tickets.require(session, ticket_id=ticket_id)
    if not principal.has(Role.SERVICE):
        principal.check_hall(ticket.hall)
    return TicketCallOut(
        ticket_id=ticket.id, hall=ticket.hall, number=ticket.number, matter_code=ticket.matter_code,
        zone=ticket.zone, status=ticket.status, window=ticket.window, staff_id=ticket.staff_id,
        called_at=ticket.last_called_at, correlation_id=ticket.correlation_id,
    )


# ---- public: numbers, status, boards, ratings ----------------------------------------------------


@router.post("/halls/{hall}/tickets", status_code=201, tags=["public"], responses={
    409: {"description": "Hall closed, or the applicant holds the most waiting web tickets allowed"},
    429: {"description": "This kiosk device's tickets per minute are used up; see Retry-After"},
})
async def take_ticket(hall: HallCode, body: TakeTicket, session: SessionDep, runtime: RuntimeDep,
                      settings: Settings, request: Request, principal: TicketTaker, numbers: Numbers,
                      copies: Copies) -> TicketIssuedOut:
    """Take a number for a matter; answers position, estimated wait and the rating secret (only here).

    Who: a kiosk device token of the hall (channel ``kiosk``; each device at most
    ``TICKETING_KIOSK_TICKETS_PER_MINUTE``, then 429 with Retry-After), a logged-in applicant (``web``;
    at most ``TICKETING_WEB_TICKETS_PER_APPLICANT_DAY`` waiting tickets in the hall per day, then 409), or
    a clerk of the hall for a walk-in at the counter (``window``). Anonymous web visitors use
    ``POST /halls/{hall}/web-tickets`` with a captcha proof. The ticket's ``correlation_id`` is the
    request's X-Correlation-ID if one was sent, else the ticket id."""
    channel = await channels.admit(request, principal=principal, hall=hall,
                                   kiosk_per_minute=settings.kiosk_tickets_per_minute)
    if body.channel is not None and body.channel != channel:
        raise Unprocessable("channel differs from the caller's", errors=[FieldError(
            field="channel", message=f"this caller takes numbers through the {channel} channel; leave it out")])
    applicant = principal.applicant_id if channel == "web" else None
    secret, digest = tickets.new_rating_secret()
    ticket, position, minutes = await tickets.take(
        session, outbox=runtime.outbox, hall_code=hall, matter_code=body.matter_code, channel=channel,
        green_channel=body.green_channel, correlation_id=caller_correlation(request), applicant_id=applicant,
        max_waiting_per_applicant=settings.web_tickets_per_applicant_day if applicant else None,
        rating_secret_hash=digest, numbers=numbers, snapshots=copies,
    )
    return issued_out(ticket, secret, position=position, minutes=minutes)


@router.post("/halls/{hall}/web-tickets", status_code=201, dependencies=[public()], tags=["public"])
async def take_web_ticket(hall: HallCode, body: WebTicket, session: SessionDep, runtime: RuntimeDep,
                          settings: Settings, request: Request, numbers: Numbers, copies: Copies) -> TicketIssuedOut:
    """Take a number on the web without a login (channel ``web``), with a single-use proof from the
    integrator's captcha service signed with ``TICKETING_WEB_PROOF_SECRET`` (unset: refused). A
    forged, malformed, expired (or expiring more than 10 minutes ahead) or reused proof is a 403 problem
    with code ``proof_invalid``, ``proof_expired`` or ``proof_used``."""
    proof_secret = settings.web_proof_secret
    proof = channels.verify_proof(
        body.proof, hall=hall, secret=proof_secret.get_secret_value() if proof_secret else None,
        max_ttl_seconds=settings.web_proof_max_ttl_seconds,
    )
    await channels.spend_proof(session, proof=proof, hall=hall)
    secret, digest = tickets.new_rating_secret()
    ticket, position, minutes = await tickets.take(
        session, outbox=runtime.outbox, hall_code=hall, matter_code=body.matter_code, channel="web",
        green_channel=body.green_channel, correlation_id=caller_correlation(request), rating_secret_hash=digest,
        numbers=numbers, snapshots=copies,
    )
    return issued_out(ticket, secret, position=position, minutes=minutes)


@router.get("/tickets/{ticket_id}", dependencies=[public()], tags=["public"])
async def get_ticket(ticket_id: uuid.UUID, session: SessionDep, copies: Copies) -> TicketOut:
    """A ticket's own status, position and estimated wait (the id is the unguessable handle)."""
    ticket = await tickets.require(session, ticket_id=ticket_id)
    position, minutes = await tickets.position(session, ticket=ticket, snapshots=copies)
    return ticket_out(ticket, position=position, minutes=minutes)


@router.post("/tickets/{ticket_id}/rating", dependencies=[public()], tags=["public"])
async def rate(ticket_id: uuid.UUID, body: Rating, session: SessionDep, runtime: RuntimeDep) -> dict[str, object]:
    """Rate the service (1-5 and a comment) on the hall pad: the citizen scans the slip's QR, which holds
    the ``rating_secret`` of the ticket-issue response (the ticket id alone is public: 403)."""
    ticket = await tickets.rate(session, outbox=runtime.outbox, ticket_id=ticket_id,
                                rating_secret=body.rating_secret, score=body.score, comment=body.comment)
    return {"ticket_id": str(ticket.id), "score": ticket.rating}


@router.get("/halls/{hall}/queue", dependencies=[public()], tags=["public"])
async def queue(hall: HallCode, session: SessionDep, copies: Copies) -> QueueStatus:
    """Waiting count and estimated wait per zone and matter."""
    return QueueStatus.model_validate(await display.queue_status(session, hall=hall, snapshots=copies))


@router.get("/halls/{hall}/windows/{window}/pad", dependencies=[public()], tags=["public"])
async def pad(hall: HallCode, window: str, session: SessionDep) -> PadOut:
    """What the pad at a window shows: the clerk (name, staff number, unit, photo; never the account) and
    the number being served."""
    row, current = await display.window_pad(session, hall=hall, window=window)
    return PadOut(hall=hall, window=window, state=row.state, staff_name=row.staff_name, staff_no=row.staff_no,
                  staff_unit=row.staff_unit, staff_photo_url=row.staff_photo_url,
                  ticket=ticket_out(current) if current else None)


@router.get("/halls/{hall}/matters", dependencies=[public()], tags=["public"])
async def search_matters(
    hall: HallCode, session: SessionDep, copies: Copies,
    q: Annotated[str, Query(min_length=1, max_length=search.MAX_QUERY,
                            description="Matter code, part of the name, pinyin initials (gtgsh) or pinyin.")],
    limit: Annotated[int, Query(ge=1, le=search.MAX_LIMIT)] = search.DEFAULT_LIMIT,
) -> list[MatterHit]:
    """Kiosk search over the matters the hall serves: exact code first, then name (or code) prefix,
    pinyin initials prefix, full pinyin prefix, substrings; an unknown query gives an empty list."""
    query = search.normalise(q)
    if not query:
        raise Unprocessable("empty search", errors=[FieldError(field="q", message="type a name, code or initials")])
    hits = await search.search(session, hall=hall, query=query, limit=limit, snapshots=copies)
    return [MatterHit(code=h.matter.code, name=h.matter.name, zone=h.zone, waiting=h.waiting,
                      estimated_wait_minutes=h.estimated_wait_minutes) for h in hits]


@router.get("/halls/{hall}/display/stream", dependencies=[public()], tags=["public"],
            response_class=StreamingResponse)
async def display_stream(
    hall: HallCode, request: Request, runtime: RuntimeDep,
    limit: Annotated[int | None, Query(ge=1, le=10000, description="Close after this many calls (tests).")] = None,
    backlog: Annotated[int, Query(ge=0, le=50)] = 10,
    last_event_id: Annotated[int | None, Header(
        ge=0, description="The last board position shown (an EventSource sends it when it reconnects): "
        "the stream goes on after it, without the backlog.")] = None,
) -> StreamingResponse:
    """Server-Sent Events: every call and recall in the hall exactly once, in commit order (the latest
    ``backlog`` first); each event's id is its board position."""
    async with runtime.sessionmaker() as session:
        names = {w.code: w.name for w in await halls.list_windows(session, hall=hall)}
        latest = await board.position(session, hall=hall)
    poll = getattr(runtime.settings, "display_poll_seconds", 1.0)
    # An id ahead of the hall's board comes from before a database reset: start afresh.
    resume = last_event_id if last_event_id is not None and last_event_id <= latest else None

    async def events() -> AsyncIterator[str]:
        sent, cursor = 0, resume
        yield "retry: 3000\n\n"
        while True:
            async with runtime.sessionmaker() as session:
                if cursor is None:
                    rows = await board.calls_after(session, hall=hall, after=None, limit=backlog) if backlog else []
                    cursor = rows[-1].seq if rows else latest
                else:
                    rows = await board.calls_after(session, hall=hall, after=cursor, limit=BOARD_BATCH)
            for row in rows:
                cursor = row.seq
                call = CallOut(seq=row.seq, ticket_id=row.ticket_id, number=row.number, zone=row.zone,
                               window=row.window, window_name=names.get(row.window, ""),
                               matter_code=row.matter_code, called_at=row.called_at, recall=row.recall)
                yield f"id: {row.seq}\nevent: call\ndata: {call.model_dump_json()}\n\n"
                sent += 1
                if limit is not None and sent >= limit:
                    return
            if await request.is_disconnected():
                return
            if len(rows) < BOARD_BATCH:  # caught up; a full batch means more are waiting
                await asyncio.sleep(poll)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/halls/{hall}/display", dependencies=[public()], tags=["public"], response_class=HTMLResponse)
async def display_page(hall: HallCode, session: SessionDep) -> HTMLResponse:
    """A simple display board page that shows the live calls of a hall."""
    row = await halls.require_hall(session, code=hall)
    page = DISPLAY_PAGE.read_text(encoding="utf-8")
    board_json = display.script_json({"hall": hall, "name": row.name})
    return HTMLResponse(page.replace("{{BOARD}}", board_json).replace("{{HALL_NAME}}", display.html_text(row.name)))


# ---- appointments ------------------------------------------------------------------------------


@router.get("/halls/{hall}/slots", dependencies=[public()], tags=["appointments"])
async def list_slots(hall: HallCode, session: SessionDep, day: SaneDate,
                     matter_code: Annotated[str | None, Query(max_length=40)] = None) -> list[SlotOut]:
    """Appointment slots of a day (Asia/Shanghai) with the places left."""
    slots = await appointments.list_slots(session, hall=hall, day=day, matter_code=matter_code)
    return [slot_out(s) for s in slots]


@router.post("/appointments", status_code=201, tags=["appointments"])
async def book(body: Book, session: SessionDep, settings: Settings, principal: Applicant) -> AppointmentOut:
    """Book a slot (applicants; never beyond the slot's capacity). At most
    ``TICKETING_MAX_BOOKINGS_PER_MATTER_DAY`` (default 1) active bookings per applicant, matter and day:
    409 ``booking_limit`` beyond."""
    assert principal.applicant_id is not None
    return appointment_out(await appointments.book(
        session, slot_id=body.slot_id, applicant_id=principal.applicant_id,
        max_per_matter_day=settings.max_bookings_per_matter_day,
    ))


@router.get("/appointments/mine", tags=["appointments"])
async def my_appointments(session: SessionDep, principal: Applicant) -> list[AppointmentOut]:
    """The caller's appointments."""
    return [appointment_out(a) for a in await appointments.mine(session, principal=principal)]


@router.delete("/appointments/{appointment_id}", tags=["appointments"])
async def cancel(appointment_id: uuid.UUID, session: SessionDep, principal: Applicant) -> AppointmentOut:
    """Cancel one's booking."""
    return appointment_out(await appointments.cancel(session, appointment_id=appointment_id, principal=principal))


@router.post("/appointments/{appointment_id}/check-in", dependencies=[public()], tags=["appointments"])
async def check_in(appointment_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep,
                   request: Request, numbers: Numbers, copies: Copies) -> CheckInOut:
    """Check in at the kiosk (scan of the booking code): on time gives priority, late a walk-in ticket; the
    ticket comes with its rating secret (printed on the slip), as when a number is taken."""
    secret, digest = tickets.new_rating_secret()
    appointment, ticket, position, minutes, on_time = await appointments.check_in(
        session, outbox=runtime.outbox, appointment_id=appointment_id, correlation_id=caller_correlation(request),
        rating_secret_hash=digest, numbers=numbers, snapshots=copies,
    )
    return CheckInOut(appointment=appointment_out(appointment),
                      ticket=issued_out(ticket, secret, position=position, minutes=minutes), on_time=on_time)
