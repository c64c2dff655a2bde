"""Transactional outbox: events are rows written with the state change; a relay publishes them.

The relay takes unpublished rows with ``FOR UPDATE SKIP LOCKED`` (replicas share the work, none
publishes a row twice while holding it), sends each to Kafka with the aggregate id as key, and marks
it published in the same transaction. If the broker is down the transaction rolls back and the relay
retries with exponential backoff (tenacity); rows stay until they are sent.
"""

import asyncio
import contextlib
import json
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    MetaData,
    String,
    Table,
    Text,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential_jitter

from shared import context
from shared.events.envelope import Envelope, Event
from shared.observability import OUTBOX_PENDING, OUTBOX_PUBLISHED, get_logger

log = get_logger(__name__)


def outbox_table(metadata: MetaData) -> Table:
    """The outbox table of one service schema."""
    return Table(
        "outbox",
        metadata,
        Column("seq", BigInteger, Identity(), primary_key=True),
        Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
        Column("topic", String(200), nullable=False),
        Column("key", String(200), nullable=False),
        Column("type", String(100), nullable=False),
        Column("envelope", JSONB, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True)),
        Column("attempts", BigInteger, nullable=False, server_default=text("0")),
        Column("last_error", Text),
        Index("ix_outbox_unpublished", "seq", postgresql_where=text("published_at IS NULL")),
    )


class Outbox:
    """Writes events of one producing service into its outbox table."""

    def __init__(self, table: Table, *, producer: str, topic_prefix: str = "") -> None:
        self.table = table
        self.producer = producer
        self.topic_prefix = topic_prefix

    async def add(
        self,
        session: AsyncSession,
        event: Event,
        *,
        key: str | None = None,
        hall: str | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> Envelope:
        """Stage ``event`` in the caller's transaction; it is published only if that commits."""
        envelope = Envelope.wrap(
            event,
            producer=self.producer,
            key=key,
            correlation_id=correlation_id or context.correlation_id.get() or str(event.aggregate_key()),
            causation_id=causation_id or context.causation_id.get(),
            hall=hall,
        )
        await session.execute(
            self.table.insert().values(
                event_id=envelope.id,
                topic=f"{self.topic_prefix}{event.STREAM}",
                key=envelope.key,
                type=envelope.type,
                envelope=envelope.model_dump(mode="json"),
            )
        )
        return envelope


class Sender(Protocol):
    """What the relay needs from a Kafka producer (the bus implements it)."""

    async def send(
        self, topic: str, key: str, value: bytes, headers: list[tuple[str, bytes]] | None = None
    ) -> None: ...


class OutboxRelay:
    """Background task publishing outbox rows in order; survives broker and database outages."""

    def __init__(
        self,
        *,
        table: Table,
        sessionmaker: async_sessionmaker[AsyncSession],
        sender: Sender,
        service: str,
        batch_size: int = 200,
        poll_seconds: float = 0.2,
        max_backoff: float = 15.0,
    ) -> None:
        self.table = table
        self.sessionmaker = sessionmaker
        self.sender = sender
        self.service = service
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.max_backoff = max_backoff
        self.healthy = True
        self.last_error: str | None = None
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Publish soon (called after a commit that added events)."""
        self._wake.set()

    async def publish_batch(self) -> int:
        """Publish one batch; returns how many rows were sent. Raises on broker/database errors."""
        t = self.table
        failed: tuple[int, Exception] | None = None
        async with self.sessionmaker() as session, session.begin():
            rows = (
                await session.execute(
                    select(t.c.seq, t.c.topic, t.c.key, t.c.envelope, t.c.created_at)
                    .where(t.c.published_at.is_(None))
                    .order_by(t.c.seq)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            sent: list[int] = []
            for row in rows:
                try:
                    await self.sender.send(row.topic, row.key, json.dumps(row.envelope).encode())
                except Exception as exc:
                    failed = (row.seq, exc)
                    break
                sent.append(row.seq)
            now = datetime.now(UTC)
            if sent:  # what the broker acknowledged is marked, the rest stays for the next try
                await session.execute(update(t).where(t.c.seq.in_(sent)).values(published_at=now))
        if failed is not None:
            await self._note_failure(*failed)  # after the commit released the row locks
            raise failed[1]
        for row in rows:
            OUTBOX_PUBLISHED.labels(self.service).inc()
            OUTBOX_PENDING.labels(self.service).observe((now - row.created_at).total_seconds())
        return len(rows)

    async def _note_failure(self, seq: int, exc: Exception) -> None:
        try:
            async with self.sessionmaker() as session, session.begin():
                await session.execute(
                    update(self.table)
                    .where(self.table.c.seq == seq)
                    .values(attempts=self.table.c.attempts + 1, last_error=repr(exc)[:2000])
                )
        except Exception:  # the database may be the thing that is down
            pass

    async def run(self) -> None:
        """Loop forever: publish while there is work, else wait for a wake-up or the poll interval.

        The idle wait stays a plain ``wait_for`` on the wake event: it is polling, not retrying, and
        a retry library would only hide that the relay is woken early after a commit.
        """
        while True:
            sent = await self._publish_with_backoff()
            if sent == self.batch_size:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):  # woken early, or the poll interval passed
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    async def _publish_with_backoff(self) -> int:
        """One batch, retried until it goes: exponential backoff from 0.5 s to ``max_backoff``, jittered
        so replicas do not retry in step; the outage and the recovery are logged once each."""
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(Exception),  # not CancelledError: stopping is no failure
            wait=wait_exponential_jitter(initial=0.5, max=self.max_backoff, jitter=0.5),
            before_sleep=self._note_outage,
        )
        sent: int = await retrying(self.publish_batch)
        if not self.healthy:
            log.info("outbox relay recovered", service=self.service)
        self.healthy, self.last_error = True, None
        return sent

    def _note_outage(self, attempt: RetryCallState) -> None:
        exc = attempt.outcome.exception() if attempt.outcome is not None else None
        if self.healthy:
            log.warning("outbox relay cannot publish; retrying with backoff", error=repr(exc)[:300])
        self.healthy, self.last_error = False, repr(exc)[:300]


async def pending_count(session: AsyncSession, table: Table) -> int:
    """How many events wait for the relay (for readiness and tests)."""
    return (
        await session.execute(select(func.count()).select_from(table).where(table.c.published_at.is_(None)))
    ).scalar_one()

