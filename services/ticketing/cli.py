"""Ticketing commands: ``python -m services.ticketing.cli seed-demo`` loads the demo halls (idempotent)."""

import os
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


@app.command("seed-demo")
def seed_demo(
    url: str = typer.Option(os.environ.get("TICKETING_URL", "http://127.0.0.1:8002"), help="Running ticketing service."),
    keys_dir: Path = typer.Option(ROOT / "var" / "keys", help="Embedded issuer keys (as make run uses)."),
) -> None:
    """PUT the demo halls, zones and windows through the admin API (safe to run again)."""
    key, _ = load_or_create_keys(keys_dir)
    token = mint_token(key, sub="seed-demo", roles=["hall_admin"], halls=["*"], ttl_seconds=600)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        for hall in demo_halls():
            client.put(f"/halls/{hall['code']}", json=hall["hall"]).raise_for_status()
            count = 0
            for code, body in window_specs(hall):
                client.put(f"/halls/{hall['code']}/windows/{code}", json=body).raise_for_status()
                count += 1
            typer.echo(f"{hall['code']}: {count} windows")


if __name__ == "__main__":
    app()
