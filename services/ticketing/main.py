"""Ticketing service: the unified smart queue of a hall (numbers, routing, calls, appointments, boards)."""

import asyncio

from fastapi import FastAPI

from services.ticketing import channels, consumers, halls, router
from services.ticketing.config import TicketingSettings
from services.ticketing.models import backbone
from services.ticketing.numbering import TicketNumbers
from services.ticketing.snapshots import Snapshots
from services.ticketing.wakeups import Wakeups
from shared.service_app import Runtime, close_on_shutdown, create_service_app


def _on_started(runtime: Runtime) -> None:
    """Publish halls that other services have not heard of yet (created before hall.published existed)."""
    runtime.tasks.append(asyncio.create_task(halls.publish_pending_at_start(runtime), name="ticketing-halls"))


def create_app(settings: TicketingSettings | None = None) -> FastAPI:
    """The ticketing app."""
    settings = settings or TicketingSettings()
    app = create_service_app(
        settings=settings,
        title="OneWindow ticketing",
        description="The unified smart queue (智能排队叫号): a citizen picks the matter, the hall routes the number "
        "to the window group with the least expected wait. Halls, zones, windows and skills, numbers, calls, "
        "appointments (预约), display boards (SSE), ratings and queue statistics.",
        backbone=backbone,
        routers=[router.router],
        consumers=consumers.CONSUMERS,
        on_started=_on_started,
    )
    app.state.kiosk_rate_limiter = channels.kiosk_limiter(settings)
    app.state.ticket_numbers = TicketNumbers(settings.database_url)  # connects on first use
    app.state.snapshots = Snapshots()
    app.state.wakeups = Wakeups(settings.database_url)
    # their connections
    close_on_shutdown(app, app.state.kiosk_rate_limiter, app.state.ticket_numbers, app.state.wakeups)
    return app


app = create_app()
