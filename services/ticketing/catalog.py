"""The catalogue read model: matters as catalog.matter_published last told us, looked up by code (and
searched by name and pinyin at the kiosk: search.py)."""

from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from services.ticketing import search
from services.ticketing.models import Matter
from services.ticketing.snapshots import MatterView, Snapshots
from shared.events.catalog import MatterPublished
from shared.problems import FieldError, Unprocessable


async def upsert_matter(session: AsyncSession, *, event: MatterPublished) -> None:
    """Keep the matter read model at the newest catalogue version (older versions never overwrite)."""
    matter = await session.get(Matter, event.code, with_for_update=True)
    if matter is not None and matter.catalog_version > event.catalog_version:
        return
    if matter is None:
        matter = Matter(code=event.code)
        session.add(matter)
    matter.name, matter.zone, matter.category, matter.department = (
        event.name,
        event.zone,
        event.category,
        event.department,
    )
    matter.avg_handling_minutes, matter.daily_share_weight = (
        event.avg_handling_minutes,
        event.daily_share_weight,
    )
    matter.catalog_version = event.catalog_version
    matter.pinyin_initials, matter.pinyin_full = search.pinyin_keys(event.name)  # kiosk search keys
    await session.flush()


async def require_matter(
    session: AsyncSession, *, code: str, field: str = "matter_code", snapshots: Snapshots | None = None
) -> tuple[MatterView, Mapping[str, MatterView]]:
    """The matter ``code`` and the whole read model by code; 422 on ``field`` when unknown."""
    matters = await (snapshots or Snapshots()).matters(session)
    matter = matters.get(code)
    if matter is None:
        raise Unprocessable(
            f"unknown matter {code}", errors=[FieldError(field=field, message=f"unknown matter {code}")]
        )
    return matter, matters
