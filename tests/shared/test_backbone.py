"""The event backbone against the real database and broker: outbox, relay, idempotent consumer, DLQ."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from sqlalchemy import Column, Integer, MetaData, String, Table, select, text

from shared import db
from shared.bus import EventConsumer, KafkaBus
from shared.dlq import replay_dead_letters
from shared.events import Envelope
from shared.events.ticketing import TicketIssued, TicketRated
from shared.handlers import ConsumerSpec, Delivery
from shared.inbox import Inbox, inbox_table
from shared.infra import EmbeddedBroker, wait_for
from shared.observability import DEAD_LETTERED, EVENTS_SKIPPED
from shared.outbox import Outbox, OutboxRelay, outbox_table, pending_count
from shared.outbox import staged as outbox_staged
from shared.settings import ServiceSettings


class Tables:
    """One harness's own schema: its outbox is read by its relay only (relays take any unpublished row)."""

    def __init__(self) -> None:
        self.schema = f"backbone_{uuid.uuid4().hex[:8]}"
        self.metadata = MetaData(schema=self.schema)
        self.ratings = Table("ratings", self.metadata, Column("ticket_id", String, primary_key=True),
                             Column("times", Integer, nullable=False))
        self.outbox = outbox_table(self.metadata)
        self.inbox = inbox_table(self.metadata)


def rated(ticket_id: str, score: int = 5) -> TicketRated:
    return TicketRated(ticket_id=ticket_id, hall="H1", number="A001", matter_code="M1", score=score,
                       at=datetime.now(UTC))


class Harness:
    """A minimal producing and consuming 'service' made of the shared parts."""

    def __init__(self, infra, *, bootstrap: str | None = None, prefix: str | None = None) -> None:
        self.settings = ServiceSettings(
            service_name="backbone",
            database_url=infra.database_url,
            kafka_bootstrap=bootstrap or infra.kafka_bootstrap,
            topic_prefix=prefix or f"{infra.topic_prefix}bb{uuid.uuid4().hex[:6]}.",
            consumer_max_attempts=3,
        )
        self.engine = db.make_engine(self.settings.database_url)
        self.sessionmaker = db.make_sessionmaker(self.engine)
        self.bus = KafkaBus(self.settings)
        self.t = Tables()
        self.outbox = Outbox(self.t.outbox, producer="backbone", topic_prefix=self.settings.topic_prefix)
        self.relay = OutboxRelay(table=self.t.outbox, sessionmaker=self.sessionmaker, sender=self.bus,
                                 service="backbone", poll_seconds=0.05, max_backoff=1.0)
        self.fail_scores: set[int] = set()
        self.echo_scores: set[int] = set()  # the handler stages an event of its own for these
        self.transactions: dict[str, int] = {}  # ticket id -> the transaction that applied it
        self.consumer = EventConsumer(
            bus=self.bus, spec=ConsumerSpec(group="grp", handlers={TicketRated: self.on_rated}),
            sessionmaker=self.sessionmaker, engine=self.engine, inbox=Inbox(self.t.inbox), outbox=self.outbox,
            service="backbone",
        )
        self.tasks: list[asyncio.Task] = []

    async def on_rated(self, event: TicketRated, ctx: Delivery[None]) -> None:
        session = ctx.session
        if event.score in self.fail_scores:
            raise RuntimeError(f"refusing score {event.score}")
        self.transactions[event.ticket_id] = (await session.execute(text("SELECT txid_current()"))).scalar_one()
        if event.score in self.echo_scores:
            await ctx.outbox.add(session, rated(f"{event.ticket_id}-echo", score=1))
        ratings = self.t.ratings
        row = (await session.execute(select(ratings.c.times).where(ratings.c.ticket_id == event.ticket_id))).first()
        if row:
            await session.execute(ratings.update().where(ratings.c.ticket_id == event.ticket_id)
                                  .values(times=row.times + 1))
        else:
            await session.execute(ratings.insert().values(ticket_id=event.ticket_id, times=1))

    async def __aenter__(self) -> "Harness":
        async with self.engine.begin() as conn:
            await conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {self.t.schema}"))
            await conn.run_sync(self.t.metadata.create_all)
        self.tasks = [asyncio.create_task(self.relay.run()), asyncio.create_task(self.consumer.run())]
        await wait_for(lambda: self.consumer.running, timeout=60, message="consumer start")
        return self

    async def __aexit__(self, *exc) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.bus.stop()
        async with self.engine.begin() as conn:
            await conn.execute(text(f"DROP SCHEMA {self.t.schema} CASCADE"))
        await self.engine.dispose()

    async def emit(self, *events: TicketRated) -> list[Envelope]:
        async with self.sessionmaker() as session, session.begin():
            envelopes = [await self.outbox.add(session, e) for e in events]
        self.relay.wake()
        return envelopes

    async def times(self, ticket_id: str) -> int:
        async with self.sessionmaker() as session:
            ratings = self.t.ratings
            value = (await session.execute(select(ratings.c.times).where(ratings.c.ticket_id == ticket_id))).scalar()
        return value or 0

    async def dlq_messages(self, minimum: int, timeout: float = 30) -> list:
        # Partitions assigned by hand: no consumer-group join (seconds on this broker) just to read.
        consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        partitions = await wait_for(lambda: consumer.partitions_for_topic(self.consumer.dlq_topic), timeout=timeout,
                                    message="DLQ topic metadata")
        consumer.assign([TopicPartition(self.consumer.dlq_topic, p) for p in sorted(partitions)])
        found: list = []
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while len(found) < minimum and loop.time() < deadline:
                for messages in (await consumer.getmany(timeout_ms=500)).values():
                    found.extend(messages)
        finally:
            await consumer.stop()
        return found


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def harness(infra) -> AsyncIterator[Harness]:
    """One running harness for the tests that need no fault of their own (a consumer start costs seconds)."""
    async with Harness(infra) as h:
        yield h


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:6]}"


async def test_outbox_event_is_consumed_and_marked_sent(harness: Harness) -> None:
    h = harness
    first, second = unique("T-1"), unique("T-2")
    await h.emit(rated(first), rated(second))
    await wait_for(lambda: h.times(second), timeout=30, message="T-2 applied")
    assert await h.times(first) == 1
    async with h.sessionmaker() as session:
        await wait_for(lambda: _no_pending(h), timeout=10, message="outbox drained")
        assert await pending_count(session, h.t.outbox) == 0


async def _no_pending(h: Harness) -> bool:
    async with h.sessionmaker() as session:
        return await pending_count(session, h.t.outbox) == 0


async def test_same_event_twice_changes_state_once(harness: Harness) -> None:
    h = harness
    dup, after = unique("T-dup"), unique("T-after")
    [envelope] = await h.emit(rated(dup))
    await wait_for(lambda: h.times(dup), timeout=30, message="first delivery")
    # Deliver the very same envelope again, as a redelivery after a crash would.
    await h.bus.send(f"{h.settings.topic_prefix}ticketing", envelope.key, envelope.model_dump_json().encode())
    await h.emit(rated(after))
    await wait_for(lambda: h.times(after), timeout=30, message="later event")
    assert await h.times(dup) == 1


async def test_an_event_type_the_group_does_not_handle_is_skipped_and_counted(harness: Harness) -> None:
    h = harness
    skipped = EVENTS_SKIPPED.labels("backbone", "grp", "ticket.issued")
    dead = DEAD_LETTERED.labels("backbone", "grp", "ticket.issued")
    before, dead_before = skipped._value.get(), dead._value.get()
    other = TicketIssued(ticket_id=unique("T-issued"), hall="H1", zone="A", number="A001", matter_code="M1",
                         channel="kiosk", issued_at=datetime.now(UTC))
    after = unique("T-after-unknown")
    async with h.sessionmaker() as session, session.begin():
        await h.outbox.add(session, other, key=after)  # same key, so it is read before the next event
    await h.emit(rated(after))
    await wait_for(lambda: h.times(after), timeout=30, message="event after the unhandled one")
    assert skipped._value.get() == before + 1
    assert dead._value.get() == dead_before  # not a failure: nothing dead-lettered


def _record(envelope: Envelope, offset: int) -> ConsumerRecord:
    value = envelope.model_dump_json().encode()
    return ConsumerRecord(topic="direct", partition=0, offset=offset, timestamp=0, timestamp_type=0,
                          key=envelope.key.encode(), value=value, checksum=None, serialized_key_size=0,
                          serialized_value_size=len(value), headers=())


async def test_a_batch_is_applied_in_one_transaction_with_one_inbox_check(harness: Harness) -> None:
    h = harness
    ids = [unique(f"T-batch{i}") for i in range(4)]
    envelopes = [Envelope.wrap(rated(i), producer="backbone", correlation_id="batch") for i in ids]
    already = envelopes[0]
    await h.consumer.handle_many([_record(already, 0)])  # applied before: a redelivery in the batch
    first_tx = h.transactions[ids[0]]
    await h.consumer.handle_many([_record(e, n) for n, e in enumerate([*envelopes, envelopes[2]], start=1)])
    assert [await h.times(i) for i in ids] == [1, 1, 1, 1]  # the repeat and the redelivery changed nothing
    batch_txs = {h.transactions[i] for i in ids[1:]}
    assert len(batch_txs) == 1 and first_tx not in batch_txs


async def test_only_a_commit_that_staged_events_wakes_the_relay(harness: Harness) -> None:
    """Waking the relay after every commit cost a relay transaction per commit that found nothing."""
    h = harness
    h.echo_scores = {4}
    woken: list[int] = []
    h.consumer.on_commit = lambda: woken.append(1)
    try:
        plain = [Envelope.wrap(rated(unique("T-quiet"), 5), producer="backbone", correlation_id="wake") for _ in range(3)]
        await h.consumer.handle(_record(plain[0], 0))
        await h.consumer.handle_many([_record(e, n) for n, e in enumerate(plain[1:], start=1)])
        assert woken == []  # applied, nothing staged: the relay sleeps on
        echoing = [Envelope.wrap(rated(unique("T-echo"), 4), producer="backbone", correlation_id="wake") for _ in range(3)]
        await h.consumer.handle(_record(echoing[0], 3))
        assert woken == [1]
        await h.consumer.handle_many([_record(echoing[1], 4), _record(plain[1], 5)])  # one stages, one repeats
        assert woken == [1, 1]
        async with h.sessionmaker() as session, session.begin():
            assert not outbox_staged(session)
            await h.outbox.add(session, rated(unique("T-direct")))
            assert outbox_staged(session)
    finally:
        h.consumer.on_commit, h.echo_scores = None, set()


async def test_a_failing_event_in_a_batch_is_dead_lettered_alone(infra) -> None:
    async with Harness(infra) as h:
        h.fail_scores = {1}
        good = [unique("T-good-a"), unique("T-good-b")]
        bad = unique("T-bad")
        envelopes = [Envelope.wrap(rated(good[0]), producer="backbone", correlation_id="batch"),
                     Envelope.wrap(rated(bad, score=1), producer="backbone", correlation_id="batch"),
                     Envelope.wrap(rated(good[1]), producer="backbone", correlation_id="batch")]
        await h.consumer.handle_many([_record(e, n) for n, e in enumerate(envelopes)])
        assert [await h.times(g) for g in good] == [1, 1] and await h.times(bad) == 0
        assert h.transactions[good[0]] != h.transactions[good[1]]  # the batch fell back to one at a time
        [dead] = await h.dlq_messages(1)
        assert dead.key.decode() == bad and "refusing score 1" in dict(dead.headers)["error"].decode()


async def test_poison_message_goes_to_dlq_and_consumer_moves_on(infra) -> None:
    async with Harness(infra) as h:
        h.fail_scores = {1}
        topic = f"{h.settings.topic_prefix}ticketing"
        await h.bus.send(topic, "garbage", b"{not json")
        [failing] = await h.emit(rated("T-poison", score=1))
        await h.emit(rated("T-good"))
        await wait_for(lambda: h.times("T-good"), timeout=60, message="good event after poison")
        dead = await h.dlq_messages(2)
        errors = {m.key.decode(): dict(m.headers)["error"].decode() for m in dead}
        assert "unreadable envelope" in errors["garbage"]
        assert "refusing score 1" in errors["T-poison"]
        assert dict(dead[0].headers)["original_topic"].decode() == topic
        assert await h.times("T-poison") == 0

        # The operator fixes the cause and replays the dead-letter topic.
        h.fail_scores = set()
        replayed = await replay_dead_letters(h.bus, group=h.consumer.group, known={"grp"})
        assert replayed.total == 2
        await wait_for(lambda: h.times("T-poison"), timeout=30, message="replayed event applied")
        assert failing.key == "T-poison"


@pytest.mark.slow
async def test_events_written_while_broker_is_down_arrive_once_after_restart(infra) -> None:
    broker = EmbeddedBroker()
    broker.start()
    try:
        async with Harness(infra, bootstrap=broker.bootstrap) as h:
            await h.emit(rated("before"))
            await wait_for(lambda: h.times("before"), timeout=30, message="delivery before the outage")

            broker.stop()
            ids = [f"during-{i}" for i in range(20)]
            await h.emit(*[rated(i) for i in ids])  # the state change commits; the broker is away
            await wait_for(lambda: not h.relay.healthy, timeout=60, message="relay notices the outage")
            async with h.sessionmaker() as session:
                assert await pending_count(session, h.t.outbox) == 20  # kept, not lost

            broker.start()  # same port; this broker keeps nothing in memory across restarts
            for i in ids:
                await wait_for(lambda i=i: h.times(i), timeout=90, message=f"{i} after restart")
            assert [await h.times(i) for i in ids] == [1] * 20
            assert await h.times("before") == 1
    finally:
        broker.stop()


async def test_envelope_carries_correlation_and_key(harness: Harness) -> None:
    h = harness
    from shared import context

    key = unique("T-corr")
    token = context.correlation_id.set("corr-123")
    try:
        [envelope] = await h.emit(rated(key))
    finally:
        context.correlation_id.reset(token)
    assert envelope.correlation_id == "corr-123" and envelope.key == key
    async with h.sessionmaker() as session:
        row = (await session.execute(select(h.t.outbox.c.envelope).where(h.t.outbox.c.event_id == envelope.id))).one()
    assert json.loads(json.dumps(row.envelope))["type"] == "ticket.rated"
