"""Forms service: field dictionary, materials, matter catalogue, applicant profiles and prefill."""

import httpx
from fastapi import FastAPI

from services.forms import consumers, router
from services.forms.config import FormsSettings
from services.forms.models import backbone
from services.forms.reading_basis import BasisClient
from shared.service_app import close_on_shutdown, create_service_app


def create_app(
    settings: FormsSettings | None = None, acceptance_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """The forms app (``acceptance_transport``: where reading-basis checks go, for tests)."""
    settings = settings or FormsSettings()
    app = create_service_app(
        settings=settings,
        title="OneWindow forms",
        description="Field dictionary (表单字段库), materials library (申请材料库), matter catalogue "
        "(事项目录) with bundles (一件事), applicant profiles and auto-fill (prefill).",
        backbone=backbone,
        routers=router.routers,
        consumers=consumers.CONSUMERS,
    )
    app.state.basis_client = BasisClient(
        base_url=settings.acceptance_url, timeout=settings.reading_basis_timeout_seconds,
        cache_seconds=settings.reading_basis_cache_seconds, transport=acceptance_transport,
    )
    close_on_shutdown(app, app.state.basis_client)
    return app


app = create_app()
