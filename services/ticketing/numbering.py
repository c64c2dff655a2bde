"""Ticket numbers (A001, A002 ...): one sequence per hall, zone and business day, taken outside the
request's transaction.

Taking the number inside the transaction held the zone's counter row locked until COMMIT, so every
ticket of a zone queued behind the one before it (111 ms of waiting per ticket at 16 connections). Here
the upsert runs alone on a connection of its own (autocommit): the row is locked for one statement. A
ticket whose transaction then fails leaves a gap in the numbers, which a queue accepts; a duplicate is
impossible, since every increment is its own committed statement.

Its own small pool, not the request's: a request that holds a connection of the service pool and waits
for a second one from the same pool could wait for ever once every connection is held that way.

``synchronous_commit = off`` on these connections: an increment lost in a crash can only belong to a
ticket that never committed, because a ticket's own (synchronous) commit flushes the write-ahead log
up to and past the earlier increment.
"""

from datetime import date

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from services.ticketing.models import DayCounter
from shared import db

POOL_SIZE = 4  # one statement each: requests queue for them briefly rather than open and close overflow ones


class TicketNumbers:
    """Hands out the next sequence of (hall, zone, business day) on its own autocommit connections."""

    def __init__(self, database_url: str, *, pool_size: int = POOL_SIZE) -> None:
        self.engine: AsyncEngine = db.make_engine(database_url, pool_size=pool_size, max_overflow=0,
                                                  isolation_level="AUTOCOMMIT",
                                                  server_settings={"synchronous_commit": "off",
                                                                   "application_name": "ticketing-numbers"})

    async def next(self, *, hall: str, zone: str, day: date) -> int:
        """The next sequence number (1 for the day's first ticket of the zone)."""
        statement = (
            insert(DayCounter)
            .values(hall=hall, zone=zone, business_day=day, seq=1)
            .on_conflict_do_update(
                index_elements=[DayCounter.hall, DayCounter.zone, DayCounter.business_day],
                set_={"seq": DayCounter.seq + 1},
            )
            .returning(DayCounter.seq)
        )
        async with self.engine.connect() as conn:
            return int((await conn.execute(statement)).scalar_one())

    async def aclose(self) -> None:
        await self.engine.dispose()
