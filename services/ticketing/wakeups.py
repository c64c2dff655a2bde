"""Idle windows wait for a ticket instead of polling an empty queue (``call-next?wait=``).

Whenever a ticket starts or resumes waiting (taken, a no-show requeued, transferred, its window signed
out), a trigger on ``tickets`` (migration c3d0e5d21400) sends a PostgreSQL notification on ``CHANNEL``:
delivered at commit, never for a rolled-back ticket, to every replica, whichever code path made the
change. The payload is hall, zone, matter code and category, separated by U+001F. Each process
listens on one connection of its own and wakes, per notification, the window that has waited longest
among those whose skills cover the ticket's matter (the longest idle window gets the next citizen, and
thirty idle windows do not all run a query for one ticket). A woken window calls as usual; if another
took the ticket first it waits again.

A waiter also looks again every ``RECHECK_SECONDS`` by itself, so a lost listener connection (a database
restart) or a ticket that woke another window that then took something else delays a call, never
loses it.
"""

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from shared.observability import get_logger

CHANNEL = "ticketing_waiting"  # as the trigger names it
RECHECK_SECONDS = 2.0
MAX_WAIT_SECONDS = 30

_log = get_logger(__name__)


@dataclass(eq=False)
class _Waiter:
    hall: str
    zone: str
    skills: frozenset[str]
    since: float = field(default_factory=time.monotonic)
    woken: asyncio.Event = field(default_factory=asyncio.Event)


class Wakeups:
    """The process's waiting windows and its listener connection (opened on the first wait)."""

    def __init__(self, database_url: str) -> None:
        self._dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._waiters: list[_Waiter] = []
        self._listener: Any = None  # asyncpg.Connection
        self._connecting = asyncio.Lock()
        self._closed = False

    async def wait(self, *, hall: str, zone: str, skills: frozenset[str], timeout: float) -> None:
        """Return when a ticket this window may serve was announced, or after ``timeout`` (at most
        ``RECHECK_SECONDS``), whichever is first."""
        if self._closed:
            return
        await self._listen()
        waiter = _Waiter(hall=hall, zone=zone, skills=skills)
        self._waiters.append(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.woken.wait(), timeout=min(timeout, RECHECK_SECONDS))
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        hall, zone, matter_code, category = payload.split("\x1f")
        matching = [w for w in self._waiters if w.hall == hall and w.zone == zone
                    and (matter_code in w.skills or category in w.skills)]
        if matching:
            first = min(matching, key=lambda w: w.since)
            self._waiters.remove(first)
            first.woken.set()

    async def _listen(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        async with self._connecting:
            if self._closed or (self._listener is not None and not self._listener.is_closed()):
                return
            try:
                self._listener = await asyncpg.connect(self._dsn, timeout=5)
                await self._listener.add_listener(CHANNEL, self._notified)
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                self._listener = None  # waiters fall back to looking again every RECHECK_SECONDS
                _log.warning("cannot listen for waiting tickets; windows look again every few seconds",
                             error=type(exc).__name__)

    async def aclose(self) -> None:
        """Wake every waiter (they look once more and answer) and close the listener."""
        self._closed = True
        for waiter in self._waiters:
            waiter.woken.set()
        self._waiters.clear()
        if self._listener is not None and not self._listener.is_closed():
            await self._listener.close()
