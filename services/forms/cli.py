"""Forms commands: ``python -m services.forms.cli import-catalog FILE [--publish]``."""

import asyncio
import json
from pathlib import Path

import typer
from pydantic import ValidationError

from services.forms import publishing
from services.forms.config import FormsSettings
from services.forms.models import backbone
from services.forms.schemas import CatalogFile
from shared import db, migrations
from shared.outbox import Outbox
from shared.problems import DomainError

app = typer.Typer(help="Forms service commands.", no_args_is_help=True)


@app.callback()
def main() -> None:
    """Forms service commands."""


async def _import(path: Path, *, publish: bool) -> tuple[int, str]:
    settings = FormsSettings()
    content = CatalogFile.model_validate(json.loads(path.read_text(encoding="utf-8")))
    await asyncio.to_thread(migrations.upgrade, settings.service_name, settings.database_url)
    engine = db.make_engine(settings.database_url, pool_size=2)
    try:
        async with db.make_sessionmaker(engine)() as session, session.begin():
            row = await publishing.create_draft(session, content=content, by="cli")
            if publish:
                outbox = Outbox(backbone.outbox_table, producer=settings.service_name, topic_prefix=settings.topic_prefix)
                row = await publishing.publish(session, version=row.version, outbox=outbox, by="cli")
            return row.version, row.status
    finally:
        await engine.dispose()


@app.command("import-catalog")
def import_catalog(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="A catalogue file in the reference format."),
    publish: bool = typer.Option(False, "--publish", help="Publish it too (the relay sends the catalog.* events)."),
) -> None:
    """Load a catalogue file as a new draft version (and publish it with --publish)."""
    try:
        version, status = asyncio.run(_import(file, publish=publish))
    except ValidationError as exc:
        for error in exc.errors()[:50]:
            typer.echo(f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}", err=True)
        raise typer.Exit(2) from exc
    except DomainError as exc:
        typer.echo(exc.detail, err=True)
        for item in exc.errors or []:
            typer.echo(f"{item.field}: {item.message}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"catalogue version {version}: {status}")


if __name__ == "__main__":
    app()
