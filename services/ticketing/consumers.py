"""Ticketing event handlers: thin, one transaction each (inbox check happens in the bus)."""

from services.ticketing import catalog
from shared.events.catalog import MatterPublished
from shared.handlers import ConsumerSpec, Delivery


async def on_matter_published(event: MatterPublished, ctx: Delivery[None]) -> None:
    """Keep the matter read model (zone, category, handling time, share weight) up to date."""
    await catalog.upsert_matter(ctx.session, event=event)


CONSUMERS: list[ConsumerSpec] = [
    ConsumerSpec(group="ticketing", handlers={MatterPublished: on_matter_published}),
]
