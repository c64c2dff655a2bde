"""The shape every service's FastAPI app shares: lifespan, health, metrics, problems, auth, backbone.

Start-up never crash-loops: migrations, topic creation, the outbox relay and the consumers start
in a background task that retries with backoff and logs one line per failure, while ``/readyz``
answers 503 with the reason.
"""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import MetaData, Table
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from shared import db, migrations, workdays
from shared.auth import Authenticator, KeySet, RevocationList, install_security, public
from shared.bus import EventConsumer, KafkaBus
from shared.edge import BodySizeLimit, ProxyHeadersMiddleware, trusted_proxies
from shared.handlers import ConsumerSpec
from shared.inbox import Inbox, inbox_table, prune_handled
from shared.observability import PRUNED, CorrelationMiddleware, configure_logging, get_logger
from shared.outbox import Outbox, OutboxRelay, outbox_table, prune_published
from shared.outbox import staged as outbox_staged
from shared.problems import DomainError, install_problem_handlers
from shared.settings import ServiceSettings

log = get_logger(__name__)


@dataclass
class Backbone:
    """Tables of the outbox and inbox in one service schema (models.py creates it at import)."""

    metadata: MetaData
    outbox_table: Table = field(init=False)
    inbox_table: Table = field(init=False)

    def __post_init__(self) -> None:
        self.outbox_table = outbox_table(self.metadata)
        self.inbox_table = inbox_table(self.metadata)


@dataclass
class Runtime:
    """Everything a running service holds; on ``app.state.runtime``."""

    settings: ServiceSettings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    bus: KafkaBus
    outbox: Outbox
    relay: OutboxRelay
    consumers: list[EventConsumer]
    inbox_table: Table | None = None
    started: bool = False
    draining: bool = False
    start_error: str | None = None
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    relay_task: asyncio.Task[None] | None = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commit on success (and on a ``DomainError`` that ``keeps_writes``, which is
        then re-raised), roll back on any other error; then wake the relay if it staged events."""
        kept: DomainError | None = None
        async with self.sessionmaker() as session, session.begin():
            try:
                yield session
            except DomainError as exc:
                if not exc.keeps_writes:
                    raise
                kept = exc  # leave the block normally: the transaction commits
        if outbox_staged(session):
            self.relay.wake()
        if kept is not None:
            raise kept


def create_service_app(
    *,
    settings: ServiceSettings,
    title: str,
    description: str,
    backbone: Backbone,
    routers: list[APIRouter],
    consumers: list[ConsumerSpec] | None = None,
    deps: Any = None,
    on_started: Callable[[Runtime], Any] | None = None,
    version: str = "0.1.0",
) -> FastAPI:
    """Build one service's app; the lifespan opens the engine, the relay and the consumers."""
    service = settings.service_name

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(service=service, level=settings.log_level, json=settings.log_json)
        _log_calendar(workdays.configure(settings.calendar_dir))
        engine = db.make_engine(settings.database_url, pool_size=settings.db_pool_size,
                                max_overflow=settings.db_max_overflow,
                                server_settings={"application_name": service})  # pg_stat_activity, logs
        sessionmaker = db.make_sessionmaker(engine)
        bus = KafkaBus(settings)
        outbox = Outbox(backbone.outbox_table, producer=service, topic_prefix=settings.topic_prefix)
        relay = OutboxRelay(
            table=backbone.outbox_table,
            sessionmaker=sessionmaker,
            sender=bus,
            service=service,
            batch_size=settings.relay_batch_size,
            poll_seconds=settings.relay_poll_seconds,
            check_seconds=settings.broker_check_seconds,
        )
        inbox = Inbox(backbone.inbox_table)
        runtime = Runtime(
            settings=settings,
            engine=engine,
            sessionmaker=sessionmaker,
            bus=bus,
            outbox=outbox,
            relay=relay,
            consumers=[
                EventConsumer(
                    bus=bus,
                    spec=spec,
                    sessionmaker=sessionmaker,
                    engine=engine,
                    inbox=inbox,
                    outbox=outbox,
                    deps=deps,
                    service=service,
                    on_commit=relay.wake,
                )
                for spec in consumers or []
            ],
            inbox_table=backbone.inbox_table,
        )
        app.state.runtime = runtime
        app.state.authenticator = Authenticator(
            keys=KeySet(jwks_file=settings.auth_jwks_file, jwks_url=settings.auth_jwks_url),
            issuer=settings.auth_issuer,
            audience=settings.auth_audience,
            service=service,
            accept_shared_audience=settings.auth_accept_shared_audience,
            revocations=RevocationList(url=settings.auth_revocations_url,
                                       poll_seconds=settings.auth_revocation_poll_seconds)
            if settings.auth_revocations_url else None,
        )
        runtime.tasks.append(asyncio.create_task(_start(runtime, on_started), name=f"{service}-start"))
        log.info("service starting", port_hint="see README", service=service)
        try:
            yield
        finally:
            await _drain(runtime)
            for task in runtime.tasks:
                task.cancel()
            # A client library may swallow a cancellation (aiokafka's start() was seen to); do not hang on it.
            _, stuck = await asyncio.wait(runtime.tasks, timeout=5) if runtime.tasks else (set(), set())
            if stuck:
                log.warning("tasks did not stop in time", tasks=sorted(t.get_name() for t in stuck))
            await bus.stop()
            await app.state.rate_limiter.aclose()  # closes a shared store's connections
            await engine.dispose()
            log.info("service stopped")

    app = FastAPI(title=title, description=description, version=version, lifespan=lifespan)
    install_security(
        app,
        service=service,
        per_minute=settings.public_rate_limit_per_minute,
        storage_uri=settings.rate_limit_storage_uri,
    )
    app.add_middleware(CorrelationMiddleware, service=service)
    # outermost (added last): the body limit, then the real client address, before anything else runs
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    if proxies := trusted_proxies(settings.forwarded_allow_ips):
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=proxies)
    install_problem_handlers(app)
    app.include_router(_ops_router())
    for router in routers:
        app.include_router(router)
    return app


async def _start(runtime: Runtime, on_started: Callable[[Runtime], Any] | None) -> None:
    """Migrate, then start the relay and the consumers; retry until it works."""
    settings = runtime.settings

    def _note(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        reason = _short(error) if error is not None else "?"
        if reason != runtime.start_error:  # one line per distinct failure, not one per attempt
            log.warning("database not reachable or not migrated; retrying", reason=reason)
        runtime.start_error = reason

    async for attempt in AsyncRetrying(
        wait=wait_exponential(multiplier=1, max=15), retry=retry_if_exception_type(Exception), before_sleep=_note
    ):
        with attempt:
            if settings.migrate_on_start:
                await asyncio.wait_for(
                    asyncio.to_thread(migrations.upgrade, settings.service_name, settings.database_url), 120
                )
            else:
                await db.ping(runtime.engine, timeout=5)
    runtime.start_error = None
    runtime.started = True
    runtime.relay_task = asyncio.create_task(runtime.relay.run(), name="outbox-relay")
    runtime.tasks.append(runtime.relay_task)
    runtime.tasks.append(asyncio.create_task(_housekeeping(runtime), name="backbone-housekeeping"))
    for consumer in runtime.consumers:
        runtime.tasks.append(asyncio.create_task(consumer.run(), name=f"consumer-{consumer.group}"))
    if on_started is not None:
        result = on_started(runtime)
        if asyncio.iscoroutine(result):
            await result
    log.info("service started", consumers=[c.group for c in runtime.consumers])


async def _housekeeping(runtime: Runtime) -> None:
    """Prune published outbox rows and handled inbox ids after their retention windows."""
    settings = runtime.settings
    while True:
        await asyncio.sleep(settings.prune_interval_seconds)
        try:
            gone = await prune_published(
                runtime.sessionmaker, runtime.relay.table, older_than=timedelta(hours=settings.outbox_retention_hours)
            )
            PRUNED.labels(settings.service_name, "outbox").inc(gone)
            if runtime.inbox_table is not None:
                forgotten = await prune_handled(
                    runtime.sessionmaker, runtime.inbox_table, older_than=timedelta(hours=settings.inbox_retention_hours)
                )
                PRUNED.labels(settings.service_name, "inbox").inc(forgotten)
        except Exception as exc:  # the database may be away; the next round tries again
            log.warning("pruning the outbox and inbox failed", error=_short(exc))


async def _drain(runtime: Runtime) -> None:
    """On shutdown (uvicorn has stopped taking requests and finished the open ones): let the consumers reach
    the end of their partitions and commit, and the relay publish what is left, within ``drain_seconds``.
    What is not done in time is not lost (the outbox and the committed offsets keep it); it waits for the
    next start."""
    if not runtime.started:
        return
    runtime.draining = True
    loop = asyncio.get_running_loop()
    began = loop.time()
    deadline = began + runtime.settings.drain_seconds
    for consumer in runtime.consumers:
        consumer.draining = True
    waiting = [asyncio.create_task(c.caught_up.wait()) for c in runtime.consumers]
    if waiting:
        await asyncio.wait(waiting, timeout=max(deadline - loop.time(), 0))
    for task in waiting:
        task.cancel()
    behind = [c.spec.group for c in runtime.consumers if not c.caught_up.is_set()]
    if runtime.relay_task is not None:  # the relay's own loop stops; flush() below publishes the rest
        runtime.relay_task.cancel()
    try:
        left = await runtime.relay.flush(deadline)
    except Exception as exc:
        left, behind = -1, [*behind, f"outbox ({_short(exc)})"]
    seconds = loop.time() - began
    summary = (
        f"drained in {seconds:.1f} s: outbox {'empty' if left == 0 else f'{left} left'}, consumers "
        + ("caught up" if not behind else f"not caught up: {', '.join(behind)}")
    )
    log.info("drained", summary=summary, unpublished=left, behind=behind, seconds=round(seconds, 2))


def _log_calendar(calendar: workdays.WorkCalendar) -> None:
    """Say at start which years are official, and warn when due dates will be counted on a provisional year."""
    today = workdays.hall_today()
    years = {y: calendar.source_of(y) for y in (today.year - 1, today.year, today.year + 1)}
    where = str(calendar.operator_dir) if calendar.operator_dir else None
    log.info("working-day calendar", sources={str(y): s for y, s in years.items()}, operator_dir=where)
    for key, text in calendar.warnings(today).items():
        log.warning("working-day calendar is not complete", warning=key, detail=text)


def _calendar_warnings(request: Request) -> dict[str, str]:
    """Calendar warnings as of the service's today (its pinned clock, if it has one)."""
    clock = getattr(request.app.state, "clock", None)
    today = clock.today() if clock is not None else workdays.hall_today()
    return workdays.default_calendar().warnings(today)


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _ops_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", dependencies=[public(rate_limited=False)], summary="Process is alive")
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @router.get(
        "/readyz",
        dependencies=[public(rate_limited=False)],
        summary="Database and broker reachable",
        responses={503: {"description": "Not ready; ``reasons`` says why"}},
    )
    async def readyz(request: Request) -> JSONResponse:
        """Readiness: migrated, not draining, database answers, broker answers. A broker that lost events
        is named under ``warnings`` until the relay has sent them again; so is a working-day calendar
        without the official schedule of this year or (from 1 November) next year (``calendar``)."""
        runtime: Runtime | None = getattr(request.app.state, "runtime", None)
        reasons: dict[str, str] = {}
        if runtime is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        if not runtime.started:
            reasons["startup"] = runtime.start_error or "migrating"
        if runtime.draining:
            reasons["shutdown"] = "draining"
        try:
            await db.ping(runtime.engine)
        except Exception as exc:
            reasons["database"] = _short(exc) or "timeout"
        try:
            await asyncio.wait_for(runtime.bus.ping(), 4)
        except Exception as exc:
            reasons["broker"] = _short(exc) or "timeout"
        if reasons:
            return JSONResponse({"status": "not_ready", "reasons": reasons}, status_code=503)
        warnings: dict[str, Any] = _calendar_warnings(request)  # due dates may move: named, still ready
        if runtime.relay.loss:  # requests are served meanwhile: named, not taken out of rotation
            warnings["broker_data_loss"] = runtime.relay.loss
        return JSONResponse({"status": "ready", "warnings": warnings} if warnings else {"status": "ready"})

    @router.get("/metrics", dependencies=[public(rate_limited=False)], summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        """Prometheus text exposition."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


class _Closable(Protocol):
    async def aclose(self) -> None: ...


def close_on_shutdown(app: FastAPI, *clients: _Closable) -> None:
    """Close the service's HTTP clients to other services after its own lifespan (drain included) ended."""
    service_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_lifespan(app):
            try:
                yield
            finally:
                for client in clients:
                    await client.aclose()

    app.router.lifespan_context = lifespan


async def get_runtime(request: Request) -> Runtime:
    # async, like every dependency here: FastAPI runs a plain ``def`` dependency in a worker thread, a
    # thread hand-off per request for reading an attribute
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Request boundary: one transaction per request (``Runtime.transaction``)."""
    runtime: Runtime = request.app.state.runtime
    async with runtime.transaction() as session:
        yield session


# scope="function": commit before the response is sent, so a failed commit is never reported as success.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
