"""The call board: every call and recall of a hall at a commit-ordered position, for display boards.

A board remembers the last position it showed and asks for the entries after it. Positions come
from a per-hall counter row taken at COMMIT of the calling transaction (a deferred trigger posts the
call from ``board_pending``) and locked until the commit ends, so a position is visible only after every
lower one is: a call that commits late still gets a position after everything a board has already
shown, and no board misses it or shows it twice. (Call times are stamped before commit and may commit
out of order; a board following them dropped late calls.) Taking the position earlier in the
transaction held the lock while the request finished in Python: every call of a hall queued on it.
"""

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.ticketing import repository as repo
from services.ticketing.models import BoardCall, Ticket, Window


async def announce(
    session: AsyncSession, *, ticket: Ticket, window: Window, called_at: datetime, recall: bool
) -> None:
    """Put a call on the hall's board: it takes its position when this transaction commits."""
    await repo.add_board_call(
        session,
        values={
            "hall": ticket.hall,
            "ticket_id": ticket.id,
            "number": ticket.number,
            "zone": ticket.zone,
            "window": window.code,
            "matter_code": ticket.matter_code,
            "called_at": called_at,
            "recall": recall,
        },
    )
    await session.flush()


async def position(session: AsyncSession, *, hall: str) -> int:
    """The hall's last committed board position (0 before its first call)."""
    return await repo.board_position(session, hall=hall)


async def calls_after(
    session: AsyncSession, *, hall: str, after: int | None, limit: int = 50
) -> list[BoardCall]:
    """Board entries after position ``after`` (the latest ``limit`` when None), oldest first."""
    return await repo.board_calls(session, hall=hall, after=after, limit=limit)
