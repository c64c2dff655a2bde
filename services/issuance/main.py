"""Issuance service: results, the electronic licence library, pickup/mail delivery and notifications."""

import httpx
from fastapi import FastAPI

from services.issuance import consumers, notify, router, signing
from services.issuance.config import IssuanceSettings
from services.issuance.models import backbone
from shared.readthrough import EnvelopeClient
from shared.service_app import close_on_shutdown, create_service_app


def create_app(
    settings: IssuanceSettings | None = None,
    *,
    acceptance_transport: httpx.AsyncBaseTransport | None = None,
    approval_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The issuance app; refuses to start in production without a licence signing key. The transports let
    tests reach acceptance and approval apps in-process (read-your-writes)."""
    settings = settings or IssuanceSettings()
    signer = signing.load_signer(settings)
    sender = notify.make_sender(settings)
    app = create_service_app(
        settings=settings,
        title="OneWindow issuance",
        description="One window hands out every result (统一出件): decision results, the electronic licence "
        "library (电子证照库) with Ed25519-signed licences and public verification, pickup at any hall's "
        "issuance window or delivery by mail, notifications, revocation.",
        backbone=backbone,
        routers=[router.router],
        consumers=consumers.CONSUMERS,
        deps=consumers.Resources(signer=signer, sender=sender, settings=settings),
    )
    app.state.signer = signer
    app.state.sender = sender
    budget = settings.read_through_timeout_seconds
    app.state.acceptance_client = EnvelopeClient(base_url=settings.acceptance_url, timeout=budget,
                                                 producer="acceptance", transport=acceptance_transport)
    app.state.approval_client = EnvelopeClient(base_url=settings.approval_url, timeout=budget,
                                               producer="approval", transport=approval_transport)
    close_on_shutdown(app, app.state.acceptance_client, app.state.approval_client)
    return app


app = create_app()
