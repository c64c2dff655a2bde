"""Demo halls and windows (seed data of the ticketing service)."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HALLS_FILE = Path(__file__).resolve().parent / "halls.json"


def demo_halls() -> list[dict[str, Any]]:
    """The demo halls as stored in ``halls.json``."""
    return json.loads(HALLS_FILE.read_text(encoding="utf-8"))["halls"]


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
