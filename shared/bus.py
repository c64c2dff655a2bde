"""Kafka through aiokafka: a shared producer, topic creation, and idempotent consumers with a DLQ."""

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential, wait_fixed

from shared import context, db
from shared.events import STREAMS, Envelope
from shared.handlers import ConsumerSpec, Delivery
from shared.inbox import Inbox
from shared.observability import DEAD_LETTERED, EVENTS_HANDLED, EVENTS_SKIPPED, get_logger
from shared.outbox import Outbox
from shared.settings import ServiceSettings

log = get_logger(__name__)


class KafkaBus:
    """One producer per process, created lazily and recreated after a failure."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    @property
    def bootstrap(self) -> str:
        return self.settings.kafka_bootstrap

    def all_topics(self, extra: tuple[str, ...] = ()) -> list[str]:
        """Every stream topic (prefixed) plus ``extra``."""
        return [self.settings.topic(s) for s in STREAMS] + list(extra)

    async def ensure_topics(self, names: list[str]) -> None:
        """Create missing topics with the configured partitions; existing ones are left alone."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=5000)
        await asyncio.wait_for(admin.start(), 10)
        try:
            existing = set(await admin.list_topics())
            missing = [n for n in names if n not in existing]
            if missing:
                await admin.create_topics(
                    [
                        NewTopic(n, self.settings.topic_partitions, self.settings.topic_replication)
                        for n in missing
                    ]
                )
                log.info("topics created", topics=missing)
        finally:
            await admin.close()

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
                    await self.ensure_topics(self.all_topics())
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

    async def send(self, topic: str, key: str, value: bytes, headers: list[tuple[str, bytes]] | None = None) -> None:
        """Send and wait for the broker's acknowledgement; on failure the producer is rebuilt."""
        producer = await self.producer()
        try:
            await asyncio.wait_for(
                producer.send_and_wait(topic, value, key=key.encode(), headers=headers), 15
            )
        except BaseException:
            await self._reset()
            raise

    async def publish(self, envelope: Envelope, *, stream: str) -> None:
        """Send an envelope as is to ``stream``'s topic (tools and tests; services use the outbox)."""
        await self.send(self.settings.topic(stream), envelope.key, envelope.model_dump_json().encode())

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
        self.on_commit = on_commit  # e.g. wake the outbox relay: a handler may have written events
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

    @property
    def dlq_topic(self) -> str:
        return self.settings.dlq_topic(self.group)

    async def run(self) -> None:
        """Consume forever: connect (retrying with backoff), consume until the broker is lost, repeat."""
        while True:
            consumer = await self._connect()
            try:
                while True:
                    batch = await consumer.getmany(timeout_ms=500, max_records=200)
                    for tp, messages in batch.items():
                        for message in messages:
                            await self.handle(message)
                        await consumer.commit({tp: messages[-1].offset + 1})
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("consumer lost the broker; reconnecting", group=self.group, error=repr(exc)[:300])
                self.running, self.last_error = False, repr(exc)[:300]
            finally:
                await _quiet_stop(consumer)

    async def _connect(self) -> AIOKafkaConsumer:
        """A started consumer of the group's topics; retries with backoff, one log line per failure kind."""

        def _note(state: RetryCallState) -> None:
            error = repr(state.outcome.exception())[:300] if state.outcome else "?"
            if error != self.last_error:
                log.warning("consumer cannot reach the broker; retrying", group=self.group, error=error)
            self.running, self.last_error = False, error

        async for attempt in AsyncRetrying(
            wait=wait_exponential(multiplier=0.5, max=15), retry=retry_if_exception_type(Exception),
            before_sleep=_note,
        ):
            with attempt:
                consumer = AIOKafkaConsumer(
                    *self.topics,
                    bootstrap_servers=self.bus.bootstrap,
                    group_id=self.group,
                    enable_auto_commit=False,
                    auto_offset_reset="earliest",
                    metadata_max_age_ms=5000,
                )
                try:
                    await self.bus.ensure_topics([*self.topics, self.dlq_topic])
                    await asyncio.wait_for(consumer.start(), 15)
                except BaseException:
                    await _quiet_stop(consumer)
                    raise
        self.running, self.last_error = True, None
        log.info("consumer started", group=self.group, topics=self.topics)
        return consumer

    async def handle(self, message: ConsumerRecord) -> None:
        """Apply one message (or dead-letter it); returns when it needs no more work."""
        try:
            envelope = Envelope.model_validate_json(message.value)
        except (ValidationError, ValueError) as exc:
            await self.dead_letter(message, f"unreadable envelope: {exc}", "unknown")
            return
        route = self.spec.routes.get(envelope.type)
        if route is None:  # another group's event on a shared stream, or a type newer than this code
            EVENTS_SKIPPED.labels(self.service, self.spec.group, envelope.type).inc()
            return
        try:
            event = route.model.model_validate(envelope.payload)  # parsed once, into the declared model
        except ValidationError as exc:
            await self.dead_letter(message, f"invalid {envelope.type} payload: {exc}", envelope.type)
            return
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
                if result == "handled" and self.on_commit is not None:
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
        DEAD_LETTERED.labels(self.service, type_).inc()


async def replay_dead_letters(bus: KafkaBus, *, group: str, timeout: float = 60.0) -> int:
    """Re-publish ``group``'s dead letters to their original topics; returns how many.

    Only messages present when the replay starts are taken (a message that fails again lands
    after that mark and waits for the next replay); progress is committed, so a second replay
    does not repeat the first.
    """
    dlq = bus.settings.dlq_topic(group)
    await bus.ensure_topics([dlq])
    consumer = AIOKafkaConsumer(
        dlq,
        bootstrap_servers=bus.bootstrap,
        group_id=f"{group}.dlq-replay",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    replayed = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while not consumer.assignment():
            if loop.time() > deadline:
                raise TimeoutError("no DLQ partitions assigned")
            await consumer.getmany(timeout_ms=200)  # drives the group join
        partitions = consumer.assignment()
        end = await consumer.end_offsets(list(partitions))
        for tp in partitions:
            # getmany above may have fetched nothing yet: restart from the committed position
            committed = await consumer.committed(tp)
            if committed is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, committed)
        async def unfinished() -> bool:
            return any([await consumer.position(tp) < end[tp] for tp in partitions])

        while await unfinished():
            if loop.time() > deadline:
                raise TimeoutError("DLQ replay did not finish in time")
            batch = await consumer.getmany(timeout_ms=500)
            for tp, messages in batch.items():
                for message in messages:
                    if message.offset >= end[tp]:
                        break
                    headers = dict(message.headers or [])
                    topic = headers.get("original_topic", b"").decode()
                    if topic:
                        key = message.key.decode() if message.key else ""
                        await bus.send(topic, key, message.value, headers=[("replayed_from", dlq.encode())])
                        replayed += 1
                    await consumer.commit({tp: message.offset + 1})
    finally:
        await consumer.stop()
    return replayed


def dlq_record(message: ConsumerRecord) -> dict[str, str]:
    """A DLQ message as a readable dict (for the operator command and tests)."""
    headers = {k: v.decode(errors="replace") for k, v in (message.headers or [])}
    return {"key": (message.key or b"").decode(), "value": message.value.decode(errors="replace"), **headers}


__all__ = ["EventConsumer", "KafkaBus", "dlq_record", "replay_dead_letters"]
