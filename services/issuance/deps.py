"""What issuance rules need besides the session (outbox, signing key, settings), and staging events."""

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from services.issuance.config import IssuanceSettings
from services.issuance.models import Application
from services.issuance.signing import LicenceSigner
from shared.events.envelope import Event
from shared.outbox import Outbox


@dataclass
class IssuanceDeps:
    """What issuance rules need besides the session: the outbox, the signing key and the settings."""

    outbox: Outbox
    signer: LicenceSigner
    settings: IssuanceSettings

    def today(self) -> date:
        """Today's date in the service's time zone (Asia/Shanghai by default)."""
        return datetime.now(ZoneInfo(self.settings.timezone)).date()


async def emit(
    session: AsyncSession,
    event: Event,
    *,
    app: Application | None,
    deps: IssuanceDeps,
    hall: str | None = None,
) -> None:
    """Stage ``event`` with the application's correlation id (when known): one id from ticket to licence."""
    await deps.outbox.add(session, event, correlation_id=app.correlation_id if app else None, hall=hall)
