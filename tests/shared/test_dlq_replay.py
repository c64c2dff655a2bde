"""Targeted DLQ replay against the real database and broker: one group's dead letters reach that group only.

Three consumer groups read one stream, named like the real ones (approval, forms, issuance) so the CLI
takes them, under a topic prefix of their own. A rating is poison for approval (fixed before the replay)
and for issuance (left broken): replaying approval's DLQ must be applied by approval once, and neither
re-applied by forms nor dead-lettered again by issuance.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import pytest_asyncio
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import Column, Integer, MetaData, String, Table, select, text
from typer.testing import CliRunner

from shared import db
from shared.bus import EventConsumer, KafkaBus
from shared.cli import app
from shared.dlq import UnknownGroupError, dlq_status, replay_dead_letters, safe_error
from shared.events import Envelope
from shared.events.ticketing import TicketRated
from shared.handlers import ConsumerSpec, Delivery
from shared.inbox import Inbox, inbox_table
from shared.infra import wait_for
from shared.observability import EVENTS_SKIPPED
from shared.outbox import Outbox, outbox_table
from shared.registry import SERVICES
from shared.settings import ServiceSettings

GROUPS = ("approval", "forms", "issuance")
ID_NUMBER = "110101199003071234"  # in the handler's error: a dead letter's error may carry personal data


def rated(ticket_id: str, score: int = 5) -> TicketRated:
    return TicketRated(ticket_id=ticket_id, hall="H1", number="A001", matter_code="M1", score=score,
                       at=datetime.now(UTC))


class Groups:
    """Three consumer groups on the ticketing stream, each counting what it applied in its own rows."""

    def __init__(self, infra) -> None:
        self.settings = ServiceSettings(
            service_name="dlqtest",
            database_url=infra.database_url,
            kafka_bootstrap=infra.kafka_bootstrap,
            topic_prefix=f"{infra.topic_prefix}dlq{uuid.uuid4().hex[:6]}.",
            consumer_max_attempts=2,
        )
        self.prefix = self.settings.topic_prefix
        self.engine = db.make_engine(self.settings.database_url)
        self.sessionmaker = db.make_sessionmaker(self.engine)
        self.bus = KafkaBus(self.settings)
        self.schema = f"dlq_{uuid.uuid4().hex[:8]}"
        self.metadata = MetaData(schema=self.schema)
        self.applied = Table("applied", self.metadata, Column("grp", String, primary_key=True),
                             Column("ticket_id", String, primary_key=True), Column("times", Integer, nullable=False))
        self.inbox = Inbox(inbox_table(self.metadata))
        self.outbox = Outbox(outbox_table(self.metadata), producer="dlqtest", topic_prefix=self.prefix)
        self.failing: dict[str, set[str]] = {g: set() for g in GROUPS}  # ticket ids each group fails on
        self.consumers = {
            g: EventConsumer(bus=self.bus, spec=ConsumerSpec(group=g, handlers={TicketRated: self._handler(g)}),
                             sessionmaker=self.sessionmaker, engine=self.engine, inbox=self.inbox,
                             outbox=self.outbox, service="dlqtest")
            for g in GROUPS
        }
        self.tasks: list[asyncio.Task] = []

    def _handler(self, group: str):
        async def on_rated(event: TicketRated, ctx: Delivery[None]) -> None:
            if event.ticket_id in self.failing[group]:
                raise RuntimeError(f"{group} refuses {event.ticket_id} of applicant {ID_NUMBER}")
            t = self.applied
            where = (t.c.grp == group) & (t.c.ticket_id == event.ticket_id)
            times = (await ctx.session.execute(select(t.c.times).where(where))).scalar()
            if times is None:
                await ctx.session.execute(t.insert().values(grp=group, ticket_id=event.ticket_id, times=1))
            else:
                await ctx.session.execute(t.update().where(where).values(times=times + 1))

        return on_rated

    async def __aenter__(self) -> "Groups":
        async with self.engine.begin() as conn:
            await conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {self.schema}"))
            await conn.run_sync(self.metadata.create_all)
        self.tasks = [asyncio.create_task(c.run()) for c in self.consumers.values()]
        await wait_for(lambda: all(c.running for c in self.consumers.values()), timeout=60, message="consumers")
        return self

    async def __aexit__(self, *exc) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.bus.stop()
        async with self.engine.begin() as conn:
            await conn.execute(text(f"DROP SCHEMA {self.schema} CASCADE"))
        await self.engine.dispose()

    async def publish(self, event: TicketRated, *, key: str | None = None) -> Envelope:
        envelope = Envelope.wrap(event, producer="dlqtest", correlation_id=event.ticket_id, key=key)
        await self.bus.publish(envelope, stream="ticketing")
        return envelope

    async def times(self, group: str, ticket_id: str) -> int:
        t = self.applied
        async with self.sessionmaker() as session:
            value = (await session.execute(
                select(t.c.times).where((t.c.grp == group) & (t.c.ticket_id == ticket_id)))).scalar()
        return value or 0

    async def dead_letters(self, group: str) -> int:
        return (await dlq_status(self.bus, group=group, known=GROUPS)).total

    def env(self) -> dict[str, str]:
        """What the CLI reads for each service's settings: this run's broker and prefix."""
        env = {"COLUMNS": "250"}  # typer's error box would wrap the message at 80
        for entry in SERVICES:
            env |= {f"{entry.env_prefix}KAFKA_BOOTSTRAP": self.settings.kafka_bootstrap,
                    f"{entry.env_prefix}TOPIC_PREFIX": self.prefix}
        return env


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def groups(infra) -> AsyncIterator[Groups]:
    async with Groups(infra) as g:
        yield g


def cli(*args: str, env: dict[str, str] | None = None):
    """The operator command as run from a shell; called in a thread, since it runs its own event loop."""
    return asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)


async def test_replay_reaches_only_the_named_group(groups: Groups) -> None:
    g = groups
    poison = f"T-poison-{uuid.uuid4().hex[:6]}"
    g.failing["approval"] = {poison}
    g.failing["issuance"] = {poison}  # issuance has its own, unfixed bug with the same message
    await g.publish(rated(poison))
    await wait_for(lambda: g.times("forms", poison), timeout=60, message="forms applies the rating")
    for group in ("approval", "issuance"):
        await wait_for(lambda group=group: g.dead_letters(group), timeout=60, message=f"{group} dead-letters it")
    assert [await g.dead_letters(group) for group in GROUPS] == [1, 0, 1]

    # The operator looks, fixes approval's handler and replays approval's dead letters.
    shown = await cli("dlq", "show", "approval", env=g.env())
    assert shown.exit_code == 0, shown.output
    assert f"{g.prefix}dlq.approval: 1 dead letter(s), 1 not replayed yet" in shown.output
    assert "ticket.rated" in shown.output and f"approval refuses {poison}" in shown.output
    assert ID_NUMBER not in shown.output and "110101********1234" in shown.output
    assert '"payload"' not in shown.output and '"hall"' not in shown.output

    g.failing["approval"] = set()
    skipped = {group: EVENTS_SKIPPED.labels("dlqtest", group, "replay-for-another-group") for group in GROUPS}
    skipped_before = {group: counter._value.get() for group, counter in skipped.items()}
    replay = await cli("dlq", "replay", "approval", env=g.env())
    assert replay.exit_code == 0, replay.output
    assert replay.output.strip() == (
        f"replayed 1 message(s) of {g.prefix}dlq.approval to {g.prefix}ticketing (1); "
        f"only group {g.prefix}approval applies them"
    )
    await wait_for(lambda: g.times("approval", poison), timeout=60, message="approval applies the replay")

    # A later message with the same key (same partition, so read after the replayed one) shows every
    # group has got past the replayed message.
    marker = f"T-marker-{uuid.uuid4().hex[:6]}"
    await g.publish(rated(marker), key=poison)
    for group in GROUPS:
        await wait_for(lambda group=group: g.times(group, marker), timeout=60, message=f"{group} reads on")
    assert [await g.times(group, poison) for group in GROUPS] == [1, 1, 0]  # approval once, forms not again
    assert [await g.dead_letters(group) for group in GROUPS] == [1, 0, 1]  # issuance did not dead-letter again
    assert skipped["forms"]._value.get() == skipped_before["forms"] + 1
    assert skipped["issuance"]._value.get() == skipped_before["issuance"] + 1
    assert skipped["approval"]._value.get() == skipped_before["approval"]

    # Progress is committed: a second replay sends nothing.
    again = await replay_dead_letters(g.bus, group="approval", known=GROUPS)
    assert (again.total, again.sent) == (0, {})
    assert again.summary().endswith(": nothing to replay (none dead-lettered since the last replay)")
    status = await dlq_status(g.bus, group="approval", known=GROUPS)
    assert (status.total, status.pending) == (1, 0)
    listed = await cli("dlq", "list", env=g.env())
    assert listed.exit_code == 0, listed.output
    rows = {line.split()[0]: line.split()[1:] for line in listed.output.splitlines()[1:]}
    assert rows["approval"] == ["approval", f"{g.prefix}dlq.approval", "1", "0"]
    assert rows["forms"] == ["forms", f"{g.prefix}dlq.forms", "0", "0"]
    assert rows["issuance"] == ["issuance", f"{g.prefix}dlq.issuance", "1", "1"]
    assert rows["ticketing"] == ["ticketing", f"{g.prefix}dlq.ticketing", "-", "-"]  # never started here


async def test_an_unknown_group_is_refused_and_creates_no_topic(groups: Groups) -> None:
    g = groups
    with pytest.raises(UnknownGroupError, match="unknown consumer group 'aproval'; known: approval, forms, issuance"):
        await replay_dead_letters(g.bus, group="aproval", known=GROUPS)
    with pytest.raises(UnknownGroupError, match="known: acceptance, approval, forms, forms-access-log, identity, issuance"):
        await replay_dead_letters(g.bus, group="no-such-group")  # the registry's groups by default
    with pytest.raises(UnknownGroupError):
        await dlq_status(g.bus, group="no-such-group")

    result = await cli("dlq", "replay", "no-such-group", env=g.env())
    assert result.exit_code == 2
    assert "unknown consumer group 'no-such-group'" in result.output
    assert "issuance-notifier" in result.output  # the known groups are named

    admin = AIOKafkaAdminClient(bootstrap_servers=g.settings.kafka_bootstrap)
    await admin.start()
    try:
        topics = set(await admin.list_topics())
    finally:
        await admin.close()
    assert not {f"{g.prefix}dlq.aproval", f"{g.prefix}dlq.no-such-group", "dlq.no-such-group"} & topics


def test_printed_errors_carry_no_personal_data() -> None:
    error = (
        "invalid application.accepted payload: 1 validation error for ApplicationAccepted\n"
        "applicant.name\n  String should have at most 20 characters [type=string_too_long, "
        "input_value='张三丰 13812345678', input_type=str]"
    )
    shown = safe_error(error)
    assert "张三丰" not in shown and "13812345678" not in shown and "input_value=<hidden>" in shown
    assert "\n" not in shown
    assert safe_error(f"refusing {ID_NUMBER}") == "refusing 110101********1234"
    assert len(safe_error("x" * 1000)) == 300
