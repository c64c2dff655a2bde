"""Idempotent consumption: the handled event id is recorded in the handler's own transaction."""

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, DateTime, Index, MetaData, String, Table, func, select, tuple_
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


def inbox_table(metadata: MetaData) -> Table:
    """Event ids a consumer group of this service has applied."""
    return Table(
        "inbox",
        metadata,
        Column("consumer", String(100), primary_key=True),
        Column("event_id", UUID(as_uuid=True), primary_key=True),
        Column("type", String(100), nullable=False),
        Column("handled_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Index("ix_inbox_handled_at", "handled_at"),  # pruning after the retention window
    )


class Inbox:
    """``first_time`` inserts the id and says whether it was new; a duplicate returns False."""

    def __init__(self, table: Table) -> None:
        self.table = table

    async def first_time(self, session: AsyncSession, *, consumer: str, event_id: uuid.UUID, type: str) -> bool:
        """Record ``event_id`` for ``consumer``; False when it was already recorded (a redelivery)."""
        result = await session.execute(
            insert(self.table)
            .values(consumer=consumer, event_id=event_id, type=type)
            .on_conflict_do_nothing()
            .returning(self.table.c.event_id)
        )
        return result.first() is not None

    async def first_times(
        self, session: AsyncSession, *, consumer: str, events: list[tuple[uuid.UUID, str]]
    ) -> set[uuid.UUID]:
        """Record a batch of (event id, type) for ``consumer`` in one statement; the ids that were new."""
        rows = [{"consumer": consumer, "event_id": event_id, "type": type_} for event_id, type_ in dict(events).items()]
        result = await session.execute(
            insert(self.table).values(rows).on_conflict_do_nothing().returning(self.table.c.event_id)
        )
        return set(result.scalars())


async def prune_handled(
    sessionmaker: async_sessionmaker[AsyncSession], table: Table, *, older_than: timedelta, batch: int = 5000
) -> int:
    """Forget ids handled longer ago than ``older_than``, ``batch`` at a time. The inbox must outlive the
    producers' outbox retention: an event re-sent after a broker loss is still recognised."""
    cutoff = datetime.now(UTC) - older_than
    total = 0
    key = tuple_(table.c.consumer, table.c.event_id)
    while True:
        async with sessionmaker() as session, session.begin():
            oldest = select(table.c.consumer, table.c.event_id).where(table.c.handled_at < cutoff).limit(batch)
            result = await session.execute(table.delete().where(key.in_(oldest)))
            gone = getattr(result, "rowcount", 0) or 0
        total += gone
        if gone < batch:
            return total
