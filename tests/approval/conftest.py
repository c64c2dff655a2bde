"""Approval test fixtures; helpers live in approval_support.py."""

import os
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from tests.approval.approval_support import Sender

# The background sweep uses the wall clock; tests drive time limits through POST /time-limits/sweep?as_of=
# and the service clock instead, so the background loop is off for the test run (read once at app start).
os.environ.setdefault("APPROVAL_SWEEP_INTERVAL_SECONDS", "0")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def sender(infra: Any) -> AsyncIterator[Sender]:
    """Sends application events through the real broker."""
    s = Sender(infra)
    yield s
    await s.bus.stop()
