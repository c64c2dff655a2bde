"""Routing a ticket: which windows serve a matter, each zone's live wait (via estimate.py), the best zone."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.ticketing import estimate
from services.ticketing import repository as repo
from services.ticketing.models import Ticket
from services.ticketing.snapshots import MatterView, WindowView
from shared.problems import DomainError

RECENT_SERVICES = 60


class MatterNotServed(DomainError):
    status, code, title = 422, "matter_not_served", "Matter not served in this hall"


def serves(window: WindowView, matter: MatterView | Ticket) -> bool:
    """Whether a window's skills cover a matter (by code or category)."""
    code = matter.code if isinstance(matter, MatterView) else matter.matter_code
    return code in window.skills or matter.category in window.skills


def staffed(windows: Sequence[WindowView]) -> list[WindowView]:
    """Windows that are open, or all active ones when nobody signed in yet (the estimate of the day)."""
    open_ = [w for w in windows if w.state == "open"]
    return open_ or [w for w in windows if w.active]


def skill_view(windows: Sequence[WindowView], busy: set[str]) -> list[estimate.WindowSkills]:
    """The predictor's view of windows: matter codes each serves (categories expanded), idle or not."""
    return [estimate.WindowSkills(w.codes, idle=w.state == "open" and w.code not in busy) for w in windows]


@dataclass(frozen=True)
class ZoneLoads:
    """The candidate zones' queues as the database has them now: waiting tickets ahead per (zone, matter),
    recent service times per zone. Read in two queries however many zones serve a matter."""

    busy: set[str]  # windows of the hall serving a ticket now
    ahead: dict[tuple[str, str], int]
    recent: dict[str, list[float]]


async def zone_loads(
    session: AsyncSession, *, hall: str, zones: Iterable[str], priority: int, queue_at: datetime | None
) -> ZoneLoads:
    """Figures of ``zones`` for a ticket of this priority (``queue_at``: its place; None for a new one)."""
    busy, ahead, recent = await repo.zone_figures(session, hall=hall, zones=zones, priority=priority,
                                                  queue_at=queue_at, recent=RECENT_SERVICES)
    return ZoneLoads(busy=busy, ahead=ahead, recent=recent)


def predict(
    *, zone: str, matter: MatterView, windows: Sequence[WindowView], loads: ZoneLoads,
) -> tuple[int, float | None]:
    """(tickets ahead, E[W | n] in minutes) for a ticket of ``matter`` in ``zone`` (skill-pool predictor).

    n = waiting tickets ahead whose matter the same windows serve, s = windows of the zone serving the
    matter, 1/mu = recent service times in the zone (see estimate.py and docs/wait-estimate.md).
    """
    view = skill_view(staffed([w for w in windows if w.zone == zone]), loads.busy)
    pool = estimate.skill_pool(view, matter.code) or {matter.code}
    servers, idle = estimate.pool_servers(view, matter.code)
    ahead = sum(n for (z, code), n in loads.ahead.items() if z == zone and code in pool)
    mean = estimate.mean_service_minutes(loads.recent.get(zone, []), prior_minutes=float(matter.avg_handling_minutes))
    value = estimate.expected_wait_minutes(ahead=ahead, servers=servers, mean_service=mean, idle=idle)
    return ahead, None if value is None else round(value, 1)


async def estimate_minutes(
    session: AsyncSession,
    *,
    hall: str,
    zone: str,
    matter: MatterView,
    priority: int,
    queue_at: datetime | None,
    windows: Sequence[WindowView],
) -> tuple[int, float | None]:
    """``predict`` for one zone, reading its figures."""
    loads = await zone_loads(session, hall=hall, zones=[zone], priority=priority, queue_at=queue_at)
    return predict(zone=zone, matter=matter, windows=windows, loads=loads)


async def route(
    session: AsyncSession,
    *,
    hall: str,
    matter: MatterView,
    priority: int,
    windows: Sequence[WindowView],
) -> tuple[str, int, float | None]:
    """The zone with the least expected wait for a new ticket: (zone, tickets ahead, minutes)."""
    zones = sorted({w.zone for w in windows if serves(w, matter)}, key=lambda z: (z != matter.zone, z))
    if not zones:
        raise MatterNotServed(f"matter {matter.code} is not served in hall {hall}")
    loads = await zone_loads(session, hall=hall, zones=zones, priority=priority, queue_at=None)
    best: tuple[str, int, float | None] | None = None
    for zone in zones:
        ahead, minutes = predict(zone=zone, matter=matter, windows=windows, loads=loads)
        if best is None or (minutes is not None and (best[2] is None or minutes < best[2])):
            best = (zone, ahead, minutes)
    assert best is not None
    return best
