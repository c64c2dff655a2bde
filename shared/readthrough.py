"""Read-your-writes across services: fetch an event its producer has staged but this service has not
received yet, and apply it exactly as the consumer group would.

The producer serves the envelopes from its own outbox (``staged``: kept there for the outbox retention,
published or not); the consumer fetches them (``EnvelopeClient``, the caller's bearer token, a short
budget) and hands each to ``apply`` inside the request's transaction: the same inbox row and the same
handler as a broker delivery, so whichever comes second (the request or the broker) is a deduplicated
no-op. Used where a person acts right after another service changed something: a clerk opening from a
ticket just called, an approver opening the task of an application just submitted, the issuance window
scanning a receipt right after the decision (docs/*.md, "Read-your-writes").
"""

import asyncio
from collections.abc import Sequence
from typing import Any

import httpx
from pydantic import ValidationError
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared import context
from shared.events.envelope import Envelope
from shared.handlers import Delivery
from shared.observability import get_logger
from shared.problems import DependencyUnavailable

log = get_logger(__name__)

READ_THROUGH_RETRY_AFTER = 2  # seconds a caller waits when the producer could not answer


class ProducerUnavailable(Exception):
    """The producing service could not answer (down, slow, failing): the caller retries shortly."""


async def staged(session: AsyncSession, table: Table, *, key: str, types: Sequence[str]) -> list[Envelope]:
    """Envelopes of ``types`` this service staged for aggregate ``key``, oldest first (from its outbox)."""
    rows = await session.execute(
        select(table.c.envelope).where(table.c.key == key, table.c.type.in_(list(types))).order_by(table.c.seq)
    )
    return [Envelope.model_validate(row) for row in rows.scalars()]


class EnvelopeClient:
    """GETs staged envelopes from another service, with the caller's token and a short budget, no retry."""

    def __init__(
        self, *, base_url: str, timeout: float, producer: str, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.timeout = timeout
        self.producer = producer
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport)

    async def envelopes(
        self, path: str, *, authorization: str | None, params: dict[str, str] | None = None
    ) -> list[Envelope]:
        """The envelopes at ``path`` (a JSON list); [] when the producer has none for this caller (403,
        404); raises ``ProducerUnavailable`` when it cannot answer."""
        headers = {"Authorization": authorization} if authorization else {}
        try:
            response = await asyncio.wait_for(self._client.get(path, params=params, headers=headers), self.timeout)
        except TimeoutError as exc:
            log.warning("producer did not answer in time", producer=self.producer)
            raise ProducerUnavailable(f"{self.producer} did not answer in time") from exc
        except httpx.HTTPError as exc:
            log.warning("producer unreachable", producer=self.producer, error=type(exc).__name__)
            raise ProducerUnavailable(f"{self.producer} unreachable ({type(exc).__name__})") from exc
        if response.status_code in (401, 403, 404, 422):
            return []
        if response.status_code != 200:
            log.warning("producer answered an error", producer=self.producer, status=response.status_code)
            raise ProducerUnavailable(f"{self.producer} answered {response.status_code}")
        try:
            data: Any = response.json()
            return [Envelope.model_validate(e) for e in data]
        except (ValueError, TypeError, ValidationError) as exc:
            raise ProducerUnavailable(f"{self.producer} answered an unreadable body") from exc

    async def aclose(self) -> None:
        await self._client.aclose()


async def apply(runtime: Any, session: AsyncSession, *, group: str, envelope: Envelope) -> bool:
    """Apply ``envelope`` in ``session`` as consumer group ``group`` would (inbox row + handler); False if
    the group has applied it already (or does not handle its type). ``runtime`` is the service's Runtime."""
    consumer = next((c for c in runtime.consumers if c.spec.group == group), None)
    if consumer is None:
        raise LookupError(f"no consumer group {group!r} in this service")
    route = consumer.spec.routes.get(envelope.type)
    if route is None:
        return False
    try:
        event = route.model.model_validate(envelope.payload)
    except ValidationError:  # the broker delivery will dead-letter it; the caller sees what is known
        log.warning("a read-through envelope does not parse; skipped", type=envelope.type, event_id=str(envelope.id))
        return False
    cid_token = context.correlation_id.set(envelope.correlation_id)
    cause_token = context.causation_id.set(str(envelope.id))
    try:
        if not await consumer.inbox.first_time(session, consumer=consumer.group, event_id=envelope.id,
                                               type=envelope.type):
            return False
        await route.handler(event, Delivery(envelope=envelope, session=session, outbox=consumer.outbox,
                                            deps=consumer.deps))
    finally:
        context.correlation_id.reset(cid_token)
        context.causation_id.reset(cause_token)
    log.info("applied an event read through from its producer", type=envelope.type, event_id=str(envelope.id))
    return True


async def read_through(
    runtime: Any,
    session: AsyncSession,
    *,
    client: EnvelopeClient,
    group: str,
    path: str,
    params: dict[str, str],
    authorization: str | None,
) -> int:
    """Fetch the producer's staged envelopes at ``path`` and apply each as ``group``; how many were new.
    503 ``dependency_unavailable`` with ``Retry-After`` when the producer cannot answer."""
    try:
        envelopes = await client.envelopes(path, authorization=authorization, params=params)
    except ProducerUnavailable as exc:
        raise DependencyUnavailable(f"{exc}; retry shortly", retry_after=READ_THROUGH_RETRY_AFTER) from exc
    applied = 0
    for envelope in envelopes:
        applied += await apply(runtime, session, group=group, envelope=envelope)
    return applied
