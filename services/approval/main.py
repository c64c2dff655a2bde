"""Approval service: back-office approval by department, on the clock."""

import asyncio

import httpx
from fastapi import FastAPI

from services.approval import consumers, deadlines, router, time_limits
from services.approval.config import ApprovalSettings
from services.approval.models import backbone
from shared.readthrough import EnvelopeClient
from shared.service_app import Runtime, close_on_shutdown, create_service_app


def create_app(
    settings: ApprovalSettings | None = None, *, acceptance_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """The approval app; its background task sweeps time limits every ``sweep_interval_seconds``.
    ``acceptance_transport`` lets tests reach an acceptance app in-process (read-your-writes)."""
    settings = settings or ApprovalSettings()
    clock = deadlines.ServiceClock(timezone=settings.timezone)

    def on_started(runtime: Runtime) -> None:
        if settings.sweep_interval_seconds > 0:  # its first round recomputes stored due dates
            runtime.tasks.append(
                asyncio.create_task(
                    time_limits.sweep_forever(runtime, clock=clock, interval=settings.sweep_interval_seconds),
                    name="approval-time-limit-sweep",
                )
            )
        else:  # stored due dates follow the calendar loaded at start (e.g. next year's notice)
            runtime.tasks.append(
                asyncio.create_task(time_limits.recompute_on_start(runtime), name="approval-due-date-recompute")
            )

    app = create_service_app(
        settings=settings,
        title="OneWindow approval",
        description="Back-office approval by department (后台分类审批): tasks per matter, steps, decisions, "
        "working-day time limits with clock pauses, supplements (补正), site inspections (现场勘查), "
        "liaison hand-overs (联络官), post-checks of commitments (容缺/告知承诺).",
        backbone=backbone,
        routers=[router.router],
        consumers=consumers.CONSUMERS,
        deps=clock,
        on_started=on_started,
    )
    app.state.clock = clock
    acceptance = EnvelopeClient(base_url=settings.acceptance_url, timeout=settings.acceptance_timeout_seconds,
                                producer="acceptance", transport=acceptance_transport)
    app.state.acceptance_client = acceptance
    close_on_shutdown(app, app.state.acceptance_client)
    return app


app = create_app()
