"""Halls, zones and windows: administration, and clerks staffing windows (sign-in, pause, sign-out)."""

from datetime import UTC, datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from services.ticketing import repository as repo
from services.ticketing.models import Hall, Window, Zone
from services.ticketing.schemas import HallIn, WindowIn
from shared.auth import Principal
from shared.problems import Conflict, FieldError, NotFound, Unprocessable


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
) -> Window:
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


async def set_paused(
    session: AsyncSession, *, hall: str, code: str, principal: Principal, paused: bool
) -> Window:
    """Pause (no calls) or resume a staffed window."""
    window = await staffed_window(session, hall=hall, code=code, principal=principal)
    window.state = "paused" if paused else "open"
    await session.flush()
    return window
