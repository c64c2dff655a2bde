"""Idempotent consumption: the handled event id is recorded in the handler's own transaction."""

import uuid

from sqlalchemy import Column, DateTime, MetaData, String, Table, func
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession


def inbox_table(metadata: MetaData) -> Table:
    """Event ids a consumer group of this service has applied."""
    return Table(
        "inbox",
        metadata,
        Column("consumer", String(100), primary_key=True),
        Column("event_id", UUID(as_uuid=True), primary_key=True),
        Column("type", String(100), nullable=False),
        Column("handled_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
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
