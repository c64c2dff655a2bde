"""Halls, zones and windows: administration, and clerks staffing windows (sign-in, pause, sign-out)."""

import asyncio
from datetime import UTC, datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from services.ticketing import hours
from services.ticketing import repository as repo
from services.ticketing.models import Hall, Window, Zone
from services.ticketing.schemas import HallIn, WindowIn
from shared.auth import Principal
from shared.events.ticketing import HallPublished
from shared.observability import get_logger
from shared.outbox import Outbox
from shared.problems import Conflict, DomainError, FieldError, NotFound, Unprocessable
from shared.service_app import Runtime

log = get_logger(__name__)


class HallClosedDown(DomainError):
    """The hall was closed down (撤并): it takes no tickets until an administrator reopens it."""

    status, code, title = 409, "hall_closed_down", "Hall closed down"


async def put_hall(
    session: AsyncSession, *, outbox: Outbox, code: str, data: HallIn
) -> tuple[Hall, list[Zone]]:
    """Create or replace a hall's settings and zones (windows and open/closed-down status stay), and
    publish it (hall.published) in the same transaction; a PUT that changes nothing (the demo seed at
    every start) publishes nothing."""
    hall = await repo.get_hall(session, code=code, lock=True)
    values = data.model_dump(exclude={"zones"})
    wanted = [(z.code, z.name) for z in data.zones]
    if hall is None:
        hall = Hall(code=code, status="open", version=1, updated_at=datetime.now(UTC), **values)
        session.add(hall)
    else:
        held = [(z.code, z.name) for z in await repo.zones_of(session, hall=code)]
        if held == sorted(wanted) and all(getattr(hall, k) == v for k, v in values.items()):
            return hall, await repo.zones_of(session, hall=code)
        for key, value in values.items():
            setattr(hall, key, value)
        hall.version += 1
        hall.updated_at = datetime.now(UTC)
    await session.execute(delete(Zone).where(Zone.hall == code))
    zones = [Zone(hall=code, code=zone, name=name) for zone, name in wanted]
    session.add_all(zones)
    await session.flush()
    await _publish(session, outbox=outbox, hall=hall)
    return hall, zones


async def set_status(session: AsyncSession, *, outbox: Outbox, code: str, status: str) -> tuple[Hall, list[Zone]]:
    """Close a hall down (``closed``: no tickets, acceptance refuses it as a collection hall) or reopen it
    (``open``); the change is published. Setting the status a hall already has changes nothing."""
    hall = await repo.get_hall(session, code=code, lock=True)
    if hall is None:
        raise NotFound(f"hall {code} does not exist")
    if hall.status != status:
        hall.status, hall.version, hall.updated_at = status, hall.version + 1, datetime.now(UTC)
        await session.flush()
        await _publish(session, outbox=outbox, hall=hall)
    return hall, await repo.zones_of(session, hall=code)


def require_open(hall: Hall) -> None:
    """Refuse a hall that was closed down (409)."""
    if hall.status == "closed":
        raise HallClosedDown(f"hall {hall.code} is closed down (该大厅已撤并)")


def hall_event(hall: Hall) -> HallPublished:
    """The hall as hall.published carries it."""
    return HallPublished(
        code=hall.code,
        name=hall.name,
        status=hall.status,
        opens_at=f"{hall.opens_at:%H:%M}",
        closes_at=f"{hall.closes_at:%H:%M}",
        open_days=hall.open_days,
        timezone=hours.TZ.key,
        hall_version=hall.version,
        updated_at=hall.updated_at,
    )


async def _publish(session: AsyncSession, *, outbox: Outbox, hall: Hall) -> None:
    """Stage hall.published for the hall's current version (same transaction as the change)."""
    hall.published_version = hall.version
    await outbox.add(session, hall_event(hall), hall=hall.code)
    await session.flush()


async def publish_pending(session: AsyncSession, *, outbox: Outbox) -> int:
    """Publish every hall whose current version was never staged (halls from before hall.published,
    or an operator's reset of ``published_version``). Safe with replicas: the rows are claimed with an
    UPDATE, so of two replicas starting together one stages them and the other finds none left."""
    claimed = await repo.claim_unpublished_halls(session)
    for hall in claimed:
        await outbox.add(session, hall_event(hall), hall=hall.code)
    if claimed:
        log.info("halls published at start-up", count=len(claimed))
    return len(claimed)


async def publish_pending_at_start(runtime: Runtime, *, attempts: int = 10) -> None:
    """Start-up task: publish halls never published (retried a few times; a failure only delays them to
    the next start or the hall's next change, it loses nothing)."""
    for attempt in range(1, attempts + 1):
        try:
            async with runtime.sessionmaker() as session, session.begin():
                count = await publish_pending(session, outbox=runtime.outbox)
            if count:
                runtime.relay.wake()
            return
        except Exception as exc:  # noqa: BLE001 - the database may still be warming up; try again
            log.warning("publishing halls at start-up failed", attempt=attempt, error=type(exc).__name__)
            await asyncio.sleep(min(2**attempt, 30))


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
        raise Unprocessable(
            "unknown zone", errors=[FieldError(field="zone", message=f"hall {hall} has no zone {data.zone}")]
        )
    window = await repo.get_window(session, hall=hall, code=code, lock=True)
    if window is None:
        window = Window(hall=hall, code=code, state="closed")
        session.add(window)
    window.zone, window.name, window.active = data.zone, data.name, data.active
    window.skills, window.primary_skills = list(data.skills), list(data.primary_skills)
    await session.flush()
    return window


async def list_windows(session: AsyncSession, *, hall: str) -> list[Window]:
    """Every window of a hall (inactive ones too) by code; 404 for an unknown hall."""
    await require_hall(session, code=hall)
    return await repo.windows_of(session, hall=hall, active_only=False)


async def staffed_window(
    session: AsyncSession, *, hall: str, code: str, principal: Principal, lock: bool = True
) -> Window:
    """The window the caller is signed in at (404 unknown, 409 not signed in by the caller)."""
    principal.check_hall(hall)
    window = await repo.get_window(session, hall=hall, code=code, lock=lock)
    if window is None or not window.active:
        raise NotFound(f"window {code} does not exist in hall {hall}")
    if window.staff_id != principal.sub or window.state == "closed":
        raise Conflict(f"sign in at window {code} first")
    return window


async def sign_in(
    session: AsyncSession,
    *,
    hall: str,
    code: str,
    principal: Principal,
    staff_name: str | None,
    photo_url: str | None,
    staff_no: str | None = None,
    unit: str | None = None,
) -> Window:
    """The clerk takes a window (one clerk per window; a clerk may hold several posts there). The pad
    shows the staff number and unit of the token, or those of the body when the token has none."""
    principal.check_hall(hall)
    staff_no = _from_token_or_body(principal.staff_no, staff_no, field="staff_no")
    unit = _from_token_or_body(principal.unit, unit, field="unit")
    window = await repo.get_window(session, hall=hall, code=code, lock=True)
    if window is None or not window.active:
        raise NotFound(f"window {code} does not exist in hall {hall}")
    if window.state != "closed" and window.staff_id not in (None, principal.sub):
        raise Conflict(f"window {code} is staffed by someone else; they sign out first")
    window.staff_id, window.staff_name = principal.sub, staff_name or principal.name
    window.staff_no, window.staff_unit = staff_no, unit
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
    window.staff_no, window.staff_unit = None, None
    await session.flush()
    return window


def _from_token_or_body(claimed: str | None, given: str | None, *, field: str) -> str | None:
    """The issuer's value wins; a body value is taken only when the token has none (422 if they differ)."""
    if claimed is not None and given is not None and given != claimed:
        raise Unprocessable(
            f"{field} differs from the signed-in account",
            errors=[FieldError(field=field, message=f"the account's {field} is {claimed}; leave it out")],
        )
    return claimed or given


async def set_paused(
    session: AsyncSession, *, hall: str, code: str, principal: Principal, paused: bool
) -> Window:
    """Pause (no calls) or resume a staffed window."""
    window = await staffed_window(session, hall=hall, code=code, principal=principal)
    window.state = "paused" if paused else "open"
    await session.flush()
    return window
