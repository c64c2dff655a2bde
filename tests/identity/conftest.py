"""A running identity app that signs with this test run's key, with a recording code sender."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest_asyncio

from services.identity.config import IdentitySettings
from services.identity.main import create_app
from services.identity.sender import RecordingSender
from shared.testing import running


def identity_settings(infra, keys_dir: Path, **overrides) -> IdentitySettings:  # type: ignore[no-untyped-def]
    """Identity settings for this run; the issuer key is the run's key, so all services accept them."""
    keys_dir.mkdir(parents=True, exist_ok=True)
    (keys_dir / "issuer.pem").write_bytes(infra.signing_key.private_pem)
    (keys_dir / "issuer.kid").write_text(infra.signing_key.kid)
    return infra.settings(IdentitySettings, keys_dir=str(keys_dir), **overrides)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def identity(infra, tmp_path_factory) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    """The identity service (codes are recorded on ``identity.app.state.code_sender``)."""
    settings = identity_settings(infra, tmp_path_factory.mktemp("identity-keys"), otp_resend_seconds=2)
    app = create_app(settings)
    app.state.code_sender = RecordingSender()
    async with running(app) as client:
        yield client
