"""Demo halls and windows (seed data of the ticketing service)."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HALLS_FILE = Path(__file__).resolve().parent / "halls.json"
# The demo hall's hours as ``make run`` loads them: round the clock (00:00 closing means midnight, see
# hours.py), so the README walk-through can take a number at any hour.
ROUND_THE_CLOCK = {"opens_at": "00:00:00", "closes_at": "00:00:00", "open_days": "all"}


def demo_halls(*, real_hours: bool = False) -> list[dict[str, Any]]:
    """The demo halls as stored in ``halls.json``; the demo hall (``"demo": true``) open round the clock
    unless ``real_hours``, the others with their real hours."""
    halls: list[dict[str, Any]] = json.loads(HALLS_FILE.read_text(encoding="utf-8"))["halls"]
    if not real_hours:
        for hall in halls:
            if hall.get("demo"):
                hall["hall"] = {**hall["hall"], **ROUND_THE_CLOCK}
    return halls


def window_specs(hall: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(window code, PUT body) for every window of a demo hall: codes are zone letter + number (A001)."""
    numbers: dict[str, int] = {}
    for group in hall["window_groups"]:
        for _ in range(group["count"]):
            numbers[group["zone"]] = numbers.get(group["zone"], 0) + 1
            code = f"{group['zone']}{numbers[group['zone']]:03d}"
            yield code, {
                "zone": group["zone"],
                "name": f"{code} {group['name']}",
                "skills": group["skills"],
                "primary_skills": group.get("primary_skills", []),
            }
