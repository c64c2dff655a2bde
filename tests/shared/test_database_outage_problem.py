"""A request that cannot reach PostgreSQL is a 503 problem with Retry-After (an outage, nothing changed),
not a 500; other OS errors stay server errors. The driver really fails to connect (a socket that is gone)."""

import asyncpg
import httpx
from fastapi import FastAPI

from shared.problems import install_problem_handlers


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/needs-database")
    async def needs_database() -> dict[str, str]:
        await asyncpg.connect("postgresql://postgres@/onewindow?host=/tmp/ow-no-such-socket-dir")
        return {"status": "unreachable"}

    @app.get("/reads-a-file")
    async def reads_a_file() -> dict[str, str]:
        open("/ow-no-such-file")  # noqa: ASYNC230, SIM115 (the error is the point)
        return {"status": "unreachable"}

    return app


async def test_an_unreachable_database_is_a_503_problem_and_a_missing_file_a_500() -> None:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        outage = await client.get("/needs-database")
        bug = await client.get("/reads-a-file")
    assert outage.status_code == 503 and outage.headers["retry-after"] == "5"
    assert outage.headers["content-type"].startswith("application/problem+json")
    assert outage.json()["code"] == "database_unavailable"
    assert bug.status_code == 500
