"""Acceptance service: any window accepts any matter (无差别受理)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from services.acceptance import consumers, router
from services.acceptance.clients import FormsClient
from services.acceptance.config import AcceptanceSettings
from services.acceptance.models import backbone
from shared.service_app import create_service_app


def create_app(
    settings: AcceptanceSettings | None = None, *, forms_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """The acceptance app; ``forms_transport`` lets tests reach a forms app in-process."""
    settings = settings or AcceptanceSettings()
    app = create_service_app(
        settings=settings,
        title="OneWindow acceptance",
        description="Comprehensive acceptance (综合受理): applications for matters and bundles (一件事), "
        "prefill from forms, material checks, one-time notices (一次性告知), commitments (容缺受理), "
        "refusals, receipts with tracking QR codes, and one status history per application.",
        backbone=backbone,
        routers=[router.router, router.progress_router],
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
    service_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_lifespan(app):
            try:
                yield
            finally:
                await forms.aclose()

    app.router.lifespan_context = lifespan
    return app


app = create_app()
