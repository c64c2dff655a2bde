"""The peak resident memory of a server process (and its children) while a load runs."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import psutil  # type: ignore[import-untyped]  # no stubs in the lock (types-psutil)


@dataclass
class Peak:
    mb: float = 0.0


def rss_mb(process: psutil.Process) -> float:
    """RSS of the process and its children (a service is one uvicorn process today; workers would be children)."""
    total = 0
    with contextlib.suppress(psutil.Error):
        for p in [process, *process.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
    return total / 2**20


@contextlib.asynccontextmanager
async def peak_rss(pid: int, *, every: float = 0.25) -> AsyncIterator[Peak]:
    """Sample the RSS of process ``pid`` every ``every`` seconds inside the block (and once after); the max."""
    process = psutil.Process(pid)
    peak = Peak(rss_mb(process))

    async def sample() -> None:
        while True:
            peak.mb = max(peak.mb, rss_mb(process))
            await asyncio.sleep(every)

    task = asyncio.create_task(sample())
    try:
        yield peak
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        peak.mb = max(peak.mb, rss_mb(process))
