"""Ticketing commands: ``python -m services.ticketing.cli seed-demo`` loads the demo halls (idempotent)."""

import asyncio
import os
from collections.abc import Callable, Collection
from pathlib import Path

import httpx
import typer

from services.ticketing.seed import demo_halls, window_specs
from shared.auth import load_or_create_keys, mint_token

app = typer.Typer(help="Ticketing service commands.", no_args_is_help=True)
ROOT = Path(__file__).resolve().parent.parent.parent


@app.callback()
def main() -> None:
    """Ticketing service commands."""


async def load_demo(
    client: httpx.AsyncClient,
    *,
    real_hours: bool = False,
    only: Collection[str] | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> list[str]:
    """PUT the demo halls (the demo hall open round the clock unless ``real_hours``), their zones and
    windows through the admin API with ``client``'s credentials; ``only`` limits the halls. The hall codes."""
    loaded = []
    for hall in demo_halls(real_hours=real_hours):
        if only is not None and hall["code"] not in only:
            continue
        (await client.put(f"/halls/{hall['code']}", json=hall["hall"])).raise_for_status()
        count = 0
        for code, body in window_specs(hall):
            (await client.put(f"/halls/{hall['code']}/windows/{code}", json=body)).raise_for_status()
            count += 1
        hours = f"{hall['hall']['opens_at'][:5]}-{hall['hall']['closes_at'][:5]} {hall['hall']['open_days']}"
        say(f"{hall['code']}: {count} windows, open {hours}")
        loaded.append(hall["code"])
    return loaded


@app.command("seed-demo")
def seed_demo(
    url: str = typer.Option(os.environ.get("TICKETING_URL", "http://127.0.0.1:8002"), help="Running ticketing service."),
    keys_dir: Path = typer.Option(ROOT / "var" / "keys", help="Embedded issuer keys (as make run uses)."),
    real_hours: bool = typer.Option(
        False, "--real-hours", envvar="ONEWINDOW_DEMO_REAL_HOURS",
        help="Load the demo hall with its real opening hours (08:30-17:30 on working days) instead of round the clock.",
    ),
) -> None:
    """PUT the demo halls, zones and windows through the admin API (safe to run again)."""
    key, _ = load_or_create_keys(keys_dir)
    token = mint_token(key, sub="seed-demo", roles=["hall_admin"], halls=["*"], ttl_seconds=600)

    async def run() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
            await load_demo(client, real_hours=real_hours, say=typer.echo)

    asyncio.run(run())


if __name__ == "__main__":
    app()
