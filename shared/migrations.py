"""Alembic per service: one migration history and version table in each service's own schema."""

import asyncio
import threading
import zlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from shared.registry import SERVICES

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(service: str, url: str) -> Config:
    """Programmatic Alembic config for ``services/<service>/migrations`` (a service of the registry)."""
    entry = SERVICES.get(service)
    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT.joinpath(*entry.package.split(".")) / "migrations"))
    cfg.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d-%%(hour).2d%%(minute).2d_%%(slug)s")
    cfg.attributes["url"] = url
    return cfg


# Alembic keeps its migration context in a module-level proxy: two upgrades at once in one process
# (several services in one test process) would share it, so they take turns.
_ALEMBIC_LOCK = threading.Lock()


def upgrade(service: str, url: str, revision: str = "head") -> None:
    """Bring the service's schema to ``revision`` (blocking; call in a thread from async code)."""
    with _ALEMBIC_LOCK:
        command.upgrade(alembic_config(service, url), revision)


def run_env(target_metadata: MetaData) -> None:
    """Body of every service's ``migrations/env.py``."""
    from alembic import context

    url = context.config.attributes.get("url")
    if not url:
        raise RuntimeError("run migrations through shared.migrations (url attribute missing)")
    asyncio.run(_run_async(url, target_metadata))


async def _run_async(url: str, metadata: MetaData) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_run_sync, metadata)
    finally:
        await engine.dispose()


def _run_sync(conn: Connection, metadata: MetaData) -> None:
    from alembic import context

    schema = metadata.schema
    assert schema, "each service keeps its tables in its own schema"
    lock_key = zlib.crc32(f"migrate:{schema}".encode())
    # Replicas starting together: one migrates, the others wait and then find nothing to do.
    conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": lock_key})
    try:
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        conn.commit()
        context.configure(
            connection=conn,
            target_metadata=metadata,
            version_table_schema=schema,
            include_schemas=True,
            include_name=lambda name, type_, _parent: type_ != "schema" or name == schema,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        conn.commit()
    finally:
        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key})
        conn.commit()
