"""In-process copies of what every ticket needs and seldom changes: a hall's windows and the matters.

Taking a number used to build 220 ``Window`` ORM objects (and decode their JSONB skills) and every
``Matter`` on each request: a quarter of its CPU. These copies are frozen, held per process, and checked
on every use against a stamp the database moves in the same transaction as any change (triggers of
migration c3d0e5d21400): ``halls.windows_stamp`` for a hall's windows, ``read_model_stamps['matters']`` for
the matter read model. A stamp that moved means a reload, so a copy never serves a window that was
closed, paused or re-skilled, or a matter the catalogue changed, in any replica: no event or admin
route has to remember to invalidate anything.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.ticketing.models import Hall, Matter, ReadModelStamp, Window


@dataclass(frozen=True, slots=True)
class WindowView:
    """What routing and estimates read of a window."""

    hall: str
    code: str
    zone: str
    skills: frozenset[str]
    primary_skills: tuple[str, ...]
    active: bool
    state: str
    staff_id: str | None
    codes: frozenset[str]  # the matter codes its skills cover (categories expanded, as of the matters copy)


@dataclass(frozen=True, slots=True)
class MatterView:
    """What routing and estimates read of a matter."""

    code: str
    name: str
    zone: str
    category: str
    department: str
    avg_handling_minutes: int
    daily_share_weight: float
    catalog_version: int
    pinyin_initials: tuple[str, ...]  # the kiosk's search keys (search.py)
    pinyin_full: tuple[str, ...]


_WINDOW_COLUMNS = (Window.hall, Window.code, Window.zone, Window.skills, Window.primary_skills, Window.active,
                   Window.state, Window.staff_id)
_MATTER_COLUMNS = (Matter.code, Matter.name, Matter.zone, Matter.category, Matter.department,
                   Matter.avg_handling_minutes, Matter.daily_share_weight, Matter.catalog_version,
                   Matter.pinyin_initials, Matter.pinyin_full)


class Snapshots:
    """The process's copies, by stamp. One per app (``app.state.snapshots``); a fresh one (empty) reads
    everything from the database, which is what a caller without the app's gets."""

    def __init__(self) -> None:
        # hall -> (windows stamp, the matters copy the skills were expanded with, the windows)
        self._windows: dict[str, tuple[int, Mapping[str, MatterView], tuple[WindowView, ...]]] = {}
        self._matters: tuple[int, Mapping[str, MatterView]] | None = None

    async def windows(
        self, session: AsyncSession, *, hall: Hall, matters: Mapping[str, MatterView]
    ) -> tuple[WindowView, ...]:
        """The active windows of ``hall`` by code, as of the hall row's stamp (read in this transaction
        before, by a caller that has not changed windows in it), their skills expanded with ``matters``
        (a copy from ``matters``)."""
        held = self._windows.get(hall.code)
        if held is not None and held[0] == hall.windows_stamp and held[1] is matters:
            return held[2]
        rows = await session.execute(
            select(*_WINDOW_COLUMNS).where(Window.hall == hall.code, Window.active.is_(True)).order_by(Window.code)
        )
        by_category = categories(matters)
        views = tuple(
            WindowView(hall=r.hall, code=r.code, zone=r.zone, skills=frozenset(r.skills or ()),
                       primary_skills=tuple(r.primary_skills or ()), active=r.active, state=r.state,
                       staff_id=r.staff_id, codes=expand(r.skills or (), matters, by_category))
            for r in rows
        )
        # the rows read are at least as new as the stamp read before them: a later stamp reloads
        self._windows[hall.code] = (hall.windows_stamp, matters, views)
        return views

    async def matters(self, session: AsyncSession) -> Mapping[str, MatterView]:
        """The matter read model by code."""
        stamp = (await session.execute(
            select(ReadModelStamp.stamp).where(ReadModelStamp.name == "matters")
        )).scalar_one()
        if self._matters is not None and self._matters[0] == stamp:
            return self._matters[1]
        rows = await session.execute(select(*_MATTER_COLUMNS))
        views = MappingProxyType({
            r.code: MatterView(code=r.code, name=r.name, zone=r.zone, category=r.category, department=r.department,
                               avg_handling_minutes=r.avg_handling_minutes, daily_share_weight=r.daily_share_weight,
                               catalog_version=r.catalog_version, pinyin_initials=tuple(r.pinyin_initials or ()), pinyin_full=tuple(r.pinyin_full or ()))
            for r in rows
        })
        self._matters = (stamp, views)
        return views



def categories(matters: Mapping[str, MatterView]) -> dict[str, set[str]]:
    """Matter codes by category."""
    found: dict[str, set[str]] = {}
    for m in matters.values():
        found.setdefault(m.category, set()).add(m.code)
    return found


def expand(skills: Iterable[str], matters: Mapping[str, MatterView], by_category: Mapping[str, set[str]]) -> frozenset[str]:
    """The matter codes ``skills`` (matter codes or categories) cover."""
    codes: set[str] = set()
    for skill in skills:
        if skill in matters:
            codes.add(skill)
        codes |= by_category.get(skill, set())
    return frozenset(codes)
