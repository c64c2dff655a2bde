"""A service with an unreachable database or broker says so, keeps retrying and reports not-ready."""

import logging

import httpx

from services.forms.config import FormsSettings
from services.forms.main import create_app
from shared import migrations
from shared.infra import free_port, wait_for


async def _client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_unreachable_database_is_reported_not_ready_without_crashing(
    infra, caplog, monkeypatch
) -> None:
    dead = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nowhere"
    app = create_app(infra.settings(FormsSettings, database_url=dead, migrate_on_start=True))
    caplog.set_level(logging.WARNING)
    attempts: list[str] = []  # one entry per start attempt (each migrates first)
    upgrade = migrations.upgrade

    def counted_upgrade(service: str, url: str, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        if url == dead:
            attempts.append(service)
        upgrade(service, url, *args, **kwargs)

    monkeypatch.setattr(migrations, "upgrade", counted_upgrade)
    async with app.router.lifespan_context(app), await _client(app) as client:
        assert (await client.get("/healthz")).status_code == 200
        # the first attempt and two retries after backing off (about 1 s, then 2 s)
        await wait_for(lambda: len(attempts) >= 3, timeout=60, interval=0.1, message="three start attempts")
        response = await client.get("/readyz")
        assert response.status_code == 503
        body = response.json()
        assert "database" in body["reasons"] and "startup" in body["reasons"]
        runtime = app.state.runtime
        assert not runtime.started and runtime.start_error
        start_task = runtime.tasks[0]
        assert not start_task.done()  # still retrying, not crashed
    retry_lines = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retry_lines) <= 2  # one line per distinct failure, not one traceback per retry


async def test_unreachable_broker_is_reported_not_ready(infra) -> None:
    app = create_app(infra.settings(FormsSettings, kafka_bootstrap=f"127.0.0.1:{free_port()}"))
    async with app.router.lifespan_context(app), await _client(app) as client:
        await wait_for(lambda: app.state.runtime.started, timeout=60, message="migrations")
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert "broker" in response.json()["reasons"]
        assert "database" not in response.json()["reasons"]


async def test_ready_service_answers_readyz_metrics_and_openapi(forms) -> None:
    ready = (await forms.get("/readyz")).json()
    assert ready["status"] == "ready" and set(ready.get("warnings", {})) <= {"calendar"}  # see test_calendar_api
    metrics = await forms.get("/metrics")
    assert "onewindow_http_requests_total" in metrics.text
    openapi = (await forms.get("/openapi.json")).json()
    assert openapi["info"]["title"] == "OneWindow forms"
    response = await forms.get("/healthz", headers={"X-Correlation-ID": "abc-1"})
    assert response.headers["X-Correlation-ID"] == "abc-1"
