"""Approval test helpers: application.accepted / supplemented sent through the real broker, task lookups."""

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer
from sqlalchemy import select

from services.approval.models import Task, backbone
from shared.bus import KafkaBus
from shared.events.applications import (
    AcceptedItem,
    Applicant,
    ApplicationAccepted,
    ApplicationSupplemented,
    Commitment,
)
from shared.events.envelope import Envelope, Event
from shared.infra import wait_for
from shared.settings import ServiceSettings

ID_NUMBER = "11010519491231002X"  # valid GB 11643 check digit


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def approver(infra: Any, sub: str, *departments: str) -> dict[str, str]:
    """Authorization header of an approver of ``departments``."""
    return infra.auth("approver", sub=sub, departments=list(departments))


@contextmanager
def today(approval: Any, day: date) -> Iterator[None]:
    """Pin the approval service's clock."""
    clock = approval.app.state.clock
    clock.fixed = day
    try:
        yield
    finally:
        clock.fixed = None


async def sweep(approval: Any, infra: Any, as_of: date) -> dict:
    """Run the time-limit sweep as of ``as_of`` through the API, as an auditor."""
    response = await approval.post(
        "/time-limits/sweep",
        params={"as_of": as_of.isoformat()},
        headers=infra.auth("auditor", departments=["*"]),
    )
    assert response.status_code == 200, response.text
    return response.json()


def item(
    matter: str = "SCJG-003",
    department: str = "SCJG",
    *,
    item_id: str | None = None,
    steps: list[str] | None = None,
    legal: int = 20,
    promised: int = 5,
    on_the_spot: bool = False,
    commitment: tuple[list[str], date] | None = None,
) -> AcceptedItem:
    """One accepted item (matter) for a test application."""
    return AcceptedItem(
        item_id=item_id or uid("item"),
        matter_code=matter,
        matter_name="食品经营许可",
        department=department,
        steps=steps if steps is not None else ["review", "decision"],
        on_the_spot=on_the_spot,
        legal_limit_working_days=legal,
        promised_limit_working_days=promised,
        result_licence_type="FOOD_LICENCE",
        materials=[{"code": "M-ID", "status": "present"}],
        commitment=Commitment(materials=commitment[0], deadline=commitment[1], signed_at=datetime.now(UTC))
        if commitment
        else None,
    )


def accepted(
    *items: AcceptedItem,
    accepted_on: date = date(2026, 9, 24),
    bundle_code: str | None = None,
    application_id: str | None = None,
    id_number: str = ID_NUMBER,
) -> ApplicationAccepted:
    """An application.accepted payload; accepted at 10:00 Beijing time on ``accepted_on``."""
    app_id = application_id or uid("app")
    return ApplicationAccepted(
        application_id=app_id,
        application_no=f"NO-{app_id[-6:]}",
        tracking_code=uuid.uuid4().hex,
        hall="ZS-CITY",
        collect_hall="ZS-CITY",
        channel="window",
        bundle_code=bundle_code,
        catalog_version=1,
        applicant=Applicant(type="natural_person", id_number=id_number, name="张三丰", mobile="13812345678"),
        values={"name": "张三丰", "shop_name": "老张面馆"},
        items=list(items),
        accepted_at=datetime(accepted_on.year, accepted_on.month, accepted_on.day, 2, 0, tzinfo=UTC),
    )


def supplemented(
    application_id: str, *, at: date, materials: list[str] | None = None, item_id: str | None = None
) -> ApplicationSupplemented:
    return ApplicationSupplemented(
        application_id=application_id,
        item_id=item_id,
        materials=materials or [],
        at=datetime(at.year, at.month, at.day, 3, 0, tzinfo=UTC),
    )


def envelope(event: Event) -> Envelope:
    return Envelope.wrap(event, producer="acceptance", correlation_id=event.aggregate_key(), hall="ZS-CITY")


class Sender:
    """Sends events to the applications topic through the real broker, as acceptance would."""

    def __init__(self, infra: Any) -> None:
        self.settings = ServiceSettings(
            kafka_bootstrap=infra.kafka_bootstrap,
            topic_prefix=infra.topic_prefix,
            database_url=infra.database_url,
        )
        self.bus = KafkaBus(self.settings)

    async def send(self, event: Event, *, env: Envelope | None = None) -> Envelope:
        env = env or envelope(event)
        await self.bus.publish(env, stream=event.STREAM)
        return env


async def tasks_of(approval: Any, application_id: str) -> list[Task]:
    async with approval.app.state.runtime.sessionmaker() as session:
        return list(
            (
                await session.execute(
                    select(Task).where(Task.application_id == application_id).order_by(Task.item_id)
                )
            ).scalars()
        )


async def open_application(approval: Any, sender: Sender, event: ApplicationAccepted) -> list[Task]:
    """Send application.accepted and wait until approval opened every task."""
    await sender.send(event)

    async def ready() -> list[Task] | None:
        tasks = await tasks_of(approval, event.application_id)
        return tasks if len(tasks) == len(event.items) else None

    return await wait_for(ready, timeout=60, message=f"tasks of {event.application_id}")


async def outbox_events(approval: Any, type_: str, **payload: str) -> list[dict]:
    """Envelopes of ``type_`` in approval's outbox whose payload matches ``payload``."""
    table = backbone.outbox_table
    query = select(table.c.envelope).where(table.c.type == type_)
    for key, value in payload.items():
        query = query.where(table.c.envelope["payload"][key].astext == value)
    async with approval.app.state.runtime.sessionmaker() as session:
        return [row[0] for row in (await session.execute(query.order_by(table.c.seq))).all()]


async def broker_events(
    infra: Any, stream: str, predicate, *, minimum: int = 1, timeout: float = 30
) -> list[dict]:
    """Envelopes on a stream's topic (read from the broker) matching ``predicate``."""
    consumer = AIOKafkaConsumer(
        f"{infra.topic_prefix}{stream}",
        bootstrap_servers=infra.kafka_bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[dict] = []
    try:
        import asyncio

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(found) < minimum and loop.time() < deadline:
            for messages in (await consumer.getmany(timeout_ms=300)).values():
                for message in messages:
                    env = json.loads(message.value)
                    if predicate(env):
                        found.append(env)
    finally:
        await consumer.stop()
    return found


async def handled(approval: Any, event_id: Any) -> bool:
    """Whether approval's consumer has applied the event ``event_id``."""
    table = backbone.inbox_table
    async with approval.app.state.runtime.sessionmaker() as session:
        return (
            await session.execute(select(table.c.event_id).where(table.c.event_id == event_id))
        ).first() is not None
