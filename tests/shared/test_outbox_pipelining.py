"""The relay sends a batch pipelined, in waves of distinct keys: one key's events still reach the broker in
outbox order, and after a failure nothing of that key after the failed row goes out. Real PostgreSQL and the
real broker; only the wave splitting is tested as plain logic."""

import asyncio
import json
import random
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest_asyncio
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import MessageSizeTooLargeError
from sqlalchemy import MetaData, Table, select, text

from shared import db
from shared.bus import KafkaBus
from shared.outbox import Delivered, OutboxRelay, outbox_table, waves
from shared.settings import ServiceSettings


@dataclass
class Row:
    seq: int
    key: str


def test_distinct_keys_share_a_wave_and_a_keys_next_event_goes_in_the_wave_after() -> None:
    rows = [Row(1, "a"), Row(2, "b"), Row(3, "c"), Row(4, "b"), Row(5, "a"), Row(6, "d"), Row(7, "d"), Row(8, "d")]
    assert [[r.seq for r in w] for w in waves(rows)] == [[1, 2, 3, 6], [4, 5, 7], [8]]


def test_waves_keep_the_rows_and_each_keys_order_and_never_repeat_a_key() -> None:
    rng = random.Random(3)
    rows = [Row(seq, rng.choice("abcdefgh")) for seq in range(1, 301)]
    split = waves(rows)
    assert sorted((r for w in split for r in w), key=lambda r: r.seq) == rows  # nothing lost or repeated
    assert all(len({r.key for r in w}) == len(w) for w in split)
    assert all([r.seq for r in w] == sorted(r.seq for r in w) for w in split)
    wave_of = {r.seq: i for i, w in enumerate(split) for r in w}
    for key in "abcdefgh":  # a key's events are in successive waves, in seq order, none later than needed
        mine = [wave_of[r.seq] for r in rows if r.key == key]
        assert mine == list(range(len(mine)))
    assert waves([]) == []


class Relayed:
    """An outbox in a schema of its own, its topics under a prefix of their own, and a relay driven by hand."""

    def __init__(self, infra: Any) -> None:
        self.settings = ServiceSettings(
            service_name="pipelining",
            database_url=infra.database_url,
            kafka_bootstrap=infra.kafka_bootstrap,
            topic_prefix=f"{infra.topic_prefix}pl{uuid.uuid4().hex[:6]}.",
        )
        self.engine = db.make_engine(self.settings.database_url)
        self.sessionmaker = db.make_sessionmaker(self.engine)
        self.schema = f"pipelining_{uuid.uuid4().hex[:8]}"
        self.metadata = MetaData(schema=self.schema)
        self.outbox: Table = outbox_table(self.metadata)
        self.topic = self.settings.topic("ticketing")
        self.bus = KafkaBus(self.settings)
        self.relay = OutboxRelay(table=self.outbox, sessionmaker=self.sessionmaker, sender=self.bus,
                                 service="pipelining")

    async def __aenter__(self) -> "Relayed":
        async with self.engine.begin() as conn:
            await conn.execute(text(f"CREATE SCHEMA {self.schema}"))
            await conn.run_sync(self.metadata.create_all)
        await self.relay.check_broker()  # the broker lifetime rows are tagged with
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.bus.stop()
        async with self.engine.begin() as conn:
            await conn.execute(text(f"DROP SCHEMA {self.schema} CASCADE"))
        await self.engine.dispose()

    async def add(self, keys: list[str]) -> None:
        """One outbox row per entry of ``keys``, in that order; each envelope carries its position ``n``."""
        async with self.sessionmaker() as session, session.begin():
            for n, key in enumerate(keys):
                await session.execute(self.outbox.insert().values(
                    event_id=uuid.uuid4(), topic=self.topic, key=key, type="test.numbered",
                    envelope={"key": key, "n": n},
                ))

    async def drain(self) -> int:
        sent = total = await self.relay.publish_batch()
        while sent:
            sent = await self.relay.publish_batch()
            total += sent
        return total

    async def rows(self) -> list[Any]:
        t = self.outbox
        async with self.sessionmaker() as session:
            return list((await session.execute(
                select(t.c.seq, t.c.key, t.c.envelope["n"].as_integer().label("n"), t.c.published_at,
                       t.c.broker_epoch, t.c.kafka_partition, t.c.kafka_offset, t.c.attempts, t.c.last_error)
                .order_by(t.c.seq)
            )).all())

    async def records(self) -> list[tuple[int, int, str, int]]:
        """Everything in the topic: (partition, offset, key, n), in offset order per partition."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = [TopicPartition(self.topic, p) for p in range(self.settings.topic_partitions)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            found = []
            while any([await consumer.position(tp) < ends[tp] for tp in partitions]):
                for messages in (await consumer.getmany(timeout_ms=1000)).values():
                    found += [(m.partition, m.offset, m.key.decode(), json.loads(m.value)["n"]) for m in messages]
        finally:
            await consumer.stop()
        return sorted(found)


@pytest_asyncio.fixture(loop_scope="session")
async def relayed(infra: Any) -> AsyncIterator[Relayed]:
    async with Relayed(infra) as h:
        yield h


class Recording:
    """A Sender around the real bus that records every ``send_many`` call and how many overlapped."""

    def __init__(self, bus: KafkaBus) -> None:
        self.bus = bus
        self.calls: list[list[tuple[str, str, bytes]]] = []
        self.in_flight = self.most_in_flight = 0

    async def send(self, topic: str, key: str, value: bytes, headers: Any = None) -> Delivered:
        raise AssertionError("the relay sent one by one although the sender has send_many")

    async def send_many(self, items: list[tuple[str, str, bytes]]) -> list[Delivered | BaseException]:
        self.calls.append(items)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return await self.bus.send_many(items)
        finally:
            self.in_flight -= 1

    async def broker_epoch(self) -> str:
        return await self.bus.broker_epoch()

    async def end_offsets(self, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        return await self.bus.end_offsets(partitions)


class Refusing(Recording):
    """Like Recording, but the event that ``refuse`` picks is answered with an error instead of being sent."""

    def __init__(self, bus: KafkaBus, refuse: Callable[[dict[str, Any]], bool]) -> None:
        super().__init__(bus)
        self.refuse = refuse

    async def send_many(self, items: list[tuple[str, str, bytes]]) -> list[Delivered | BaseException]:
        self.calls.append(items)
        passed = [i for i, (_, _, value) in enumerate(items) if not self.refuse(json.loads(value))]
        delivered = await self.bus.send_many([items[i] for i in passed])
        results: list[Delivered | BaseException] = [RuntimeError("refused by the test")] * len(items)
        for i, result in zip(passed, delivered, strict=True):
            results[i] = result
        return results


class OneByOne:
    """A Sender without send_many (like the fakes of older tests): the relay falls back to ``send``."""

    def __init__(self, bus: KafkaBus) -> None:
        self.bus = bus
        self.sends = 0

    async def send(self, topic: str, key: str, value: bytes, headers: Any = None) -> Delivered:
        self.sends += 1
        return await self.bus.send(topic, key, value)

    async def broker_epoch(self) -> str:
        return await self.bus.broker_epoch()

    async def end_offsets(self, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        return await self.bus.end_offsets(partitions)


def by_key(records: list[tuple[int, int, str, int]]) -> dict[str, list[int]]:
    """Each key's ``n`` in the order the broker holds them (a key lives in one partition)."""
    seen: dict[str, list[int]] = defaultdict(list)
    for _, _, key, n in records:
        seen[key].append(n)
    return seen


async def test_a_drain_of_500_events_goes_in_waves_and_keeps_every_keys_order(relayed: Relayed) -> None:
    h = relayed
    rng = random.Random(11)
    keys = [rng.choice([f"K{k:02d}" for k in range(50)]) for _ in range(500)]  # waves of varying length
    await h.add(keys)
    sender = Recording(h.bus)
    h.relay.sender = sender

    assert await h.drain() == 500

    rows = await h.rows()
    assert all(r.published_at is not None and r.broker_epoch == h.relay.epoch for r in rows)
    assert all(r.kafka_partition is not None and r.kafka_offset is not None for r in rows)
    records = await h.records()
    assert len(records) == 500  # each event once
    # The marks point at the records that hold the events.
    assert {(r.kafka_partition, r.kafka_offset): r.n for r in rows} == {(p, o): n for p, o, _, n in records}
    written: dict[str, list[int]] = defaultdict(list)
    for r in rows:
        written[r.key].append(r.n)
    assert by_key(records) == written  # every key's events in outbox order
    # Pipelined: a few calls, one at a time, none with a key twice.
    assert len(sender.calls) < 100 and sender.most_in_flight == 1
    assert all(len({key for _, key, _ in call}) == len(call) for call in sender.calls)
    assert sum(len(call) for call in sender.calls) == 500


async def test_a_failure_mid_batch_holds_back_that_keys_later_events_only(relayed: Relayed) -> None:
    h = relayed
    keys = [f"K{k}" for k in range(5)]
    await h.add(keys * 4)  # four rounds of one event per key: each round is a wave
    refused = 1 * 5 + 2  # K2's event of round 1
    h.relay.sender = Refusing(h.bus, lambda envelope: envelope["n"] == refused)

    try:
        await h.relay.publish_batch()
        raise AssertionError("publish_batch did not report the failure")
    except RuntimeError as exc:
        assert "refused by the test" in str(exc)

    rows = await h.rows()
    published = {r.n for r in rows if r.published_at is not None}
    assert published == set(range(10)) - {refused}  # round 0, and round 1 but the refused event
    assert all(r.kafka_offset is not None for r in rows if r.n in published)
    [failed] = [r for r in rows if r.n == refused]
    assert failed.attempts == 1 and "refused by the test" in (failed.last_error or "")
    records = await h.records()
    assert {n for _, _, _, n in records} == published  # rounds 2 and 3 were not sent at all
    assert by_key(records)["K2"] == [2]

    h.relay.sender = h.bus  # the fault is gone
    assert await h.relay.publish_batch() == 11
    assert all(r.published_at is not None for r in await h.rows())
    records = await h.records()
    assert len(records) == 20  # nothing sent twice
    assert by_key(records) == {key: [r * 5 + k for r in range(4)] for k, key in enumerate(keys)}


async def test_a_sender_without_send_many_is_used_one_event_at_a_time(relayed: Relayed) -> None:
    h = relayed
    keys = [f"K{k}" for k in range(6)] * 10
    await h.add(keys)
    sender = OneByOne(h.bus)
    h.relay.sender = sender

    assert await h.drain() == 60

    assert sender.sends == 60
    assert all(r.published_at is not None and r.kafka_offset is not None for r in await h.rows())
    assert by_key(await h.records()) == {f"K{k}": list(range(k, 60, 6)) for k in range(6)}


async def test_send_many_reports_each_items_outcome_in_its_place(relayed: Relayed) -> None:
    h = relayed
    too_large = b"x" * (2 * 1024 * 1024)  # over the producer's max_request_size: refused before sending
    results = await h.bus.send_many([
        (h.topic, "A", json.dumps({"n": 0}).encode()),
        (h.topic, "B", too_large),
        (h.topic, "C", json.dumps({"n": 2}).encode()),
    ])
    assert isinstance(results[0], Delivered) and isinstance(results[2], Delivered)
    assert isinstance(results[1], MessageSizeTooLargeError)
    assert {(p, o, k) for p, o, k, _ in await h.records()} == {
        (results[0].partition, results[0].offset, "A"), (results[2].partition, results[2].offset, "C")}
    # The producer was rebuilt after the failure and sends again.
    [again] = await asyncio.wait_for(h.bus.send_many([(h.topic, "D", json.dumps({"n": 3}).encode())]), 30)
    assert isinstance(again, Delivered)


async def test_after_pipelined_batches_the_broker_check_finds_nothing_lost(relayed: Relayed) -> None:
    """The embedded broker answers a partition's end as its last batch's base offset plus one; batches of many
    records must not look like a truncated partition (the relay would re-send their tails for ever)."""
    h = relayed
    await h.add([f"K{k}" for k in range(30)] * 3)
    assert await h.drain() == 90
    acked = dict(h.relay._acked)
    ends = await h.bus.end_offsets(list(acked))
    assert all(ends[tp] == last + 1 for tp, last in acked.items())  # the end is past the last record

    await h.relay.check_broker()

    assert h.relay.loss is None and h.relay.backlog == 0
    assert all(r.published_at is not None for r in await h.rows())
