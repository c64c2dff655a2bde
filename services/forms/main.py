"""Forms service: field dictionary, materials, matter catalogue, applicant profiles and prefill."""

from fastapi import FastAPI

from services.forms import consumers, router
from services.forms.config import FormsSettings
from services.forms.models import backbone
from shared.service_app import create_service_app


def create_app(settings: FormsSettings | None = None) -> FastAPI:
    """The forms app."""
    return create_service_app(
        settings=settings or FormsSettings(),
        title="OneWindow forms",
        description="Field dictionary (表单字段库), materials library (申请材料库), matter catalogue "
        "(事项目录) with bundles (一件事), applicant profiles and auto-fill (prefill).",
        backbone=backbone,
        routers=router.routers,
        consumers=consumers.CONSUMERS,
    )


app = create_app()
