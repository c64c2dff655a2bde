"""Kafka through aiokafka: a shared producer, topic creation, and idempotent consumers with a DLQ."""

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, UnknownError
from aiokafka.protocol.metadata import MetadataRequest
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential, wait_fixed

from shared import context, db
from shared.events import STREAMS, Envelope
from shared.events.envelope import uuid7
from shared.handlers import ConsumerSpec, Delivery, Route
from shared.inbox import Inbox
from shared.observability import CONSUMER_LAG, DEAD_LETTERED, EVENTS_HANDLED, EVENTS_SKIPPED, get_logger
from shared.outbox import Delivered, Outbox
from shared.outbox import staged as outbox_staged
from shared.settings import ServiceSettings

log = get_logger(__name__)

# Topics are created on purpose only (``ensure_topics``: configured partitions, the lifetime topic's single
# partition). aiokafka asks every metadata request to auto-create unknown topics; the embedded broker then
# creates a four-partition topic of its own when a client asks first after a restart, and the two versions
# of the topic disagree (consumers were seen reading an empty one while the data sat in the other).
# Apache Kafka deployments disable auto-creation anyway (auto.create.topics.enable=false).
MetadataRequest.__init__.__defaults__ = (None, False)


UNKNOWN_ERROR_RETRIES = 50  # immediate re-tries of a produce the broker answered with UnknownError (``send``)

# One item of a send: topic, key, value, headers, partition (None: by the key).
_Item = tuple[str, str, bytes, list[tuple[str, bytes]] | None, int | None]

# A dead letter replayed to its shared topic carries this header: only the named group applies it.
REPLAY_FOR_HEADER = "onewindow-replay-for"


def _header(message: ConsumerRecord, name: str) -> str | None:
    for key, value in message.headers or ():
        if key == name:
            return value.decode(errors="replace")
    return None


# The first record of this one-partition topic names the broker's lifetime: a broker that lost its log
# (the embedded one after any restart, a rebuilt cluster) has none, and the first relay to look writes one.
LIFETIME_STREAM = "onewindow.broker-lifetime"


class KafkaBus:
    """One producer per process, created lazily and recreated after a failure; and a group-less probe
    that reads the broker lifetime marker and partition ends."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._probe: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()
        self._probe_lock = asyncio.Lock()
        self.epoch: str | None = None  # the broker lifetime last read (consumers re-read from the start on a change)

    @property
    def bootstrap(self) -> str:
        return self.settings.kafka_bootstrap

    @property
    def lifetime_topic(self) -> str:
        return self.settings.topic(LIFETIME_STREAM)

    def all_topics(self, extra: tuple[str, ...] = ()) -> list[str]:
        """Every stream topic (prefixed) plus ``extra``."""
        return [self.settings.topic(s) for s in STREAMS] + list(extra)

    async def ensure_topics(self, names: list[str]) -> None:
        """Create missing topics with the configured partitions (the lifetime topic: one partition, kept for
        ever); existing ones are left alone."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=5000)
        await asyncio.wait_for(admin.start(), 10)
        try:
            existing = set(await admin.list_topics())
            missing = [n for n in names if n not in existing]
            if missing:
                await admin.create_topics([self._new_topic(n) for n in missing])
                log.info("topics created", topics=missing)
        finally:
            await admin.close()

    def _new_topic(self, name: str) -> NewTopic:
        if name == self.lifetime_topic:
            return NewTopic(name, 1, self.settings.topic_replication, topic_configs={"retention.ms": "-1"})
        return NewTopic(name, self.settings.topic_partitions, self.settings.topic_replication)

    async def producer(self) -> AIOKafkaProducer:
        """The started producer, (re)creating it and the topics if needed."""
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.bootstrap,
                    acks="all",
                    enable_idempotence=self.settings.kafka_idempotence,
                    request_timeout_ms=10000,
                    linger_ms=2,
                )
                try:
                    await asyncio.wait_for(producer.start(), 10)
                    await self.ensure_topics(self.all_topics((self.lifetime_topic,)))
                except BaseException:
                    await _quiet_stop(producer)
                    raise
                self._producer = producer
            return self._producer

    async def _reset(self) -> None:
        async with self._lock:
            if self._producer is not None:
                await _quiet_stop(self._producer)
                self._producer = None

    async def send(
        self,
        topic: str,
        key: str,
        value: bytes,
        headers: list[tuple[str, bytes]] | None = None,
        *,
        partition: int | None = None,
    ) -> Delivered:
        """Send and wait for the broker's acknowledgement; on failure the producer is rebuilt.

        An ``UnknownError`` answer is tried again at once, up to ``UNKNOWN_ERROR_RETRIES`` times, on the
        same producer. After a restart the embedded broker was seen answering it for a partition whose
        offset counter was behind the records it held (``AlreadyExists`` in its log, one offset further
        on each try); rebuilding the producer and backing off between tries kept a relay stuck for over
        90 s. Consumers drop duplicates by event id, so a repeat is harmless."""
        [result] = await self._send_together([(topic, key, value, headers, partition)])
        if isinstance(result, BaseException):
            raise result
        return result

    async def send_many(self, items: list[tuple[str, str, bytes]]) -> list[Delivered | BaseException]:
        """Send ``(topic, key, value)`` items together and wait for all the acknowledgements: one result per
        item, in order, where it went or why it failed. The producer batches them per partition (one round
        trip for many events instead of one each); after any failure it is rebuilt, as by ``send``.

        Items the broker answered with ``UnknownError`` are sent again (see ``send``), after the others:
        order between the items of one call is not kept, so a caller that needs it passes one item per key."""
        return await self._send_together([(topic, key, value, None, None) for topic, key, value in items])

    async def _send_together(self, items: list[_Item]) -> list[Delivered | BaseException]:
        results: dict[int, Delivered | BaseException] = {}
        try:
            producer = await self.producer()
            todo = list(range(len(items)))
            for attempt in range(UNKNOWN_ERROR_RETRIES + 1):
                outcomes = await _send_round(producer, [items[i] for i in todo], timeout=15)
                retry = []
                for i, outcome in zip(todo, outcomes, strict=True):
                    if isinstance(outcome, UnknownError) and attempt < UNKNOWN_ERROR_RETRIES:
                        retry.append(i)
                    else:
                        results[i] = outcome
                if not retry:
                    break
                todo = retry
                await asyncio.sleep(0.02)
        except BaseException:
            await self._reset()
            raise
        if any(isinstance(r, BaseException) for r in results.values()):
            await self._reset()
        return [results[i] for i in range(len(items))]

    async def publish(self, envelope: Envelope, *, stream: str) -> None:
        """Send an envelope as is to ``stream``'s topic (tools and tests; services use the outbox)."""
        await self.send(self.settings.topic(stream), envelope.key, envelope.model_dump_json().encode())

    async def probe(self) -> AIOKafkaConsumer:
        """A started consumer outside any group, for reading offsets and the lifetime marker."""
        async with self._probe_lock:
            if self._probe is None:
                probe = AIOKafkaConsumer(
                    bootstrap_servers=self.bootstrap, enable_auto_commit=False, request_timeout_ms=10000,
                    metadata_max_age_ms=5000,
                )
                try:
                    await asyncio.wait_for(probe.start(), 10)
                except BaseException:
                    await _quiet_stop(probe)
                    raise
                self._probe = probe
            return self._probe

    async def _reset_probe(self) -> None:
        async with self._probe_lock:
            if self._probe is not None:
                await _quiet_stop(self._probe)
                self._probe = None

    async def broker_epoch(self) -> str:
        """The broker lifetime's id: the first record of the lifetime topic, written if there is none."""
        tp = TopicPartition(self.lifetime_topic, 0)
        producer = await self.producer()
        wanted = self.all_topics((self.lifetime_topic,))
        metadata = await asyncio.wait_for(producer.client.fetch_all_metadata(), 10)
        if metadata is None or not set(wanted) <= metadata.topics():
            await self.ensure_topics(wanted)  # a broker that restarted empty has none of them
        try:
            for _ in range(3):
                probe = await self.probe()
                probe.assign([tp])
                await asyncio.wait_for(probe.seek_to_beginning(tp), 10)
                records = (await asyncio.wait_for(probe.getmany(tp, timeout_ms=1000, max_records=1), 10)).get(tp)
                if records:
                    self.epoch = str(json.loads(records[0].value)["epoch"])
                    return self.epoch
                marker = {"epoch": uuid7().hex, "written_by": self.settings.service_name,
                          "at": datetime.now(UTC).isoformat()}
                await self.send(self.lifetime_topic, "lifetime", json.dumps(marker).encode(), partition=0)
        except BaseException:
            await self._reset_probe()
            raise
        raise RuntimeError("the broker lifetime marker could not be read back")

    async def end_offsets(self, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """The end offset of each ``(topic, partition)`` the broker's metadata knows (others are left out: a
        topic just created may not be in it yet, and a deleted one is recreated, empty, by the producer)."""
        cluster = (await self.producer()).client.cluster  # the producer's metadata knows what it sent to
        known = [TopicPartition(t, p) for t, p in partitions if p in (cluster.partitions_for_topic(t) or ())]
        probe = await self.probe()
        try:
            ends = await asyncio.wait_for(probe.end_offsets(known), 10) if known else {}
            ends = await self._past_last_batch(probe, ends)
        except BaseException:
            await self._reset_probe()
            raise
        return {(tp.topic, tp.partition): end for tp, end in ends.items()}

    async def _past_last_batch(
        self, probe: AIOKafkaConsumer, ends: dict[TopicPartition, int], *, timeout: float = 2.0
    ) -> dict[TopicPartition, int]:
        """``ends`` moved past the records of each partition's last batch.

        The embedded broker answers a partition's end as the base offset of its last batch plus one, not the
        last offset plus one (a batch of ten at 8..17 gives 9). Batches of one record, as from ``send``,
        hid it; the batches of ``send_many`` made the relay take every partition for truncated. A fetch
        from ``end - 1`` returns the last batch whole, so its last record tells the true end (on Apache
        Kafka the same as the answer). A partition that gives nothing in time keeps the broker's answer."""
        wanted = {tp: end for tp, end in ends.items() if end > 0}
        if not wanted:
            return ends
        probe.assign(list(wanted))
        for tp, end in wanted.items():
            probe.seek(tp, end - 1)
        true_ends = dict(ends)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while wanted and loop.time() < deadline:
            batch = await asyncio.wait_for(probe.getmany(*wanted, timeout_ms=200), 10)
            for tp, records in batch.items():
                if records:
                    true_ends[tp] = max(ends[tp], records[-1].offset + 1)
                    wanted.pop(tp, None)
        return true_ends

    async def ping(self, *, timeout: float = 3.0) -> None:
        """Raise unless the broker answers a metadata request in time."""
        producer = await asyncio.wait_for(self.producer(), timeout + 10)
        try:
            ok = await asyncio.wait_for(producer.client.fetch_all_metadata(), timeout)
        except BaseException:
            await self._reset()
            raise
        if ok is None:
            raise ConnectionError("broker returned no metadata")

    async def stop(self) -> None:
        await self._reset()
        await self._reset_probe()


async def _send_round(
    producer: AIOKafkaProducer, items: list[_Item], *, timeout: float
) -> list[Delivered | Exception]:
    """Put every item in the producer's accumulator, then wait for all the acknowledgements, ``timeout`` in
    all; each item's result or error (``TimeoutError`` for what is still unanswered at the end)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    queued: list[asyncio.Future[Any] | Exception] = []
    try:
        async with asyncio.timeout_at(deadline):  # a full accumulator makes send() wait for a batch to drain
            for topic, key, value, headers, partition in items:
                try:
                    queued.append(await producer.send(topic, value, key=key.encode(), headers=headers,
                                                      partition=partition))
                except KafkaError as exc:  # this record only (too large, unknown partition, ...)
                    queued.append(exc)
    except TimeoutError:
        pass  # what could not be queued in time is reported below
    futures = [f for f in queued if isinstance(f, asyncio.Future)]
    if futures:
        await asyncio.wait(futures, timeout=max(deadline - loop.time(), 0))
    results: list[Delivered | Exception] = []
    for entry in queued:
        if isinstance(entry, Exception):
            results.append(entry)
        elif not entry.done():
            entry.add_done_callback(_consume_outcome)  # it may still fail later; nobody is left to ask
            results.append(TimeoutError(f"no acknowledgement within {timeout:.0f} s"))
        elif entry.cancelled():
            results.append(ConnectionError("the send was cancelled (the producer stopped)"))
        elif (error := entry.exception()) is not None:
            results.append(error if isinstance(error, Exception) else ConnectionError(repr(error)))
        else:
            metadata = entry.result()
            results.append(Delivered(metadata.partition, metadata.offset))
    unqueued = TimeoutError(f"could not be queued within {timeout:.0f} s")
    return results + [unqueued] * (len(items) - len(queued))


def _consume_outcome(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # marks it retrieved: no "exception was never retrieved" at garbage collection


async def _quiet_stop(client: AIOKafkaProducer | AIOKafkaConsumer) -> None:
    with contextlib.suppress(BaseException):  # stopping a client of a dead broker may fail any way
        await asyncio.wait_for(client.stop(), 5)


class EventConsumer:
    """At-least-once consumer whose effects are idempotent through the inbox.

    Each message is handled in one database transaction that also records its event id; the
    offset is committed after that transaction. A handler error is retried (``max_attempts``);
    then the message goes to the group's dead-letter topic with the error and the consumer moves
    on. While the database is unreachable nothing is counted as a failure: the consumer waits.
    """

    def __init__(
        self,
        *,
        bus: KafkaBus,
        spec: ConsumerSpec,
        sessionmaker: async_sessionmaker[AsyncSession],
        engine: AsyncEngine,
        inbox: Inbox,
        outbox: Outbox,
        service: str,
        deps: Any = None,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self.on_commit = on_commit  # e.g. wake the outbox relay: after a commit in which a handler staged events
        self.bus = bus
        self.settings = bus.settings
        self.spec = spec
        self.group = f"{self.settings.topic_prefix}{spec.group}"
        self.topics = [self.settings.topic(s) for s in spec.streams]
        self.sessionmaker = sessionmaker
        self.engine = engine
        self.inbox = inbox
        self.outbox = outbox
        self.deps = deps
        self.service = service
        self.running = False
        self.last_error: str | None = None
        self.draining = False  # set on shutdown: stop once the partitions' ends are reached
        self.caught_up = asyncio.Event()
        self._epoch: str | None = None  # the broker lifetime this consumer's positions belong to
        self._from_start = False  # after a lifetime change: seek to the start once partitions are assigned

    @property
    def dlq_topic(self) -> str:
        return self.settings.dlq_topic(self.group)

    async def run(self) -> None:
        """Consume until drained: connect (retrying with backoff), consume until the broker is lost, repeat."""
        while not self.caught_up.is_set() and not (self.draining and not self.running):
            consumer = await self._connect()
            if consumer is None:
                return  # asked to drain while the broker was away: nothing to catch up with
            try:
                await self._consume(consumer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("consumer lost the broker; reconnecting", group=self.group, error=repr(exc)[:300])
                self.running, self.last_error = False, repr(exc)[:300]
            finally:
                await _quiet_stop(consumer)

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        next_lag = 0.0
        while True:
            if self.bus.epoch is not None and self.bus.epoch != self._epoch:
                self._from_start = self._epoch is not None
                self._epoch = self.bus.epoch
            if self._from_start and consumer.assignment():
                # The broker lost its log: positions of the old lifetime would skip what was published since
                # the restart. Every partition of the new log is read from its start; the inbox drops repeats.
                await consumer.seek_to_beginning(*consumer.assignment())
                self._from_start = False
                log.warning("broker lifetime changed; reading the partitions from their start", group=self.group)
            batch = await consumer.getmany(timeout_ms=200 if self.draining else 500, max_records=200)
            for tp, messages in batch.items():
                await self.handle_many(messages)
                await consumer.commit({tp: messages[-1].offset + 1})
            if time.monotonic() >= next_lag or (self.draining and not batch):
                behind = await self._measure_lag(consumer)
                next_lag = time.monotonic() + 5
                if self.draining and not batch and behind == 0:
                    self.caught_up.set()  # everything up to the partitions' ends is handled and committed
                    log.info("consumer caught up", group=self.group)
                    return

    async def _measure_lag(self, consumer: AIOKafkaConsumer) -> int:
        """Messages behind the partitions' ends (exported per partition); the sum."""
        assigned = list(consumer.assignment())
        if not assigned:
            return 0
        ends = await asyncio.wait_for(consumer.end_offsets(assigned), 10)
        total = 0
        for tp in assigned:
            behind = max(ends.get(tp, 0) - await consumer.position(tp), 0)
            CONSUMER_LAG.labels(self.service, self.spec.group, tp.topic, str(tp.partition)).set(behind)
            total += behind
        return total

    async def _connect(self) -> AIOKafkaConsumer | None:
        """A started consumer of the group's topics; retries with backoff, one log line per failure kind; None
        when asked to drain meanwhile."""

        def _note(state: RetryCallState) -> None:
            error = repr(state.outcome.exception())[:300] if state.outcome else "?"
            if error != self.last_error:
                log.warning("consumer cannot reach the broker; retrying", group=self.group, error=error)
            self.running, self.last_error = False, error

        async for attempt in AsyncRetrying(
            wait=wait_exponential(multiplier=0.5, max=15), retry=retry_if_exception_type(Exception),
            before_sleep=_note,
        ):
            if self.draining:
                return None
            with attempt:
                consumer = AIOKafkaConsumer(
                    *self.topics,
                    bootstrap_servers=self.bus.bootstrap,
                    group_id=self.group,
                    enable_auto_commit=False,
                    auto_offset_reset="earliest",
                    metadata_max_age_ms=5000,
                    # A member that died (a killed replica, a broker restart) is evicted after the session
                    # timeout; the join waits for that, so start() gets longer than session + rebalance.
                    # Aborting it earlier left one more dead member each time and a join never finished.
                    session_timeout_ms=6000,
                    heartbeat_interval_ms=2000,
                )
                try:
                    await self.bus.ensure_topics([*self.topics, self.dlq_topic])
                    await asyncio.wait_for(consumer.start(), 60)
                except BaseException:
                    await _quiet_stop(consumer)
                    raise
        self.running, self.last_error = True, None
        log.info("consumer started", group=self.group, topics=self.topics)
        return consumer

    async def handle_many(self, messages: list[ConsumerRecord]) -> None:
        """Apply a partition's batch in one transaction: one inbox insert for all of it, then each new event's
        handler in order (the session's objects are flushed and let go between handlers, so each reads
        what the one before wrote). One transaction per message cost a commit (a disk flush) each. If
        anything fails, the transaction is rolled back and the batch is applied one message at a time,
        with the retries and dead-lettering of ``handle``: a batch never changes what happens to a
        message, only how many commits it takes."""
        ready = [(m, item) for m in messages if (item := await self._parse(m)) is not None]
        if len(ready) < 2:  # nothing to gain; unreadable messages were dead-lettered by _parse
            for message, item in ready:
                await self._apply(message, *item)
            return
        items = [item for _, item in ready]
        try:
            handled, staged = await self._apply_together(items)
        except Exception as exc:
            log.info("batch failed; applying its messages one at a time", group=self.group, size=len(ready),
                     error=type(exc).__name__)
            for message, item in ready:
                await self._apply(message, *item)
            return
        for (envelope, _, _), new in zip(items, handled, strict=True):
            EVENTS_HANDLED.labels(self.service, envelope.type, "handled" if new else "duplicate").inc()
        if staged and self.on_commit is not None:
            self.on_commit()

    async def _apply_together(self, items: list[tuple[Envelope, Route, Any]]) -> tuple[list[bool], bool]:
        """Handle ``items`` in one transaction; for each, whether it was new (False: a redelivery), and
        whether the handlers staged events."""
        async with self.sessionmaker() as session, session.begin():
            fresh = await self.inbox.first_times(
                session, consumer=self.group, events=[(envelope.id, envelope.type) for envelope, _, _ in items]
            )
            handled = []
            for envelope, route, event in items:
                new = envelope.id in fresh
                fresh.discard(envelope.id)  # the same event twice in a batch: applied once
                handled.append(new)
                if not new:
                    continue
                cid_token = context.correlation_id.set(envelope.correlation_id)
                cause_token = context.causation_id.set(str(envelope.id))
                try:
                    await route.handler(
                        event, Delivery(envelope=envelope, session=session, outbox=self.outbox, deps=self.deps)
                    )
                    await session.flush()
                    session.expunge_all()  # the next handler loads afresh what this one changed
                finally:
                    context.correlation_id.reset(cid_token)
                    context.causation_id.reset(cause_token)
        return handled, outbox_staged(session)

    async def handle(self, message: ConsumerRecord) -> None:
        """Apply one message (or dead-letter it); returns when it needs no more work."""
        item = await self._parse(message)
        if item is not None:
            await self._apply(message, *item)

    async def _parse(self, message: ConsumerRecord) -> tuple[Envelope, Route, Any] | None:
        """The message's envelope, route and event; None when it is not this group's to apply (skipped) or
        cannot be read (dead-lettered)."""
        replay_for = _header(message, REPLAY_FOR_HEADER)
        if replay_for is not None and replay_for != self.group:  # another group's dead letter, replayed
            EVENTS_SKIPPED.labels(self.service, self.spec.group, "replay-for-another-group").inc()
            return None
        try:
            envelope = Envelope.model_validate_json(message.value)
        except (ValidationError, ValueError) as exc:
            await self.dead_letter(message, f"unreadable envelope: {exc}", "unknown")
            return None
        route = self.spec.routes.get(envelope.type)
        if route is None:  # another group's event on a shared stream, or a type newer than this code
            EVENTS_SKIPPED.labels(self.service, self.spec.group, envelope.type).inc()
            return None
        try:
            event = route.model.model_validate(envelope.payload)  # parsed once, into the declared model
        except ValidationError as exc:
            await self.dead_letter(message, f"invalid {envelope.type} payload: {exc}", envelope.type)
            return None
        return envelope, route, event

    async def _apply(self, message: ConsumerRecord, envelope: Envelope, route: Route, event: Any) -> None:
        """Apply one readable message in its own transaction, retrying; dead-letter it when it keeps failing."""
        # Hand-written rather than tenacity: attempts count only while the database answers (an outage
        # is not the message's fault and must not dead-letter it), and the last failure dead-letters
        # instead of raising; a retry policy expressing both is longer than this loop.
        attempt = 0
        while True:
            cid_token = context.correlation_id.set(envelope.correlation_id)
            cause_token = context.causation_id.set(str(envelope.id))
            try:
                async with self.sessionmaker() as session, session.begin():
                    if await self.inbox.first_time(
                        session, consumer=self.group, event_id=envelope.id, type=envelope.type
                    ):
                        await route.handler(
                            event, Delivery(envelope=envelope, session=session, outbox=self.outbox, deps=self.deps)
                        )
                        result = "handled"
                    else:
                        result = "duplicate"
                EVENTS_HANDLED.labels(self.service, envelope.type, result).inc()
                if outbox_staged(session) and self.on_commit is not None:
                    self.on_commit()
                return
            except Exception as exc:
                if not await self._database_up():
                    log.warning("database unreachable while handling; waiting", type=envelope.type)
                    await asyncio.sleep(2)
                    continue  # an outage is not the message's fault
                attempt += 1
                if attempt >= self.settings.consumer_max_attempts:
                    log.error("handler failed; dead-lettering", type=envelope.type, event_id=str(envelope.id),
                              error=repr(exc)[:500])
                    await self.dead_letter(message, repr(exc), envelope.type)
                    return
                await asyncio.sleep(min(0.1 * 2**attempt, 3))
            finally:
                context.correlation_id.reset(cid_token)
                context.causation_id.reset(cause_token)

    async def _database_up(self) -> bool:
        try:
            await db.ping(self.engine)
            return True
        except Exception:
            return False

    async def dead_letter(self, message: ConsumerRecord, error: str, type_: str) -> None:
        """Send the original bytes to the DLQ with where they came from and why they failed."""
        headers = [
            ("error", error[:4000].encode()),
            ("original_topic", message.topic.encode()),
            ("original_partition", str(message.partition).encode()),
            ("original_offset", str(message.offset).encode()),
            ("consumer_group", self.group.encode()),
            ("failed_at", datetime.now(UTC).isoformat().encode()),
        ]
        key = message.key.decode() if message.key else ""
        async for attempt in AsyncRetrying(  # keep the message (and the partition) until the DLQ has it
            wait=wait_fixed(2), retry=retry_if_exception_type(Exception),
            before_sleep=lambda s: log.warning("cannot reach the DLQ; retrying",
                                               error=repr(s.outcome.exception() if s.outcome else None)[:200]),
        ):
            with attempt:
                await self.bus.send(self.dlq_topic, key, message.value, headers=headers)
        DEAD_LETTERED.labels(self.service, self.spec.group, type_).inc()


__all__ = ["REPLAY_FOR_HEADER", "EventConsumer", "KafkaBus"]
