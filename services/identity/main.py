"""Identity service: the embedded token issuer (JWKS, OIDC discovery, staff and applicant login)."""

from fastapi import FastAPI

from services.identity import consumers, router, staff
from services.identity.config import IdentitySettings
from services.identity.issuer import load_issuer
from services.identity.models import backbone
from services.identity.sender import LogSender
from shared.service_app import create_service_app


def create_app(settings: IdentitySettings | None = None) -> FastAPI:
    """The identity app; signs with the key under ``keys_dir`` and verifies its own tokens with it."""
    settings = settings or IdentitySettings()
    keys = load_issuer(keys_dir=settings.keys_dir)
    if not settings.auth_jwks_file and not settings.auth_jwks_url:
        settings = settings.model_copy(update={"auth_jwks_file": str(keys.jwks_path)})
    app = create_service_app(
        settings=settings,
        title="OneWindow identity",
        description="Embedded token issuer: staff and device login against the seed accounts, applicant "
        "login with a one-time SMS code, JWKS and OpenID Connect discovery, and the security audit log. In "
        "production, point every service at an external OpenID Connect provider instead (docs/security.md).",
        backbone=backbone,
        routers=[router.router],
        consumers=consumers.CONSUMERS,
        deps=keys,
    )
    app.state.issuer = keys
    app.state.staff = staff.load_staff(path=settings.staff_seed_file)
    app.state.code_sender = LogSender(log_code=settings.otp_log_code)
    return app


app = create_app()
