"""A closed-loop HTTP load generator on aiohttp (far less overhead per request than httpx).

``connections`` workers, each with its own keep-alive connection, send one request after another for
``seconds`` after a short warm-up (connections opened, pools and caches warm; not counted). A worker
runs a *step* over and over: one request for most paths, or a short sequence (call-next, then finish
with the id it got). Every request is timed from send to the last byte of the answer and recorded
under its name with its status. It runs in the bench's own process on the same cores as the servers;
the bare ``GET /json`` row shows what that costs (and ``cpu_us_per_request`` its own CPU).
"""

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson


@dataclass(frozen=True)
class Call:
    """One request: method, path (from the base URL), headers and an optional JSON body."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list (nan when empty)."""
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, round(p / 100 * (len(sorted_values) - 1)))]


@dataclass
class Figures:
    """What one name's requests did in the measured window."""

    count: int
    per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    statuses: dict[str, int]


@dataclass
class Result:
    """A run: per request name, the steps completed per second, and the generator's own CPU."""

    seconds: float
    steps_per_second: float
    step_p50_ms: float
    step_p95_ms: float
    step_p99_ms: float
    by_name: dict[str, Figures]
    cpu_us_per_request: float

    @property
    def errors(self) -> int:
        return sum(f.errors for f in self.by_name.values())


class Worker:
    """One connection and what its requests took (recorded only while ``recording``)."""

    def __init__(self, session: aiohttp.ClientSession, recorder: "_Recorder") -> None:
        self.session = session
        self.recorder = recorder

    async def send(self, name: str, call: Call, *, ok: tuple[int, ...] = (200, 201, 204)) -> tuple[int, Any]:
        """Send ``call``; returns (status, parsed JSON or None). A status outside ``ok`` or a failure to
        connect is an error; neither stops the run."""
        headers = call.headers
        data = None
        if call.json is not None:
            data = orjson.dumps(call.json)
            headers = {**headers, "Content-Type": "application/json"}
        started = time.perf_counter()
        try:
            async with self.session.request(call.method, call.path, data=data, headers=headers) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.recorder.add(name, time.perf_counter() - started, type(exc).__name__, error=True)
            return 0, None
        self.recorder.add(name, time.perf_counter() - started, str(status), error=status not in ok)
        return status, (orjson.loads(raw) if raw and status < 300 else None)


class _Recorder:
    def __init__(self) -> None:
        self.recording = False
        self.seconds: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, Counter[str]] = defaultdict(Counter)
        self.errors: Counter[str] = Counter()
        self.steps: list[float] = []

    def add(self, name: str, seconds: float, status: str, *, error: bool) -> None:
        if self.recording:
            self.seconds[name].append(seconds)
            self.statuses[name][status] += 1
            if error:
                self.errors[name] += 1


Step = Callable[[Worker, int], Awaitable[None]]


def single(name: str, factory: Callable[[int], Call], *, ok: tuple[int, ...] = (200, 201, 204)) -> Step:
    """A step of one request made by ``factory(worker index)``."""

    async def step(worker: Worker, index: int) -> None:
        await worker.send(name, factory(index), ok=ok)

    return step


async def run(base_url: str, step: Step, *, connections: int, seconds: float, warmup: float = 2.0,
              timeout: float = 30.0) -> Result:
    """Run ``step`` on ``connections`` workers for ``warmup`` + ``seconds``; figures of the last ``seconds``."""
    recorder = _Recorder()
    stop_at = time.monotonic() + warmup + seconds

    async def loop(index: int) -> None:
        # one keep-alive connection per worker and service (an end-to-end step calls several)
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=1, force_close=False)
        async with aiohttp.ClientSession(
            base_url, connector=connector, timeout=aiohttp.ClientTimeout(total=timeout),
            skip_auto_headers=("User-Agent",),
        ) as session:
            worker = Worker(session, recorder)
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                await step(worker, index)
                if recorder.recording:
                    recorder.steps.append(time.perf_counter() - started)

    async def window() -> tuple[float, float]:
        await asyncio.sleep(warmup)
        recorder.recording = True
        began, cpu = time.perf_counter(), time.process_time()
        await asyncio.sleep(seconds)
        recorder.recording = False
        return time.perf_counter() - began, time.process_time() - cpu

    workers = [asyncio.create_task(loop(i)) for i in range(connections)]
    wall, cpu = await window()
    await asyncio.gather(*workers)
    by_name = {}
    total = 0
    for name, values in recorder.seconds.items():
        ms = sorted(v * 1000 for v in values)
        total += len(ms)
        by_name[name] = Figures(
            count=len(ms), per_second=len(ms) / wall, p50_ms=percentile(ms, 50), p95_ms=percentile(ms, 95),
            p99_ms=percentile(ms, 99), errors=recorder.errors[name], statuses=dict(recorder.statuses[name]),
        )
    steps = sorted(v * 1000 for v in recorder.steps)
    return Result(
        seconds=wall, steps_per_second=len(steps) / wall, step_p50_ms=percentile(steps, 50),
        step_p95_ms=percentile(steps, 95), step_p99_ms=percentile(steps, 99), by_name=by_name,
        cpu_us_per_request=cpu / max(total, 1) * 1e6,
    )
