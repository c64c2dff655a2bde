"""Acceptance service: any window accepts any matter (无差别受理)."""


import httpx
from fastapi import FastAPI

from services.acceptance import consumers, router
from services.acceptance.clients import FormsClient, TicketingClient
from services.acceptance.config import AcceptanceSettings
from services.acceptance.models import backbone
from shared.service_app import close_on_shutdown, create_service_app


def create_app(
    settings: AcceptanceSettings | None = None,
    *,
    forms_transport: httpx.AsyncBaseTransport | None = None,
    ticketing_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The acceptance app; ``forms_transport`` / ``ticketing_transport`` let tests reach those apps in-process."""
    settings = settings or AcceptanceSettings()
    app = create_service_app(
        settings=settings,
        title="OneWindow acceptance",
        description="Comprehensive acceptance (综合受理): applications for matters and bundles (一件事), "
        "prefill from forms, material checks, one-time notices (一次性告知), commitments (容缺受理), "
        "refusals, receipts with tracking QR codes, and one status history per application.",
        backbone=backbone,
        routers=[router.router, router.progress_router, router.questions_router],
        consumers=consumers.CONSUMERS,
    )
    forms = FormsClient(
        base_url=settings.forms_url,
        timeout=settings.forms_timeout_seconds,
        transport=forms_transport,
        failure_threshold=settings.forms_failure_threshold,
        open_seconds=settings.forms_open_seconds,
    )
    app.state.forms_client = forms
    app.state.ticketing_client = TicketingClient(
        base_url=settings.ticketing_url, timeout=settings.ticketing_timeout_seconds, transport=ticketing_transport
    )
    close_on_shutdown(app, forms, app.state.ticketing_client)
    return app


app = create_app()
