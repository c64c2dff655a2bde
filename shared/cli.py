"""Operator and developer commands: ``python -m shared.cli --help`` (or ``onewindow --help``)."""

import asyncio
import json
import os
import tempfile
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import typer
from alembic import command

from shared import migrations
from shared.registry import SERVICES, ServiceEntry
from shared.settings import ServiceSettings

app = typer.Typer(help="OneWindow operator and developer commands.", no_args_is_help=True)
dlq_app = typer.Typer(help="Dead-letter topics.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


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


def _dlq_group(group: str) -> str:
    """The service that declares consumer group GROUP; an unknown group is refused before any connection."""
    from shared.dlq import UnknownGroupError, check_group, known_groups

    known = known_groups()
    try:
        return known[check_group(group, known=known)]
    except UnknownGroupError as exc:
        raise typer.BadParameter(str(exc), param_hint="GROUP") from None


def _on_broker(work: Coroutine[Any, Any, T]) -> T:
    """Run ``work``; a broker that cannot be reached is one clear line and exit code 1, not a traceback."""
    from aiokafka.errors import KafkaConnectionError

    try:
        return asyncio.run(work)
    except (KafkaConnectionError, OSError) as exc:
        typer.echo(f"cannot reach the broker: {exc}", err=True)  # aiokafka's message names the address
        raise typer.Exit(1) from None
    except TimeoutError as exc:  # a start that never answered, or a replay past its deadline
        typer.echo(f"timed out: {exc or 'the broker did not answer in time'}", err=True)
        raise typer.Exit(1) from None


@dlq_app.command("replay")
def dlq_replay(group: str = typer.Argument(..., help="Consumer group, e.g. approval")) -> None:
    """Re-publish GROUP's dead letters to their original topics; only GROUP applies them again."""
    from shared.bus import KafkaBus
    from shared.dlq import ReplayResult, replay_dead_letters

    service = _dlq_group(group)
    settings = _settings(service)  # the owning service's broker and topic prefix

    async def _go() -> ReplayResult:
        bus = KafkaBus(settings)
        try:
            return await replay_dead_letters(bus, group=group)
        finally:
            await bus.stop()

    typer.echo(_on_broker(_go()).summary())


@dlq_app.command("list")
def dlq_list() -> None:
    """Every consumer group's dead letters: how many, and how many no replay has taken yet."""
    from shared.bus import KafkaBus
    from shared.dlq import DlqStatus, dlq_status, known_groups

    async def _go() -> list[tuple[str, str, DlqStatus]]:
        # Each group through its own service's settings: that is the broker and prefix it uses.
        return [(group, service, await dlq_status(KafkaBus(_settings(service)), group=group))
                for group, service in known_groups().items()]

    rows = _on_broker(_go())
    wg = max(len("group"), *(len(group) for group, _, _ in rows))
    ws = max(len("service"), *(len(service) for _, service, _ in rows))
    wt = max(len("topic"), *(len(status.dlq_topic) for _, _, status in rows))
    typer.echo(f"{'group':<{wg}}  {'service':<{ws}}  {'topic':<{wt}}  dead letters  not replayed")
    for group, service, status in rows:  # "-": no DLQ topic yet, the group never ran against this broker
        counts = f"{status.total:>12}  {status.pending:>12}" if status.exists else f"{'-':>12}  {'-':>12}"
        typer.echo(f"{group:<{wg}}  {service:<{ws}}  {status.dlq_topic:<{wt}}  {counts}")


@dlq_app.command("show")
def dlq_show(
    group: str = typer.Argument(..., help="Consumer group, e.g. approval"),
    last: int = typer.Option(10, "--last", "-n", min=1, help="How many of the newest dead letters."),
) -> None:
    """GROUP's counts and newest dead letters: type, event id, origin, error (never the payload)."""
    from shared.bus import KafkaBus
    from shared.dlq import DlqStatus, dlq_status

    service = _dlq_group(group)
    settings = _settings(service)

    async def _go() -> DlqStatus:
        return await dlq_status(KafkaBus(settings), group=group, last=last)

    status = _on_broker(_go())
    if not status.exists:
        typer.echo(f"{status.dlq_topic}: no such topic yet (group {group} has dead-lettered nothing)")
        return
    typer.echo(f"{status.dlq_topic}: {status.total} dead letter(s), {status.pending} not replayed yet")
    for letter in status.last:
        typer.echo(f"  {letter.offset:<8} {letter.failed_at}  {letter.type}  {letter.event_id}  "
                   f"from {letter.original}")
        typer.echo(f"           {letter.error}")


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


@app.command("calendar")
def calendar_cmd(
    years: list[int] = typer.Argument(None, help="Years to show; this year and next when omitted."),
    directory: Path | None = typer.Option(
        None, "--dir", help="Operator notice files calendar-cn-YYYY.json (default: ONEWINDOW_CALENDAR_DIR)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """The working-day calendar per year: its source (operator / shipped / package / statutory =
    provisional), the State Council notice, weekdays off and adjusted working days. Exits 1 when an
    operator file cannot be used (check a new notice file with --dir before the services load it)."""
    from shared import workdays

    calendar = workdays.WorkCalendar.load(operator_dir=directory or os.environ.get(workdays.ENV_DIR) or None)
    today = workdays.hall_today()
    shown = [calendar.schedule(y).describe() for y in (years or [today.year, today.year + 1])]
    if as_json:
        typer.echo(json.dumps({"years": shown, "errors": calendar.errors}, ensure_ascii=False, indent=2))
    else:
        for year in shown:
            status = "PROVISIONAL (statutory holidays only, no adjusted working days)" if year["provisional"] else "official"
            typer.echo(f"{year['year']}: {status}; source {year['source']}: {year['origin']}")
            if year["notice"]:
                typer.echo(f"  notice: {year['notice'].get('title')} ({year['notice'].get('published', '?')})")
            typer.echo(f"  weekdays off: {', '.join(year['days_off']) or '-'}")
            typer.echo(f"  adjusted working days: {', '.join(year['extra_working_days']) or '-'}")
        for error in calendar.errors:
            typer.echo(f"unusable: {error}", err=True)
    if calendar.errors:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
