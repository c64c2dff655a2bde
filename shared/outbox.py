"""Transactional outbox: events are rows written with the state change; a relay publishes them.

Acknowledged is not done. The relay records where each event went (broker lifetime, partition, offset)
and keeps the row for a retention window. It checks the broker every few seconds: a new broker lifetime
(the marker record at the start of the lifetime topic changed: the embedded broker restarted empty, or a
cluster was rebuilt) or a partition whose end fell behind what it acknowledged (a topic deleted or
truncated) puts every row the broker may have lost back in the queue. Consumers dedupe by event id.

One relay of a service publishes at a time (a transaction-level advisory lock; replicas wait their turn),
so one aggregate's events leave in outbox order. A batch goes out in waves (``waves``): the events of a wave
have distinct keys and are sent together, one broker round trip per partition instead of one per event;
the next wave is sent once the broker answered for all of this one, and none after a wave with a failure.
If the broker is down the batch rolls back and the relay retries with exponential backoff (tenacity); rows
stay until they are sent.
"""

import asyncio
import contextlib
import time
import zlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import NamedTuple, Protocol, TypeVar

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    bindparam,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential_jitter

from shared import context, db
from shared.events.envelope import Envelope, Event
from shared.observability import (
    OUTBOX_BACKLOG,
    OUTBOX_OLDEST_SECONDS,
    OUTBOX_PENDING,
    OUTBOX_PUBLISHED,
    OUTBOX_REPUBLISHED,
    get_logger,
)

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
        # Where the broker acknowledged it: what a re-send after a broker loss is decided on.
        Column("broker_epoch", String(64)),
        Column("kafka_partition", Integer),
        Column("kafka_offset", BigInteger),
        Column("republished", Integer, nullable=False, server_default=text("0")),
        Index("ix_outbox_unpublished", "seq", postgresql_where=text("published_at IS NULL")),
        Index("ix_outbox_published_at", "published_at", postgresql_where=text("published_at IS NOT NULL")),
    )


STAGED = "onewindow.outbox_staged"  # session.info: the session's transaction staged events


def staged(session: AsyncSession) -> bool:
    """Whether ``session`` staged events (``Outbox.add``): only a commit that did wakes the relay. Waking it
    after every commit cost each service a transaction of its own (lock, look, find nothing) per commit,
    about a sixth of all statements per application."""
    return bool(session.info.get(STAGED))


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
        session.info[STAGED] = True
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


class Delivered(NamedTuple):
    """Where the broker put an event."""

    partition: int
    offset: int


class Sender(Protocol):
    """What the relay needs from the broker (``KafkaBus`` implements it)."""

    async def send(
        self, topic: str, key: str, value: bytes, headers: list[tuple[str, bytes]] | None = None
    ) -> Delivered: ...

    async def send_many(self, items: list[tuple[str, str, bytes]]) -> list[Delivered | BaseException]:
        """Send ``(topic, key, value)`` items together; each one's result or error, in order. Optional: the relay
        sends one by one with ``send`` when a sender has none."""
        ...

    async def broker_epoch(self) -> str:
        """The current broker lifetime's id (it changes when the broker lost everything)."""
        ...

    async def end_offsets(self, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]: ...


class _Keyed(Protocol):
    @property
    def key(self) -> str: ...


_R = TypeVar("_R", bound=_Keyed)


def waves(rows: Sequence[_R]) -> list[list[_R]]:
    """Split rows (in seq order) into waves sent one after the other: a row goes in the wave after the one
    that holds its key's previous row (the first wave if none). A wave's events go to the broker together,
    so their order among themselves is not kept; one key's events are in successive waves, so theirs is.
    (An aggregate that wrote two events back to back delays only its own second one, not everyone's.)"""
    result: list[list[_R]] = []
    wave_of: dict[str, int] = {}
    for row in rows:
        index = wave_of.get(row.key, -1) + 1
        if index == len(result):
            result.append([])
        result[index].append(row)
        wave_of[row.key] = index
    return result


class OutboxRelay:
    """Background task publishing outbox rows in order; survives broker and database outages, and re-sends
    what a broker lost."""

    def __init__(
        self,
        *,
        table: Table,
        sessionmaker: async_sessionmaker[AsyncSession],
        sender: Sender,
        service: str,
        batch_size: int = 200,
        poll_seconds: float = 0.2,
        # Short: a broker back from a restart refuses the first sends for a few seconds, and each wait here
        # is time a re-send after a broker loss (and /readyz) is late; an attempt costs one small query.
        max_backoff: float = 5.0,
        check_seconds: float = 5.0,
    ) -> None:
        self.table = table
        self.sessionmaker = sessionmaker
        self.sender = sender
        self.service = service
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.max_backoff = max_backoff
        self.check_seconds = check_seconds
        self.healthy = True
        self.last_error: str | None = None
        self.epoch: str | None = None  # the broker lifetime rows are published into; None until checked
        self.loss: str | None = None  # set while rows a broker lost are being re-sent (readiness says it)
        self.backlog = 0
        self._resend_upto = 0  # the highest seq put back in the queue by the last loss
        self._acked: dict[tuple[str, int], int] = {}  # highest offset acknowledged per partition, this lifetime
        self._next_check = 0.0
        self._wake = asyncio.Event()
        # Same key for every replica of the service: one publishes at a time, in seq order.
        self._lock_key = zlib.crc32(f"outbox-relay:{table.fullname}".encode()) if table is not None else 0

    def wake(self) -> None:
        """Publish soon (called after a commit that added events)."""
        self._wake.set()

    async def publish_batch(self) -> int:
        """Publish one batch; returns how many rows were sent. Raises on broker/database errors."""
        t = self.table
        failed: tuple[int, BaseException] | None = None
        async with self.sessionmaker() as session, session.begin():
            if not (await session.execute(select(func.pg_try_advisory_xact_lock(self._lock_key)))).scalar_one():
                return 0  # another replica is publishing this outbox
            rows = (
                await session.execute(
                    select(t.c.seq, t.c.topic, t.c.key, t.c.envelope, t.c.created_at)
                    .where(t.c.published_at.is_(None))
                    .order_by(t.c.seq)
                    .limit(self.batch_size)
                )
            ).all()
            if not rows:
                return 0
            sent: list[dict[str, int]] = []
            for wave in waves(rows):
                items = [(row.topic, row.key, db.dump_json(row.envelope).encode()) for row in wave]
                for row, result in zip(wave, await self._send(items), strict=True):
                    if isinstance(result, BaseException):
                        if failed is None:  # the wave is in seq order: the first failure is the oldest
                            failed = (row.seq, result)
                        continue
                    sent.append({"b_seq": row.seq, "b_partition": result.partition, "b_offset": result.offset})
                    tp = (row.topic, result.partition)
                    self._acked[tp] = max(self._acked.get(tp, -1), result.offset)
                if failed is not None:
                    break  # later waves hold the failed keys' next events: they wait for the next try
            now = datetime.now(UTC)
            if sent:  # what the broker acknowledged is marked, the rest stays for the next try
                await session.execute(
                    update(t)
                    .where(t.c.seq == bindparam("b_seq"))
                    .values(
                        published_at=now,
                        broker_epoch=self.epoch,
                        kafka_partition=bindparam("b_partition"),
                        kafka_offset=bindparam("b_offset"),
                    ),
                    sent,
                )
        if failed is not None:
            await self._note_failure(*failed)  # after the batch committed what the broker took
            raise failed[1]
        for row in rows:
            OUTBOX_PUBLISHED.labels(self.service).inc()
            OUTBOX_PENDING.labels(self.service).observe((now - row.created_at).total_seconds())
        return len(rows)

    async def _send(self, items: list[tuple[str, str, bytes]]) -> list[Delivered | BaseException]:
        """Send a wave's events together (one by one with ``send`` if the sender has no ``send_many``)."""
        send_many = getattr(self.sender, "send_many", None)
        try:
            if send_many is None:
                return await self._send_one_by_one(items)
            return list(await send_many(items))
        except Exception as exc:  # e.g. no producer: the broker is down
            return [exc] * len(items)

    async def _send_one_by_one(self, items: list[tuple[str, str, bytes]]) -> list[Delivered | BaseException]:
        results: list[Delivered | BaseException] = []
        for topic, key, value in items:
            try:
                results.append(await self.sender.send(topic, key, value))
            except Exception as exc:
                # The rest is not tried: with the broker away each send would wait for its timeout.
                return results + [exc] * (len(items) - len(results))
        return results

    async def check_broker(self) -> None:
        """Compare the broker with what it acknowledged; queue again whatever it may have lost."""
        t = self.table
        epoch = await self.sender.broker_epoch()
        if epoch != self.epoch:
            # Also at start: rows acknowledged by an earlier lifetime (or before lifetimes were recorded).
            lost = await self._requeue(t.c.broker_epoch.is_distinct_from(epoch), reason="broker_lifetime")
            if lost:
                self.loss = f"the broker lost its log (new lifetime {epoch[:8]}); re-sending {lost} event(s)"
                log.warning("broker lost acknowledged events; re-sending them", events=lost,
                            previous=self.epoch, epoch=epoch)
            self.epoch, self._acked = epoch, {}
        elif self._acked:
            ends = await self.sender.end_offsets(list(self._acked))
            for (topic, partition), last in list(self._acked.items()):
                end = ends.get((topic, partition))
                if end is None or end > last:  # not in the broker's metadata yet, or intact
                    continue
                lost = await self._requeue(
                    and_(t.c.topic == topic, t.c.kafka_partition == partition, t.c.broker_epoch == epoch,
                         t.c.kafka_offset >= end),
                    reason="partition_truncated",
                )
                del self._acked[(topic, partition)]
                if lost:
                    self.loss = f"{topic}[{partition}] ends at {end}, behind what it acknowledged; re-sending {lost}"
                    log.warning("partition lost acknowledged events; re-sending them", topic=topic,
                                partition=partition, end=end, acknowledged=last, events=lost)
        await self._measure_backlog()

    async def _requeue(self, condition: ColumnElement[bool], *, reason: str) -> int:
        t = self.table
        async with self.sessionmaker() as session, session.begin():
            seqs = (
                await session.execute(
                    update(t)
                    .where(t.c.published_at.is_not(None), condition)
                    .values(published_at=None, republished=t.c.republished + 1)
                    .returning(t.c.seq)
                )
            ).scalars().all()
        if seqs:
            OUTBOX_REPUBLISHED.labels(self.service, reason).inc(len(seqs))
            self._resend_upto = max(self._resend_upto, max(seqs))
            self.wake()
        return len(seqs)

    async def _measure_backlog(self) -> None:
        t = self.table
        async with self.sessionmaker() as session:
            count, oldest, first = (
                await session.execute(
                    select(func.count(), func.min(t.c.created_at), func.min(t.c.seq)).where(t.c.published_at.is_(None))
                )
            ).one()
        self.backlog = count
        OUTBOX_BACKLOG.labels(self.service).set(count)
        age = (datetime.now(UTC) - oldest).total_seconds() if oldest is not None else 0.0
        OUTBOX_OLDEST_SECONDS.labels(self.service).set(age)
        if self.loss and (first is None or first > self._resend_upto):
            log.info("re-send after the broker loss finished", service=self.service)
            self.loss = None

    async def _note_failure(self, seq: int, exc: BaseException) -> None:
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
        """Loop forever: check the broker when due, publish while there is work, else wait for a wake-up
        or the poll interval.

        The idle wait stays a plain ``wait_for`` on the wake event: it is polling, not retrying, and
        a retry library would only hide that the relay is woken early after a commit.
        """
        while True:
            sent = await self._with_backoff(self._cycle)
            if sent == self.batch_size:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):  # woken early, or the poll interval passed
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    async def _cycle(self) -> int:
        if time.monotonic() >= self._next_check or self.epoch is None:
            await self.check_broker()  # first of all: rows are tagged with the lifetime they went to
            self._next_check = time.monotonic() + self.check_seconds
        return await self.publish_batch()

    async def flush(self, deadline: float) -> int:
        """Publish until nothing waits or ``deadline`` (loop time) passes; returns what is left (drain)."""
        loop = asyncio.get_running_loop()
        while loop.time() < deadline:
            try:
                sent = await asyncio.wait_for(self._cycle(), max(deadline - loop.time(), 0.05))
            except Exception:
                await asyncio.sleep(0.2)
                continue
            if sent == 0:
                async with self.sessionmaker() as session:
                    left = await pending_count(session, self.table)
                if left == 0:
                    return 0
                await asyncio.sleep(0.05)  # another replica holds the turn
        async with self.sessionmaker() as session:
            return await pending_count(session, self.table)

    async def _with_backoff(self, step: Callable[[], Awaitable[int]]) -> int:
        """One step, retried until it goes: exponential backoff from 0.5 s to ``max_backoff``, jittered
        so replicas do not retry in step; the outage and the recovery are logged once each."""
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(Exception),  # not CancelledError: stopping is no failure
            wait=wait_exponential_jitter(initial=0.5, max=self.max_backoff, jitter=0.5),
            before_sleep=self._note_outage,
        )
        sent: int = await retrying(step)
        if not self.healthy:
            log.info("outbox relay recovered", service=self.service)
        self.healthy, self.last_error = True, None
        return sent

    def _note_outage(self, attempt: RetryCallState) -> None:
        exc = attempt.outcome.exception() if attempt.outcome is not None else None
        if self.healthy:
            log.warning("outbox relay cannot publish; retrying with backoff", error=repr(exc)[:300])
        self.healthy, self.last_error = False, repr(exc)[:300]


async def prune_published(
    sessionmaker: async_sessionmaker[AsyncSession], table: Table, *, older_than: timedelta, batch: int = 5000
) -> int:
    """Delete rows published longer ago than ``older_than``, ``batch`` at a time (short transactions
    that do not hold up the relay); returns how many went."""
    cutoff = datetime.now(UTC) - older_than
    total = 0
    while True:
        async with sessionmaker() as session, session.begin():
            oldest = (
                select(table.c.seq)
                .where(table.c.published_at.is_not(None), table.c.published_at < cutoff)
                .order_by(table.c.published_at)
                .limit(batch)
                .scalar_subquery()
            )
            result = await session.execute(delete(table).where(table.c.seq.in_(oldest)))
            gone = getattr(result, "rowcount", 0) or 0
        total += gone
        if gone < batch:
            return total


async def pending_count(session: AsyncSession, table: Table) -> int:
    """How many events wait for the relay (for readiness and tests)."""
    return (
        await session.execute(select(func.count()).select_from(table).where(table.c.published_at.is_(None)))
    ).scalar_one()

