"""Acknowledged is not done: the relay re-sends what a broker lost, keeps one key's events in order with two
relays, prunes after retention, and a draining consumer stops only at the end of its partitions. Real
PostgreSQL and the real broker; the broker is killed for real."""

import asyncio
import json
import signal
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import func, select, update

from shared import db
from shared.inbox import prune_handled
from shared.infra import EmbeddedBroker, wait_for
from shared.observability import OUTBOX_REPUBLISHED
from shared.outbox import OutboxRelay, pending_count, prune_published
from tests.shared.test_backbone import Harness, rated


def _republished(reason: str) -> float:
    return OUTBOX_REPUBLISHED.labels("backbone", reason)._value.get()


async def _published(h: Harness) -> int:
    t = h.t.outbox
    async with h.sessionmaker() as session:
        return (await session.execute(select(func.count()).where(t.c.published_at.is_not(None)))).scalar_one()


@pytest.mark.slow
async def test_events_the_broker_acknowledged_and_then_lost_are_sent_again(infra) -> None:
    """The consumer is stopped, the relay publishes 30 events (all acknowledged, all marked), the broker is
    killed and started empty: the relay notices the new lifetime and sends all 30 again; each applies once."""
    broker = EmbeddedBroker()
    broker.start()
    try:
        async with Harness(infra, bootstrap=broker.bootstrap) as h:
            await h.emit(rated("warm-up"))
            await wait_for(lambda: h.times("warm-up"), timeout=30, message="first delivery")
            h.tasks[1].cancel()  # the consumer is away: what the broker acknowledges now sits only in its log
            await asyncio.gather(h.tasks[1], return_exceptions=True)
            ids = [f"acked-{i}" for i in range(30)]
            await h.emit(*[rated(i) for i in ids])
            await wait_for(lambda: _published(h), timeout=30, message="published")
            await wait_for(lambda: h.relay.backlog == 0 and _published_all(h, 31), timeout=30,
                           message="all 31 acknowledged")
            before = _republished("broker_lifetime")
            old_epoch = h.relay.epoch

            assert broker.process is not None
            broker.process.send_signal(signal.SIGKILL)
            broker.process.wait(10)
            broker.process = None
            broker.start()  # same port, empty: the 30 acknowledged events are gone from the broker

            await wait_for(lambda: h.relay.epoch not in (None, old_epoch), timeout=60, message="new lifetime seen")
            assert _republished("broker_lifetime") - before == 31  # everything the old lifetime held
            h.tasks[1] = asyncio.create_task(h.consumer.run())
            for i in ids:
                await wait_for(lambda i=i: h.times(i), timeout=90, message=f"{i} after the broker loss")
            assert [await h.times(i) for i in ids] == [1] * 30
            assert await h.times("warm-up") == 1  # re-sent too, and dropped by the inbox
            await wait_for(lambda: h.relay.loss is None, timeout=30, message="re-send reported finished")
    finally:
        broker.stop()


async def _published_all(h: Harness, n: int) -> bool:
    return await _published(h) >= n


@pytest.mark.slow
async def test_a_partition_that_ends_behind_what_it_acknowledged_is_sent_again(infra) -> None:
    """A topic deleted under the relay (Apache Kafka: deletion, retention of a lagging topic) is detected by
    comparing the partitions' ends with the offsets the broker acknowledged; those rows are sent again."""
    from aiokafka.admin import AIOKafkaAdminClient

    async with Harness(infra) as h:
        ids = [f"trunc-{i}" for i in range(12)]
        await h.emit(*[rated(i) for i in ids])
        for i in ids:
            await wait_for(lambda i=i: h.times(i), timeout=30, message=f"{i} delivered")
        topic = h.consumer.topics[0]
        before = _republished("partition_truncated")
        admin = AIOKafkaAdminClient(bootstrap_servers=h.settings.kafka_bootstrap)
        await admin.start()
        try:
            await admin.delete_topics([topic])
        finally:
            await admin.close()
        await h.bus.ensure_topics([topic])  # recreated empty, as a producer or an operator would
        await wait_for(lambda: _republished("partition_truncated") - before >= 12, timeout=60,
                       message="truncation detected and rows queued again")
        async with h.sessionmaker() as session:
            await wait_for(lambda: _pending_zero(h), timeout=60, message="re-sent")
            assert await pending_count(session, h.t.outbox) == 0
        assert [await h.times(i) for i in ids] == [1] * 12  # re-sent, applied once


async def _pending_zero(h: Harness) -> bool:
    async with h.sessionmaker() as session:
        return await pending_count(session, h.t.outbox) == 0


@pytest.mark.slow
async def test_two_relays_keep_every_keys_order(infra) -> None:
    """Two relays of one outbox (two replicas of a service) and 5,000 events over 50 keys written while they
    run: read back from the topic, every key's events are in the order they were written."""
    async with Harness(infra) as h:
        h.tasks[1].cancel()  # no consumer needed: the topic itself is read back below
        second_engine = db.make_engine(h.settings.database_url)
        second = OutboxRelay(table=h.t.outbox, sessionmaker=db.make_sessionmaker(second_engine), sender=h.bus,
                             service="backbone", batch_size=40, poll_seconds=0.01)
        h.relay.batch_size = 40  # small batches: without the per-outbox turn, neighbouring batches interleave
        relay_task = asyncio.create_task(second.run())
        keys = [f"K{k:02d}-{uuid.uuid4().hex[:4]}" for k in range(50)]
        try:
            for round_ in range(100):  # 100 transactions, each one event for every key
                async with h.sessionmaker() as session, session.begin():
                    for key in keys:
                        event = rated(key)
                        event.number = f"{round_:05d}"
                        await h.outbox.add(session, event, key=key)
                h.relay.wake()
                second.wake()
            await wait_for(lambda: _pending_zero(h), timeout=240, interval=0.5, message="5,000 events published")
        finally:
            relay_task.cancel()
            await asyncio.gather(relay_task, return_exceptions=True)
            await second_engine.dispose()
        seen: dict[str, list[int]] = defaultdict(list)
        consumer = AIOKafkaConsumer(bootstrap_servers=h.settings.kafka_bootstrap, enable_auto_commit=False,
                                    auto_offset_reset="earliest")
        await consumer.start()
        try:
            topic = h.consumer.topics[0]
            partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [0, 1, 2])]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            while any([await consumer.position(tp) < ends[tp] for tp in partitions]):
                for messages in (await consumer.getmany(timeout_ms=1000)).values():
                    for m in messages:
                        payload = json.loads(m.value)["payload"]
                        if payload["ticket_id"] in keys:
                            seen[payload["ticket_id"]].append(int(payload["number"]))
        finally:
            await consumer.stop()
        assert sum(len(v) for v in seen.values()) == 5000
        out_of_order = [k for k, rounds in seen.items() if rounds != sorted(rounds)]
        assert not out_of_order, f"{len(out_of_order)} keys out of order, e.g. {seen[out_of_order[0]][:20]}"
        assert all(rounds == list(range(100)) for rounds in seen.values())


async def test_published_rows_and_handled_ids_are_pruned_after_retention_only(infra) -> None:
    async with Harness(infra) as h:
        t, inbox = h.t.outbox, h.t.inbox
        old_key, new_key = f"old-{uuid.uuid4().hex[:6]}", f"new-{uuid.uuid4().hex[:6]}"
        await h.emit(rated(old_key), rated(new_key))
        for key in (old_key, new_key):
            await wait_for(lambda key=key: h.times(key), timeout=30, message=f"{key} delivered")
        async with h.sessionmaker() as session, session.begin():
            long_ago = datetime.now(UTC) - timedelta(days=30)
            await session.execute(update(t).where(t.c.key == old_key).values(published_at=long_ago))
            await session.execute(update(inbox).where(inbox.c.event_id.in_(
                select(t.c.event_id).where(t.c.key == old_key))).values(handled_at=long_ago))
            # an event never published stays whatever its age
            await session.execute(t.insert().values(event_id=uuid.uuid4(), topic="x", key="stuck", type="t",
                                                    envelope={}, created_at=long_ago))
        h.relay.wake()
        pruned = await prune_published(h.sessionmaker, t, older_than=timedelta(days=7), batch=1)
        forgotten = await prune_handled(h.sessionmaker, inbox, older_than=timedelta(days=14), batch=1)
        async with h.sessionmaker() as session, session.begin():
            keys = set((await session.execute(select(t.c.key))).scalars())
        assert pruned >= 1 and forgotten >= 1
        assert old_key not in keys and new_key in keys and "stuck" in keys


async def test_a_draining_consumer_stops_at_the_end_of_its_partitions(infra) -> None:
    async with Harness(infra) as h:
        ids = [f"drain-{uuid.uuid4().hex[:4]}-{i}" for i in range(40)]
        await h.emit(*[rated(i) for i in ids])
        await wait_for(lambda: _pending_zero(h), timeout=30, message="published")
        h.consumer.draining = True
        await asyncio.wait_for(h.consumer.caught_up.wait(), 60)
        assert [await h.times(i) for i in ids] == [1] * 40  # everything published before the drain is applied
        await asyncio.wait_for(h.tasks[1], 10)  # and the consumer's task ends by itself
