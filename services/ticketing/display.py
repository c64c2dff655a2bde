"""What the hall shows the public: queue status per zone and matter, window pads (the call board: board.py)."""

import json

from sqlalchemy.ext.asyncio import AsyncSession

from services.ticketing import halls, routing, tickets
from services.ticketing import repository as repo
from services.ticketing.models import Ticket, Window
from services.ticketing.snapshots import Snapshots
from shared.problems import NotFound

# Characters that end a <script> block, open a comment or an entity, or end a line in older JavaScript:
# written as \u escapes, so JSON placed inside a <script> element cannot break out of it.
_SCRIPT_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def script_json(value: object) -> str:
    """``value`` as JSON safe to place inside an HTML ``<script>`` block (``</script>`` cannot occur)."""
    text = json.dumps(value, ensure_ascii=False)
    for char, escaped in _SCRIPT_ESCAPES.items():
        text = text.replace(char, escaped)
    return text


def html_text(text: str) -> str:
    """``text`` escaped for HTML element content and attribute values."""
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
        .replace("'", "&#x27;")
    )


async def queue_status(session: AsyncSession, *, hall: str, snapshots: Snapshots | None = None) -> dict[str, object]:
    """Waiting count and expected wait of a new ticket, per zone and per matter served in the hall."""
    snapshots = snapshots or Snapshots()
    matters = await snapshots.matters(session)
    windows = await snapshots.windows(session, hall=await halls.require_hall(session, code=hall), matters=matters)
    counts = await repo.waiting_counts(session, hall=hall)
    zone_codes = sorted({w.zone for w in windows})
    loads = await routing.zone_loads(session, hall=hall, zones=zone_codes, priority=tickets.PRIORITY_NORMAL,
                                     queue_at=None)
    lines: list[dict[str, object]] = []
    zones: list[dict[str, object]] = []
    for zone in zone_codes:
        estimates: list[float] = []
        for matter in sorted(matters.values(), key=lambda m: m.code):
            if not any(w.zone == zone and routing.serves(w, matter) for w in windows):
                continue
            _, minutes = routing.predict(zone=zone, matter=matter, windows=windows, loads=loads)
            lines.append(
                {
                    "zone": zone,
                    "matter_code": matter.code,
                    "waiting": counts.get((zone, matter.code), 0),
                    "estimated_wait_minutes": minutes,
                }
            )
            if minutes is not None:
                estimates.append(minutes)
        waiting = sum(n for (z, _), n in counts.items() if z == zone)
        zones.append(
            {
                "zone": zone,
                "waiting": waiting,
                "estimated_wait_minutes": max(estimates) if estimates else None,
            }
        )
    return {
        "hall": hall,
        "open_windows": sum(1 for w in windows if w.state == "open"),
        "zones": zones,
        "matters": lines,
    }


async def window_pad(session: AsyncSession, *, hall: str, window: str) -> tuple[Window, Ticket | None]:
    """The window (404 when unknown) and the ticket it is serving, for the pad beside it."""
    row = await repo.get_window(session, hall=hall, code=window)
    if row is None:
        raise NotFound(f"window {window} does not exist in hall {hall}")
    return row, await repo.current_ticket(session, hall=hall, window=window)
