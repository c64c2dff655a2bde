"""The outbox relay's backoff (tenacity) without a database: failures are retried with capped waits,
the outage and the recovery are logged once each, and stopping the relay is not a failure."""

import asyncio
import time

import pytest
from structlog.testing import capture_logs

from shared.outbox import OutboxRelay


class FlakyRelay(OutboxRelay):
    """publish_batch fails ``failures`` times, then publishes one short batch per call."""

    def __init__(self, failures: int, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(table=None, sessionmaker=None, sender=None, service="flaky", **kwargs)  # type: ignore[arg-type]
        self.failures = failures
        self.calls: list[float] = []

    async def check_broker(self) -> None:  # no broker here: only the publishing backoff is under test
        self.epoch = "test"

    async def publish_batch(self) -> int:
        self.calls.append(time.monotonic())
        if len(self.calls) <= self.failures:
            raise ConnectionError(f"broker down ({len(self.calls)})")
        return 1


async def test_relay_backs_off_then_recovers_and_logs_each_once() -> None:
    relay = FlakyRelay(4, max_backoff=0.05, poll_seconds=0.01)
    with capture_logs() as logs:
        task = asyncio.create_task(relay.run())
        while len(relay.calls) < 6:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    gaps = [b - a for a, b in zip(relay.calls, relay.calls[1:5], strict=False)]
    assert all(0.04 <= gap < 0.5 for gap in gaps)  # capped at max_backoff (the first wait would be 0.5 s)
    assert relay.healthy and relay.last_error is None
    events = [e["event"] for e in logs]
    assert events == ["outbox relay cannot publish; retrying with backoff", "outbox relay recovered"]


async def test_relay_reports_the_outage_while_it_lasts() -> None:
    relay = FlakyRelay(10**6, max_backoff=0.02)
    task = asyncio.create_task(relay.run())
    try:
        while len(relay.calls) < 3:
            await asyncio.sleep(0.01)
        assert not relay.healthy and "broker down" in (relay.last_error or "")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
