"""Helpers of the issuance tests: events sent through the real broker, state read from the real database."""

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka.errors import KafkaError
from sqlalchemy import func, select

from services.issuance.deps import IssuanceDeps
from services.issuance.models import Application, Hall, Licence, NotificationLog, Result, backbone
from shared.events import Envelope
from shared.events.applications import AcceptedItem, Applicant, ApplicationAccepted
from shared.events.approvals import ApprovalDecided, DecisionRevoked
from shared.events.envelope import Event
from shared.events.licences import NotificationRequested
from shared.infra import wait_for
from shared.testing import new_id_number  # noqa: F401 (re-exported to tests)

HALL = "ZS-CITY"
OTHER_HALL = "DL-TOWN"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class Issuance:
    """Drives the running issuance app: sends events to its topics, reads its tables."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.runtime = client.app.state.runtime  # type: ignore[attr-defined]

    async def send(
        self,
        event: Event,
        *,
        correlation_id: str,
        producer: str = "test",
        envelope_id: uuid.UUID | None = None,
    ) -> Envelope:
        """Publish ``event`` in a valid envelope to its stream through the broker."""
        envelope = Envelope.wrap(event, producer=producer, correlation_id=correlation_id)
        if envelope_id:
            envelope = envelope.model_copy(update={"id": envelope_id})
        await self.resend(envelope, stream=event.STREAM)
        return envelope

    async def resend(self, envelope: Envelope, *, stream: str) -> None:
        """Send an envelope as is; retried on the broker's transient errors (e.g. leader moves)."""
        for attempt in range(5):
            try:
                await self.runtime.bus.publish(envelope, stream=stream)
                return
            except KafkaError:
                if attempt == 4:
                    raise
                await asyncio.sleep(0.2 * 2**attempt)

    def deps(self) -> IssuanceDeps:
        """The running app's outbox, signing key and settings, to call the service's functions directly."""
        return IssuanceDeps(
            outbox=self.runtime.outbox, signer=self.client.app.state.signer, settings=self.runtime.settings
        )

    async def staged(self, session: Any, application_id: str) -> list[dict[str, Any]]:
        """Envelopes about ``application_id`` in the outbox as ``session`` sees it (also uncommitted ones)."""
        t = backbone.outbox_table
        rows = await session.execute(
            select(t.c.envelope)
            .where(t.c.envelope["payload"]["application_id"].astext == application_id)
            .order_by(t.c.seq)
        )
        return list(rows.scalars())

    async def scalar(self, stmt: Any) -> Any:
        async with self.runtime.sessionmaker() as session:
            return (await session.execute(stmt)).scalar()

    async def application(self, application_id: str) -> Application | None:
        async with self.runtime.sessionmaker() as session:
            return await session.get(Application, application_id)

    async def results(self, application_id: str) -> list[Result]:
        async with self.runtime.sessionmaker() as session:
            rows = await session.execute(
                select(Result).where(Result.application_id == application_id).order_by(Result.item_id)
            )
            return list(rows.scalars())

    async def licences(self, application_id: str) -> list[Licence]:
        async with self.runtime.sessionmaker() as session:
            rows = await session.execute(
                select(Licence).where(Licence.application_id == application_id).order_by(Licence.item_id)
            )
            return list(rows.scalars())

    async def events(self, application_id: str, type_: str | None = None) -> list[dict[str, Any]]:
        """Envelopes this service wrote to its outbox about ``application_id``."""
        t = backbone.outbox_table
        stmt = select(t.c.envelope).where(t.c.envelope["payload"]["application_id"].astext == application_id)
        if type_:
            stmt = stmt.where(t.c.type == type_)
        async with self.runtime.sessionmaker() as session:
            return list((await session.execute(stmt.order_by(t.c.seq))).scalars())

    async def notifications_sent(self, application_id: str) -> list[NotificationLog]:
        async with self.runtime.sessionmaker() as session:
            rows = await session.execute(
                select(NotificationLog).where(NotificationLog.application_id == application_id)
            )
            return list(rows.scalars())

    async def count_results(self, application_id: str) -> int:
        return await self.scalar(
            select(func.count()).select_from(Result).where(Result.application_id == application_id)
        )

    async def wait_status(self, application_id: str, status: str, timeout: float = 30) -> Application:
        async def check() -> Application | None:
            app = await self.application(application_id)
            return app if app is not None and app.status == status else None

        return await wait_for(check, timeout=timeout, message=f"{application_id} {status}")

    async def wait_results(self, application_id: str, count: int, timeout: float = 30) -> None:
        async def check() -> bool:
            return await self.count_results(application_id) >= count

        await wait_for(check, timeout=timeout, message=f"{count} results of {application_id}")


class RecordingSender:
    """A notification sender that keeps what it was asked to send, or fails like a gateway that is down."""

    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.sent: list[NotificationRequested] = []

    async def send(self, notification: NotificationRequested) -> None:
        if self.fail:
            raise ConnectionError("SMS gateway unreachable")
        self.sent.append(notification)


def item(
    item_id: str,
    *,
    matter: str = "SCJG-003",
    licence_type: str | None = "FOOD_LICENCE",
    department: str = "SCJG",
    on_the_spot: bool = False,
) -> AcceptedItem:
    return AcceptedItem(
        item_id=item_id,
        matter_code=matter,
        matter_name=f"事项 {matter}",
        department=department,
        on_the_spot=on_the_spot,
        legal_limit_working_days=20,
        promised_limit_working_days=5,
        result_licence_type=licence_type,
    )


def accepted(
    application_id: str,
    items: list[AcceptedItem],
    *,
    applicant: Applicant,
    tracking_code: str,
    hall: str = HALL,
    collect_hall: str = HALL,
    bundle_code: str | None = None,
) -> ApplicationAccepted:
    return ApplicationAccepted(
        application_id=application_id,
        application_no=f"ZS2026{application_id[-6:]}",
        tracking_code=tracking_code,
        hall=hall,
        collect_hall=collect_hall,
        channel="window",
        bundle_code=bundle_code,
        catalog_version=1,
        applicant=applicant,
        values={},
        items=items,
        accepted_at=datetime.now(UTC),
    )


def decided(
    application_id: str,
    accepted_item: AcceptedItem,
    *,
    applicant: Applicant,
    all_items: list[str],
    decision: str = "approved",
    reason: str | None = None,
    collect_hall: str = HALL,
    values: dict[str, Any] | None = None,
) -> ApprovalDecided:
    return ApprovalDecided(
        application_id=application_id,
        item_id=accepted_item.item_id,
        task_id=f"task-{accepted_item.item_id}",
        matter_code=accepted_item.matter_code,
        department=accepted_item.department,
        decision=decision,
        reason=reason,
        decided_at=datetime.now(UTC),
        applicant=applicant,
        values=values
        if values is not None
        else {
            "entity.name": "示例餐饮有限公司",
            "premises.address": "中山市东区1号",
            "person.mobile": "13800138000",
            "food.business_items": "热食类",
        },
        result_licence_type=accepted_item.result_licence_type if decision == "approved" else None,
        matter_name=accepted_item.matter_name,
        bundle_item_ids=all_items,
        collect_hall=collect_hall,
        on_the_spot=accepted_item.on_the_spot,
    )


def revoked(application_id: str, accepted_item: AcceptedItem, reason: str) -> DecisionRevoked:
    return DecisionRevoked(
        application_id=application_id,
        item_id=accepted_item.item_id,
        task_id=f"task-{accepted_item.item_id}",
        matter_code=accepted_item.matter_code,
        department=accepted_item.department,
        reason=reason,
        at=datetime.now(UTC),
    )


def person(mobile: str | None = "13912345678") -> Applicant:
    return Applicant(type="natural_person", id_number=new_id_number(), name="张三丰", mobile=mobile)


_hall_version = 0


async def known_halls(iss: Issuance, *codes: str, status: str = "open") -> None:
    """Publish ``hall.published`` for ``codes`` (as ticketing does) and wait until issuance holds them."""
    from shared.events.ticketing import HallPublished

    global _hall_version
    now = datetime.now(UTC)
    # newer than any copy ticketing's tests published this run (they count from 1), and than the last one
    _hall_version = max(_hall_version + 1, int(now.timestamp() * 10) - 17_000_000_000)
    version = _hall_version
    for code in codes:
        await iss.send(HallPublished(code=code, name=f"{code} 大厅", status=status, opens_at="08:30", closes_at="17:30",
                                     open_days="workdays", hall_version=version, updated_at=now), correlation_id="halls")

    async def held() -> bool:
        async with iss.runtime.sessionmaker() as session:
            rows = (await session.execute(select(Hall).where(Hall.code.in_(codes)))).scalars().all()
        return len(rows) == len(codes) and all(r.status == status and r.hall_version == version for r in rows)

    await wait_for(held, timeout=30, message=f"halls {codes} known at issuance")


async def released_application(
    iss: Issuance,
    *,
    applicant: Applicant | None = None,
    collect_hall: str = HALL,
    hall: str = HALL,
    items: list[AcceptedItem] | None = None,
    correlation_id: str | None = None,
) -> tuple[str, str, Applicant, list[AcceptedItem]]:
    """An application whose results are ready: (application id, tracking code, applicant, items)."""
    application_id, tracking = unique("APP"), uuid.uuid4().hex
    applicant = applicant or person()
    items = items or [item(unique("IT"))]
    cid = correlation_id or unique("corr")
    await iss.send(
        accepted(
            application_id,
            items,
            applicant=applicant,
            tracking_code=tracking,
            hall=hall,
            collect_hall=collect_hall,
        ),
        correlation_id=cid,
    )
    for it in items:
        await iss.send(
            decided(
                application_id,
                it,
                applicant=applicant,
                all_items=[i.item_id for i in items],
                collect_hall=collect_hall,
            ),
            correlation_id=cid,
        )
    await iss.wait_status(application_id, "ready")
    return application_id, tracking, applicant, items
