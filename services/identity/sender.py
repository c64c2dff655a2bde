"""Notification senders for one-time codes. The default logs the message with the number masked."""

from typing import Protocol

from shared.observability import get_logger
from shared.privacy import mask_mobile

log = get_logger(__name__)


class CodeSender(Protocol):
    async def send_code(self, *, mobile: str, code: str, ttl_seconds: int) -> None:
        """Deliver ``code`` to ``mobile`` (an SMS gateway in production)."""


class LogSender:
    """Development sender: one log line per code; the code itself only when ``log_code`` is on."""

    def __init__(self, *, log_code: bool = False) -> None:
        self.log_code = log_code

    async def send_code(self, *, mobile: str, code: str, ttl_seconds: int) -> None:
        """Log that a code was sent (masked number; code only in development mode)."""
        log.info(
            "one-time code sent",
            channel="sms",
            recipient=mask_mobile(mobile),
            code=code if self.log_code else "******",
            ttl_seconds=ttl_seconds,
        )


class RecordingSender(LogSender):
    """Test hook: remembers the last code per mobile number (install on ``app.state.code_sender``)."""

    def __init__(self) -> None:
        super().__init__(log_code=False)
        self.codes: dict[str, str] = {}

    async def send_code(self, *, mobile: str, code: str, ttl_seconds: int) -> None:
        """Record and log."""
        self.codes[mobile] = code
        await super().send_code(mobile=mobile, code=code, ttl_seconds=ttl_seconds)

    def last_code(self, mobile: str) -> str | None:
        """The last code sent to ``mobile``."""
        return self.codes.get(mobile)
