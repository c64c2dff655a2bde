"""Property-based fuzzing of every service's OpenAPI document (schemathesis): no 5xx, no response
that breaks its own schema.

Every service runs against its own fresh database and topic prefix (so random requests never touch
the data of other tests), served by uvicorn inside this event loop; schemathesis sends its generated
requests from a worker thread with a token that holds every role in every hall and department.
Bounded: ``ONEWINDOW_FUZZ_EXAMPLES`` examples per operation (default 6), derandomized, no shrinking.
"""

import asyncio
import os
import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import uvicorn

from shared.auth import Role
from shared.infra import ensure_database, free_port, wait_for
from shared.registry import SERVICES
from shared.validators import id_number_check_digit

ROOT = Path(__file__).resolve().parents[2]
PRESENT = list(SERVICES.names)  # every registered service
EXAMPLES = int(os.environ.get("ONEWINDOW_FUZZ_EXAMPLES", "6"))
SKIPPED_PATHS = re.compile(r"/stream$")  # Server-Sent Events never end; tested by their service


def _fuzz_database_url(url: str) -> tuple[str, str]:
    """(admin libpq URI, SQLAlchemy URL) of a separate ``onewindow_fuzz`` database on the test server."""
    base, _, query = url.partition("?")
    server, _, _ = base.rpartition("/")
    suffix = f"?{query}" if query else ""
    admin = f"{server}/postgres{suffix}".replace("postgresql+asyncpg://", "postgresql://")
    return admin, f"{server}/onewindow_fuzz{suffix}"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def fuzz_servers(infra, tmp_path_factory) -> AsyncIterator[dict[str, str]]:  # type: ignore[no-untyped-def]
    """Every present service on its own port, own database, own topics; name -> base URL."""
    admin, database_url = _fuzz_database_url(infra.database_url)
    await ensure_database(admin, "onewindow_fuzz")
    prefix = f"{infra.topic_prefix}fuzz."
    ports = {name: free_port() for name in PRESENT}  # known first: services call each other (registry calls)
    async with AsyncExitStack() as stack:
        apps = {}
        for name in PRESENT:
            entry = SERVICES.get(name)
            overrides: dict[str, Any] = {"database_url": database_url, "topic_prefix": prefix}
            overrides |= {f"{peer}_url": f"http://127.0.0.1:{ports[peer]}" for peer in entry.calls if peer in ports}
            if name == "identity":
                keys = tmp_path_factory.mktemp("fuzz-keys")
                (keys / "issuer.pem").write_bytes(infra.signing_key.private_pem)
                (keys / "issuer.kid").write_text(infra.signing_key.kid)
                overrides["keys_dir"] = str(keys)
            app = entry.module("main").create_app(infra.settings(entry.settings_class(), **overrides))
            await stack.enter_async_context(app.router.lifespan_context(app))
            apps[name] = app
            # one at a time: Alembic's context is process-global, concurrent migrations in one process clash
            await wait_for(
                lambda app=app: app.state.runtime.started, timeout=120, message=f"fuzz {name} started"
            )
        urls: dict[str, str] = {}
        servers = []
        for name, app in apps.items():
            port = ports[name]
            server = uvicorn.Server(
                uvicorn.Config(
                    app, host="127.0.0.1", port=port, lifespan="off", log_config=None, access_log=False
                )
            )
            servers.append((server, asyncio.create_task(server.serve())))
            urls[name] = f"http://127.0.0.1:{port}"
        await wait_for(lambda: all(s.started for s, _ in servers), timeout=30, message="uvicorn up")
        try:
            yield urls
        finally:
            for server, _ in servers:
                server.should_exit = True
            await asyncio.gather(*(task for _, task in servers), return_exceptions=True)


def _fuzz(service: str, base_url: str, token: str) -> tuple[list[str], int]:
    """Run schemathesis over every operation of ``service``; (failures, operations tested). Blocking."""
    import requests
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    tested = 0
    session = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()
        if SKIPPED_PATHS.search(operation.path):
            continue
        tested += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )
        def check(case) -> None:  # type: ignore[no-untyped-def]
            case.call_and_validate(
                base_url=base_url,
                session=session,
                headers=headers,
                checks=[not_a_server_error, response_schema_conformance],
                timeout=15,
            )

        try:
            check()
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure, report all at once
            failures.append(f"--- {service} {operation.method.upper()} {operation.path}\n{str(exc)[:2500]}")
    return failures, tested


@pytest.mark.parametrize("service", PRESENT)
async def test_fuzzing_finds_no_server_errors_and_no_schema_violations(
    service: str, fuzz_servers, infra
) -> None:  # type: ignore[no-untyped-def]
    first17 = "11010519900307123"
    token = infra.token(
        *sorted(str(r) for r in Role),
        sub=first17 + id_number_check_digit(first17),
        halls=["*"],
        departments=["*"],
    )
    failures, tested = await asyncio.to_thread(_fuzz, service, fuzz_servers[service], token)
    assert tested > 0
    assert not failures, f"{len(failures)} of {tested} operations failed:\n" + "\n".join(failures)
