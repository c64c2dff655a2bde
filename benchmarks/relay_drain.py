"""How fast the outbox relay drains a backlog: one event per broker round trip, against pipelined waves.

Starts its own embedded PostgreSQL and broker, fills an outbox with ``--events`` rows (real envelopes, a
ticket event each) and times ``OutboxRelay.publish_batch`` until nothing is left, for each path in the same
run, each on an outbox and topics of its own:

- one by one: the relay's fallback for a sender without ``send_many`` (``send`` per row, as before);
- pipelined: ``KafkaBus.send_many`` per wave, events spread over ``--keys`` aggregates at random;
- pipelined, pairs: every aggregate writes two events in a row (say, a decision and its notification),
  the worst common case for waves: a wave ends at each repeated key, so waves are short.

    .venv/bin/python -m benchmarks.relay_drain [--events 10000] [--keys 500]

Figures only; nothing is asserted.
"""

import argparse
import asyncio
import random
import time
import uuid
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import MetaData, Table, text

from benchmarks.stack import embedded_infra
from shared import db
from shared.bus import KafkaBus
from shared.events import Envelope
from shared.events.ticketing import TicketRated
from shared.observability import configure_logging
from shared.outbox import Delivered, OutboxRelay, Sender, outbox_table, waves
from shared.settings import ServiceSettings


class OneAtATime:
    """The bus without ``send_many``: the relay falls back to one ``send`` per row, the path before pipelining."""

    def __init__(self, bus: KafkaBus) -> None:
        self.bus = bus

    async def send(
        self, topic: str, key: str, value: bytes, headers: list[tuple[str, bytes]] | None = None
    ) -> Delivered:
        return await self.bus.send(topic, key, value, headers)

    async def broker_epoch(self) -> str:
        return await self.bus.broker_epoch()

    async def end_offsets(self, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        return await self.bus.end_offsets(partitions)


class _Key:
    """Just a key, for ``waves`` (the mean wave length printed)."""

    def __init__(self, key: str) -> None:
        self.key = key


def spread(events: int, keys: int) -> list[str]:
    rng = random.Random(1)
    return [f"T-{rng.randrange(keys):05d}" for _ in range(events)]


def pairs(events: int, keys: int) -> list[str]:
    return [f"T-{(i // 2) % keys:05d}" for i in range(events)]


async def drain(
    *, database_url: str, bootstrap: str, keys: list[str], one_by_one: bool, batch_size: int
) -> tuple[float, float]:
    """Fill a fresh outbox with one event per entry of ``keys``, drain it; (seconds, mean wave length)."""
    settings = ServiceSettings(service_name="relay-bench", database_url=database_url, kafka_bootstrap=bootstrap,
                               topic_prefix=f"bench{uuid.uuid4().hex[:6]}.")
    engine = db.make_engine(database_url)
    schema = f"relay_{uuid.uuid4().hex[:8]}"
    outbox: Table = outbox_table(MetaData(schema=schema))
    bus = KafkaBus(settings)
    sender = cast(Sender, OneAtATime(bus)) if one_by_one else bus  # no send_many on purpose: the fallback
    relay = OutboxRelay(table=outbox, sessionmaker=db.make_sessionmaker(engine), sender=sender,
                        service="relay-bench", batch_size=batch_size)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"CREATE SCHEMA {schema}"))
            await conn.run_sync(outbox.metadata.create_all)
            rows = []
            for n, key in enumerate(keys):
                event = TicketRated(ticket_id=key, hall="H1", number=f"A{n:05d}", matter_code="SCJG-003", score=5,
                                    at=datetime.now(UTC))
                envelope = Envelope.wrap(event, producer="relay-bench", correlation_id=key)
                rows.append({"event_id": envelope.id, "topic": settings.topic("ticketing"), "key": key,
                             "type": envelope.type, "envelope": envelope.model_dump(mode="json")})
            await conn.execute(outbox.insert(), rows)
        await relay.check_broker()  # producer started, topics created, lifetime read: not part of the timing
        started = time.perf_counter()
        while await relay.publish_batch():
            pass
        elapsed = time.perf_counter() - started
    finally:
        await bus.stop()
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        await engine.dispose()
    batches = [keys[i:i + batch_size] for i in range(0, len(keys), batch_size)]
    split = [w for batch in batches for w in waves([_Key(k) for k in batch])]
    return elapsed, len(keys) / len(split)


async def _run(events: int, keys: int, batch_size: int) -> None:
    configure_logging(service="relay-bench", level="WARNING", json=False)  # figures only, no topic notices
    async with embedded_infra("relay") as infra:
        bootstrap = infra.bootstrap
        print(f"{events} events, relay batch {batch_size}, embedded PostgreSQL and broker", flush=True)
        for label, pattern, one_by_one in (
            ("one by one (send per row)", spread, True),
            (f"pipelined, {keys} keys at random", spread, False),
            ("pipelined, pairs of one key", pairs, False),
        ):
            seconds, wave = await drain(database_url=infra.database_url, bootstrap=bootstrap,
                                        keys=pattern(events, keys), one_by_one=one_by_one, batch_size=batch_size)
            waves_note = "" if one_by_one else f"  (mean wave {wave:.1f} events)"
            print(f"  {label:36s} {events / seconds:8.0f} events/s  {seconds:6.2f} s{waves_note}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--keys", type=int, default=500, help="aggregates the events are spread over")
    parser.add_argument("--batch-size", type=int, default=200, help="rows per relay batch (the service default)")
    args, _ = parser.parse_known_args()
    asyncio.run(_run(args.events, args.keys, args.batch_size))


if __name__ == "__main__":
    main()
