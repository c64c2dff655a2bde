"""The bare ceiling: FastAPI + asyncpg and nothing else, on the stack's own PostgreSQL.

- ``GET /json``: a small JSON answer, no database. What the load generator plus uvicorn can do on this
  machine at all: the load generator's own overhead.
- ``POST /insert``: one INSERT of a ticket-like row per request (pool of 20 connections, as a service's
  SQLAlchemy pool of 10 + 10 overflow), answered with JSON. The best a write path could do here.

Run by uvicorn in its own process, started the way the stack starts a service (``start()``); the
rows go to its own schema ``bench_ref``, which no service reads.
"""

import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI, Request

from shared.infra import die_with_parent, free_port

ROOT = Path(__file__).resolve().parent.parent
DDL = """
CREATE SCHEMA IF NOT EXISTS bench_ref;
CREATE TABLE IF NOT EXISTS bench_ref.tickets (
    id uuid PRIMARY KEY,
    hall varchar(40) NOT NULL,
    number varchar(20) NOT NULL,
    matter_code varchar(40) NOT NULL,
    status varchar(20) NOT NULL,
    issued_at timestamptz NOT NULL
);
"""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    pool = await asyncpg.create_pool(os.environ["BENCH_DATABASE_URL"], min_size=20, max_size=20)
    async with pool.acquire() as conn:
        await conn.execute(DDL)
    app.state.pool = pool
    yield
    await pool.close()


app = FastAPI(lifespan=lifespan)


@app.get("/json")
async def json_route() -> dict[str, Any]:
    return {"ok": True, "service": "reference", "n": 1}


@app.post("/insert", status_code=201)
async def insert(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    ticket_id, now = uuid.uuid4(), datetime.now(UTC)
    number = str(body.get("number", "A001"))
    async with request.app.state.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO bench_ref.tickets (id, hall, number, matter_code, status, issued_at)"
            " VALUES ($1, $2, $3, $4, 'waiting', $5)",
            ticket_id, str(body.get("hall", "REF")), number, str(body.get("matter_code", "SCJG-001")), now,
        )
    return {"id": str(ticket_id), "number": number, "status": "waiting", "issued_at": now.isoformat()}


def start(database_url: str, *, log: Path, timeout: float = 30) -> tuple["subprocess.Popen[bytes]", str]:
    """Run this app under uvicorn (the services' flags) on a free port; returns the process and its URL."""
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "benchmarks.reference_app:app", "--host", "127.0.0.1",
             "--port", str(port), "--no-access-log"],
            cwd=ROOT, env=os.environ | {"BENCH_DATABASE_URL": database_url},
            stdout=out, stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/json", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the reference app did not start; see {log}")
        time.sleep(0.1)
