"""Ticketing event handlers: thin, one transaction each (inbox check happens in the bus)."""

from sqlalchemy.ext.asyncio import AsyncSession

from services.ticketing import service
from shared.events import Envelope, Event
from shared.events.catalog import MatterPublished
from shared.service_app import ConsumerSpec


async def on_matter_published(envelope: Envelope, event: Event, session: AsyncSession) -> None:
    """Keep the matter read model (zone, category, handling time, share weight) up to date."""
    assert isinstance(event, MatterPublished)
    await service.upsert_matter(session, event=event)


CONSUMERS: list[ConsumerSpec] = [
    ConsumerSpec(group="ticketing", streams=["catalog"], handlers={"catalog.matter_published": on_matter_published}),
]
