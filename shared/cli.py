"""Operator and developer commands: ``python -m shared.cli --help`` (or ``onewindow --help``)."""

import asyncio
import json
import os
import tempfile
from pathlib import Path

import typer
from alembic import command

from shared import migrations
from shared.registry import SERVICES, ServiceEntry
from shared.settings import ServiceSettings

app = typer.Typer(help="OneWindow operator and developer commands.", no_args_is_help=True)
dlq_app = typer.Typer(help="Dead-letter topics.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")

ROOT = Path(__file__).resolve().parent.parent


def _settings(service: str | None = None) -> ServiceSettings:
    """Settings from the environment: the service's own class (FORMS_ prefix...) if given."""
    if service is None:
        return ServiceSettings()
    return _entry(service).settings_class()()


def _entry(service: str) -> ServiceEntry:
    try:
        return SERVICES.get(service)
    except KeyError as exc:
        raise typer.BadParameter(str(exc.args[0])) from None


@app.command()
def run() -> None:
    """Start the whole system: database, broker, migrations, demo catalogue, every service."""
    from shared.stack import run_stack

    run_stack()


@app.command()
def migrate(service: str = typer.Argument(None, help="One service; all when omitted.")) -> None:
    """Apply migrations (each service's own history in its own schema)."""
    for name in [_entry(service).name] if service else SERVICES.names:
        migrations.upgrade(name, _settings(name).database_url)
        typer.echo(f"{name}: migrated")


@app.command()
def revision(service: str, message: str = typer.Option(..., "-m", "--message")) -> None:
    """Autogenerate a migration for SERVICE against a throw-away embedded PostgreSQL."""
    from shared.infra import EmbeddedPostgres

    service = _entry(service).name
    with tempfile.TemporaryDirectory(prefix="ow-revision-") as tmp:
        os.chmod(tmp, 0o755)
        pg = EmbeddedPostgres(Path(tmp) / "pg")
        pg.start()
        try:
            url = pg.url("postgres")
            migrations.upgrade(service, url)
            command.revision(migrations.alembic_config(service, url), message=message, autogenerate=True)
        finally:
            pg.stop()


@app.command("export-events")
def export_events(docs: Path = typer.Option(ROOT / "docs", help="Folder of asyncapi.json and events.md.")) -> None:
    """Write the AsyncAPI document of every event type and the event map (docs/events.md)."""
    from shared.asyncapi import build_asyncapi
    from shared.eventmap import build_events_markdown

    docs.mkdir(parents=True, exist_ok=True)
    asyncapi = docs / "asyncapi.json"
    asyncapi.write_text(json.dumps(build_asyncapi(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    events = docs / "events.md"
    events.write_text(build_events_markdown(), encoding="utf-8")
    typer.echo(f"wrote {asyncapi} and {events}")


@dlq_app.command("replay")
def dlq_replay(group: str = typer.Argument(..., help="Consumer group, e.g. approval")) -> None:
    """Re-publish every message of GROUP's dead-letter topic to its original topic."""
    from shared.bus import KafkaBus, replay_dead_letters

    async def _go() -> int:
        bus = KafkaBus(_settings())
        try:
            return await replay_dead_letters(bus, group=f"{bus.settings.topic_prefix}{group}")
        finally:
            await bus.stop()

    typer.echo(f"replayed {asyncio.run(_go())} message(s)")


@app.command("mint-token")
def mint_token_cmd(
    role: list[str] = typer.Option(..., "--role", help="Role(s): clerk, approver, ..."),
    sub: str = typer.Option("dev-user"),
    hall: list[str] = typer.Option([], "--hall"),
    department: list[str] = typer.Option([], "--department"),
    keys_dir: Path = typer.Option(ROOT / "var" / "keys", help="Embedded issuer keys."),
    ttl: int = typer.Option(8 * 3600, help="Seconds."),
) -> None:
    """Mint a token from the embedded issuer's key (for integrators trying the API); audited on stderr."""
    import logging
    import sys

    from shared.auth import Role, audit, load_or_create_keys, mint_token
    from shared.observability import configure_logging

    known = sorted(str(r) for r in Role)
    unknown = sorted(set(role) - set(known))
    if unknown:
        raise typer.BadParameter(f"unknown role(s) {unknown}; known: {', '.join(known)}")
    configure_logging(service="cli")
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sys.stderr)  # stdout carries only the token
    key, _ = load_or_create_keys(keys_dir)
    token = mint_token(key, sub=sub, roles=role, halls=hall, departments=department, ttl_seconds=ttl)
    audit("token_minted", via="cli", sub=sub, roles=role, halls=hall, departments=department, ttl_seconds=ttl,
          user=os.environ.get("USER"))
    typer.echo(token)


if __name__ == "__main__":
    app()
