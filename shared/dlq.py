"""Dead-letter topics: targeted replay, and what an operator may read of them.

A consumer group dead-letters a message to ``dlq.<group>`` (``EventConsumer.dead_letter``). The
original topic is shared with other groups, so a replay marks each message with the
``onewindow-replay-for`` header: every other group skips it, only the named group applies it.

Only group names the service registry declares are accepted; a typo is refused before anything
reaches the broker, so no stray ``dlq.<typo>`` topic is created.
"""

import asyncio
import json
import re
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from shared.bus import REPLAY_FOR_HEADER, KafkaBus
from shared.privacy import scrub
from shared.registry import SERVICES


class UnknownGroupError(ValueError):
    """A consumer group no service declares."""


def known_groups() -> dict[str, str]:
    """Every consumer group declared in the registry (``spec.group``, unprefixed) -> its service."""
    return {spec.group: entry.name for entry in SERVICES for spec in entry.consumers()}


def check_group(group: str, *, known: Collection[str] | None = None) -> str:
    """``group`` if it is known (default: the registry's groups), else a clear ``UnknownGroupError``."""
    names = known_groups() if known is None else known
    if group not in names:
        raise UnknownGroupError(f"unknown consumer group {group!r}; known: {', '.join(sorted(names))}")
    return group


def _names(bus: KafkaBus, group: str) -> tuple[str, str]:
    """(unprefixed, full) name of ``group`` given either way."""
    prefix = bus.settings.topic_prefix
    name = group.removeprefix(prefix)
    return name, f"{prefix}{name}"


def _replay_group_id(full_group: str) -> str:
    # The committed position of past replays lives in this group (the name earlier replays used).
    return f"{full_group}.dlq-replay"


@dataclass(frozen=True)
class ReplayResult:
    """What one replay sent, per destination topic."""

    group: str  # full name (with the topic prefix): the one group that applies the messages
    dlq_topic: str
    sent: dict[str, int] = field(default_factory=dict)  # destination topic -> messages
    without_origin: int = 0  # dead letters with no original_topic header: not replayable, passed over

    @property
    def total(self) -> int:
        return sum(self.sent.values())

    def summary(self) -> str:
        """One line for the operator: how many, from where, to where, for whom."""
        text = f"replayed {self.total} message(s) of {self.dlq_topic}"
        if self.sent:
            where = ", ".join(f"{topic} ({n})" for topic, n in sorted(self.sent.items()))
            text += f" to {where}; only group {self.group} applies them"
        else:
            text += ": nothing to replay (none dead-lettered since the last replay)"
        if self.without_origin:
            text += f"; {self.without_origin} without an original topic passed over"
        return text


async def _assigned(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition] | None:
    """Assign every partition of ``topic`` by hand (no group join: seconds on some brokers, and a
    rebalance could hand a partition over mid-replay); None if the topic does not exist."""
    await consumer.topics()  # fresh metadata; never creates a topic
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        return None
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(tps)
    return tps


async def replay_dead_letters(
    bus: KafkaBus, *, group: str, timeout: float = 60.0, known: Collection[str] | None = None
) -> ReplayResult:
    """Re-publish ``group``'s dead letters to their original topics, for ``group`` only.

    ``group`` may be given with or without the topic prefix; it must be one of ``known`` (default:
    the registry's groups). Each message keeps its key (so its partition and order) and gains the
    headers ``onewindow-replay-for`` (the full group name; other groups skip it) and ``replayed_from``.
    Only messages present when the replay starts are taken (one that fails again lands after that
    mark and waits for the next replay); progress is committed per message, so a second replay does
    not repeat the first. Two replays run at the same moment may both send a message: the group's
    inbox applies it once.
    """
    name, full = _names(bus, group)
    check_group(name, known=known)  # before any connection: an unknown name creates nothing
    dlq = bus.settings.dlq_topic(full)
    sent: Counter[str] = Counter()
    without_origin = 0
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bus.bootstrap,
        group_id=_replay_group_id(full),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        await asyncio.wait_for(consumer.start(), 15)
        partitions = await _assigned(consumer, dlq)
        if partitions is None:  # the group never started, so it never dead-lettered anything
            return ReplayResult(group=full, dlq_topic=dlq)
        end = await consumer.end_offsets(partitions)
        for tp in partitions:
            committed = await consumer.committed(tp)
            if committed is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, committed)
        while pending := [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
            if loop.time() > deadline:
                raise TimeoutError(f"DLQ replay of {dlq} did not finish in {timeout:g}s")
            batch = await consumer.getmany(*pending, timeout_ms=500)
            for tp, messages in batch.items():
                for message in messages:
                    if message.offset >= end[tp]:  # arrived after the start: the next replay's
                        break
                    origin = _headers(message).get("original_topic", "")
                    if origin:
                        headers = [(REPLAY_FOR_HEADER, full.encode()), ("replayed_from", dlq.encode())]
                        key = message.key.decode() if message.key else ""
                        await bus.send(origin, key, message.value, headers=headers)
                        sent[origin] += 1
                    else:
                        without_origin += 1
                    await consumer.commit({tp: message.offset + 1})
    finally:
        await consumer.stop()
    return ReplayResult(group=full, dlq_topic=dlq, sent=dict(sent), without_origin=without_origin)


# What an operator may see of a dead letter: never the payload (envelopes hold ID numbers, names).
_INPUT_VALUE = re.compile(r"input_value=.*?(?=, input_type=|\]$|$)", re.MULTILINE)


def _headers(message: ConsumerRecord) -> dict[str, str]:
    return {k: v.decode(errors="replace") for k, v in (message.headers or [])}


def safe_error(error: str, *, limit: int = 300) -> str:
    """A dead letter's error without personal data: pydantic's echoed inputs hidden, IDs and
    mobile numbers masked, on one line, shortened."""
    text = _INPUT_VALUE.sub("input_value=<hidden>", error)
    text = " ".join(scrub(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class DeadLetter:
    """One dead letter as an operator sees it (no payload)."""

    offset: str  # partition:offset in the DLQ topic
    type: str
    event_id: str
    original: str  # topic/partition@offset it failed on
    failed_at: str
    error: str

    @classmethod
    def from_message(cls, message: ConsumerRecord) -> "DeadLetter":
        headers = _headers(message)
        try:
            envelope = json.loads(message.value)
            type_, event_id = str(envelope.get("type", "?")), str(envelope.get("id", "?"))
        except (ValueError, AttributeError):  # the unreadable envelope that got it dead-lettered
            type_, event_id = "(unreadable)", "?"
        return cls(
            offset=f"{message.partition}:{message.offset}",
            type=type_,
            event_id=event_id,
            original=(f"{headers.get('original_topic', '?')}/{headers.get('original_partition', '?')}"
                      f"@{headers.get('original_offset', '?')}"),
            failed_at=headers.get("failed_at", "?"),
            error=safe_error(headers.get("error", "")),
        )


@dataclass(frozen=True)
class DlqStatus:
    """How many dead letters a group has, and how many of them no replay has taken yet."""

    group: str
    dlq_topic: str
    exists: bool
    total: int = 0  # still on the topic (end minus beginning: retention may have removed older ones)
    pending: int = 0  # after the committed replay position
    last: tuple[DeadLetter, ...] = ()


async def dlq_status(bus: KafkaBus, *, group: str, last: int = 0, known: Collection[str] | None = None) -> DlqStatus:
    """Counts of ``group``'s DLQ and its ``last`` dead letters (newest last); reads, never creates."""
    name, full = _names(bus, group)
    check_group(name, known=known)
    dlq = bus.settings.dlq_topic(full)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bus.bootstrap,
        group_id=_replay_group_id(full),  # only to read its committed position; this never commits
        enable_auto_commit=False,
    )
    try:
        await asyncio.wait_for(consumer.start(), 15)
        partitions = await _assigned(consumer, dlq)
        if partitions is None:
            return DlqStatus(group=full, dlq_topic=dlq, exists=False)
        begin = await consumer.beginning_offsets(partitions)
        end = await consumer.end_offsets(partitions)
        total = pending = 0
        for tp in partitions:
            replayed = await consumer.committed(tp)
            total += end[tp] - begin[tp]
            pending += end[tp] - max(begin[tp], replayed or 0)
        letters = await _last(consumer, partitions, begin, end, last) if last else []
    finally:
        await consumer.stop()
    return DlqStatus(group=full, dlq_topic=dlq, exists=True, total=total, pending=pending, last=tuple(letters))


async def _last(
    consumer: AIOKafkaConsumer,
    partitions: Iterable[TopicPartition],
    begin: dict[TopicPartition, int],
    end: dict[TopicPartition, int],
    n: int,
) -> list[DeadLetter]:
    """The newest ``n`` dead letters over all partitions, ordered by when they failed."""
    found: list[ConsumerRecord] = []
    wanted: dict[TopicPartition, int] = {}
    for tp in partitions:
        if end[tp] > begin[tp]:
            consumer.seek(tp, max(begin[tp], end[tp] - n))
            wanted[tp] = end[tp]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while wanted and loop.time() < deadline:
        for tp, messages in (await consumer.getmany(*wanted, timeout_ms=500)).items():
            found.extend(m for m in messages if m.offset < wanted[tp])
            if messages and messages[-1].offset + 1 >= wanted[tp]:
                wanted.pop(tp)
    found.sort(key=lambda m: (_headers(m).get("failed_at", ""), m.timestamp))
    return [DeadLetter.from_message(m) for m in found[-n:]]


def dlq_record(message: ConsumerRecord) -> dict[str, str]:
    """A DLQ message as a dict with its payload (tests and debugging only: never print it for operators)."""
    return {"key": (message.key or b"").decode(), "value": message.value.decode(errors="replace"),
            **_headers(message)}


__all__ = [
    "DeadLetter",
    "DlqStatus",
    "ReplayResult",
    "UnknownGroupError",
    "check_group",
    "dlq_record",
    "dlq_status",
    "known_groups",
    "replay_dead_letters",
    "safe_error",
]
