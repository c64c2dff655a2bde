"""Replay a simulated day of the 7,000-visitor hall (ZS-CITY, 220 windows) against the ticketing service.

Starts its own embedded PostgreSQL and broker and one ticketing app (migrations, outbox relay and
consumer running), loads the demo hall, signs a clerk in at every window, then replays the day:
citizens take numbers on the arrival profile of benchmarks/ticketing_wait_sim.py, every window calls
the next ticket, "serves" it for its (scaled) service time and finishes it, and waits when nothing
is waiting. Everything goes through the HTTP stack (auth, validation, SQL, outbox, commit).

    .venv/bin/python -m benchmarks.ticketing_day [--speed 100] [--visitors 7000]

``--speed 100`` replays the 8.5-hour day in about 5 minutes; ``--speed 0`` drops every wait (arrivals
as fast as possible, zero service time): the throughput ceiling.
"""

import argparse
import asyncio
import contextlib
import json
import math
import random
import time
from collections import defaultdict
from datetime import UTC, datetime

import httpx

from benchmarks.stack import embedded_infra
from benchmarks.ticketing_wait_sim import (
    OPEN_MIN,
    PROFILE,
    REFERENCE,
    SERVICE_CV,
    SERVICE_FACTOR,
    load_matters,
)
from services.ticketing import catalog
from services.ticketing.config import TicketingSettings
from services.ticketing.main import create_app
from services.ticketing.seed import demo_halls, window_specs
from shared.auth import generate_signing_key, mint_token
from shared.events.catalog import MatterPublished
from shared.infra import wait_for

HALL = "ZS-CITY"
IDLE_POLL_SIM_SECONDS = 600.0  # an idle clerk looks again every 10 minutes anyway


def arrivals(visitors: int, rng: random.Random) -> list[tuple[float, str, float]]:
    """(minute of the day, matter, service minutes) for every visitor of a simulated day."""
    matters = load_matters()
    codes = list(matters)
    weights = [matters[c].weight for c in codes]
    total = sum(PROFILE)
    out = []
    sigma = math.sqrt(math.log(1 + SERVICE_CV**2))
    for half, weight in enumerate(PROFILE):
        for _ in range(round(visitors * weight / total)):
            code = rng.choices(codes, weights)[0]
            mean = matters[code].minutes * SERVICE_FACTOR
            service_minutes = rng.lognormvariate(math.log(mean) - sigma**2 / 2, sigma)
            out.append((OPEN_MIN + 30 * half + rng.random() * 30, code, service_minutes))
    return sorted(out)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else float("nan")


class Recorder:
    def __init__(self) -> None:
        self.ms: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)

    async def timed(self, name: str, call):
        started = time.perf_counter()
        response = await call
        self.ms[name].append((time.perf_counter() - started) * 1000)
        if response.status_code >= 400:
            self.errors[f"{name} {response.status_code}"] += 1
        return response

    def report(self, wall: float) -> None:
        print(f"{'operation':<22}{'count':>8}{'per s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}")
        for name, values in sorted(self.ms.items()):
            print(f"{name:<22}{len(values):>8}{len(values) / wall:>9.1f}{pct(values, 50):>9.1f}"
                  f"{pct(values, 95):>9.1f}{pct(values, 99):>9.1f}{max(values):>9.1f}")
        if self.errors:
            print("errors:", dict(self.errors))


async def _run(speed: float, visitors: int, seed: int, serial: int = 0, window: str = "") -> None:
    async with embedded_infra("ticketing") as infra:
        tmp, bootstrap = infra.root, infra.bootstrap
        key = generate_signing_key()
        (tmp / "jwks.json").write_text(json.dumps(key.jwks()))
        settings = TicketingSettings(
            database_url=infra.database_url, kafka_bootstrap=bootstrap, topic_prefix="bench.",
            auth_jwks_file=str(tmp / "jwks.json"), log_level="WARNING", public_rate_limit_per_minute=10_000_000,
            kiosk_tickets_per_minute=10_000_000,
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            runtime = app.state.runtime
            await wait_for(lambda: runtime.started, timeout=120, message="ticketing start")
            async with runtime.sessionmaker() as session, session.begin():
                for m in json.loads(REFERENCE.read_text(encoding="utf-8"))["matters"]:
                    zone = load_matters()[m["code"]].zone
                    await catalog.upsert_matter(session, event=MatterPublished(
                        catalog_version=1, code=m["code"], name=m["name"], department=m["department"],
                        category=m["category"], zone=zone, applicant_type=m["applicant_type"],
                        legal_limit_working_days=m["legal_limit_working_days"],
                        promised_limit_working_days=m["promised_limit_working_days"],
                        avg_handling_minutes=m["avg_handling_minutes"], daily_share_weight=m["daily_share_weight"],
                        published_at=datetime.now(UTC)))
            transport = httpx.ASGITransport(app=app)
            limits = httpx.Limits(max_connections=None)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench", limits=limits) as client:
                if serial:
                    await _serial(client, key, serial)
                else:
                    await _day(client, key, speed, visitors, seed, window)


_KIOSKS: dict[int, dict[str, str]] = {}


def _kiosk(key) -> dict[str, str]:
    """The hall's kiosk device token (taking a number needs one)."""
    if id(key) not in _KIOSKS:
        token = mint_token(key, sub="kiosk:bench-1", roles=["kiosk"], halls=[HALL], ttl_seconds=6 * 3600)
        _KIOSKS[id(key)] = {"Authorization": f"Bearer {token}"}
    return _KIOSKS[id(key)]


async def _setup(client: httpx.AsyncClient, key) -> tuple[list, dict[str, dict[str, str]]]:
    """The demo hall, open all day, with a clerk signed in at every window."""
    hall = next(h for h in demo_halls() if h["code"] == HALL)
    admin = {"Authorization": f"Bearer {mint_token(key, sub='bench-admin', roles=['hall_admin'], halls=[HALL])}"}
    body = hall["hall"] | {"opens_at": "00:00:00", "closes_at": "23:59:59", "open_days": "all"}
    (await client.put(f"/halls/{HALL}", json=body, headers=admin)).raise_for_status()
    windows = list(window_specs(hall))
    clerks = {}
    for code, spec in windows:
        (await client.put(f"/halls/{HALL}/windows/{code}", json=spec, headers=admin)).raise_for_status()
        clerks[code] = {"Authorization": "Bearer " + mint_token(key, sub=f"clerk-{code}", roles=["clerk"],
                                                                halls=[HALL], ttl_seconds=6 * 3600)}
        (await client.post(f"/halls/{HALL}/windows/{code}/sign-in", headers=clerks[code])).raise_for_status()
    return windows, clerks


async def _serial(client: httpx.AsyncClient, key, count: int) -> None:
    """Uncontended latency: one request at a time."""
    windows, clerks = await _setup(client, key)
    rec = Recorder()
    codes = [code for _, code, _ in arrivals(count, random.Random(1))]
    t0 = time.perf_counter()
    for code in codes[:count]:
        await rec.timed("take ticket", client.post(f"/halls/{HALL}/tickets", json={"matter_code": code},
                                                   headers=_kiosk(key)))
    for i in range(count):
        window = windows[i % len(windows)][0]
        response = await rec.timed("call next", client.post(f"/halls/{HALL}/windows/{window}/call-next",
                                                             headers=clerks[window]))
        if response.status_code == 200:
            await rec.timed("finish", client.post(f"/tickets/{response.json()['id']}/finish",
                                                  headers=clerks[window], json={"outcome": "completed"}))
    rec.report(time.perf_counter() - t0)


async def _day(client: httpx.AsyncClient, key, speed: float, visitors: int, seed: int,
               part: str = "") -> None:
    windows, clerks = await _setup(client, key)
    rng = random.Random(seed)
    day = arrivals(visitors, rng)
    if part:
        first, last = (float(h) * 60 for h in part.split("-"))
        day = [a for a in day if first <= a[0] < last]
    service_minutes: dict[str, float] = {}
    rec = Recorder()
    issued = 0
    lags: list[float] = []
    arrivals_done = asyncio.Event()
    # an idle clerk sees a waiting number on the board and calls: a new ticket wakes one idle window
    # of its zone skilled for it (the benchmark's stand-in for the clerk's eyes; not part of the service)
    skills = {code: set(spec["skills"]) for code, spec in windows}
    zone_of = {code: spec["zone"] for code, spec in windows}
    wake = {code: asyncio.Event() for code, _ in windows}
    idle: dict[str, set[str]] = defaultdict(set)
    waits: list[float] = []
    start_minute = day[0][0]
    t0 = time.perf_counter()

    def wall_of(minute: float) -> float:
        return 0.0 if speed == 0 else (minute - start_minute) * 60 / speed

    async def take(minute: float, code: str, minutes: float) -> None:
        nonlocal issued
        lags.append(time.perf_counter() - t0 - wall_of(minute))
        response = await rec.timed("take ticket", client.post(f"/halls/{HALL}/tickets", json={"matter_code": code},
                                                              headers=_kiosk(key)))
        if response.status_code == 201:
            service_minutes[response.json()["id"]] = minutes
            issued += 1
            ticket = response.json()
            for code in list(idle[ticket["zone"]]):
                if ticket["matter_code"] in skills[code]:
                    idle[ticket["zone"]].discard(code)
                    wake[code].set()
                    break

    async def citizens() -> None:
        pending = set()
        gate = asyncio.Semaphore(16)

        async def one(minute: float, code: str, minutes: float) -> None:
            async with gate:
                await take(minute, code, minutes)

        next_report = start_minute + 60
        for minute, code, minutes in day:
            if minute >= next_report:
                print(f"  {int(minute // 60):02d}:{int(minute % 60):02d} simulated, {time.perf_counter() - t0:.0f} s wall, "
                      f"lag {(time.perf_counter() - t0 - wall_of(minute)):.1f} s", flush=True)
                if minute >= start_minute + 7 * 60:
                    rec.report(time.perf_counter() - t0)
                next_report += 60
            delay = t0 + wall_of(minute) - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(minute, code, minutes))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.gather(*pending)
        arrivals_done.set()
        for event in wake.values():
            event.set()

    async def window(code: str) -> None:
        headers = clerks[code]
        while True:
            response = await rec.timed("call next", client.post(f"/halls/{HALL}/windows/{code}/call-next",
                                                                 headers=headers))
            if response.status_code == 204:
                rec.ms["call next (empty)"].append(rec.ms["call next"].pop())
                if arrivals_done.is_set():
                    return
                idle[zone_of[code]].add(code)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake[code].wait(), IDLE_POLL_SIM_SECONDS / speed if speed else 1.0)
                idle[zone_of[code]].discard(code)
                wake[code].clear()
                continue
            if response.status_code != 200:
                print(f"  window {code}: call-next {response.status_code} {response.text[:200]}", flush=True)
                if arrivals_done.is_set():
                    return
                await asyncio.sleep(1.0)
                continue
            ticket = response.json()
            waits.append((datetime.now(UTC) - datetime.fromisoformat(ticket["issued_at"])).total_seconds())
            await asyncio.sleep(service_minutes.get(ticket["id"], 10) * 60 / speed if speed else 0)
            finished = await rec.timed("finish", client.post(f"/tickets/{ticket['id']}/finish", headers=headers,
                                                             json={"outcome": "completed"}))
            if finished.status_code != 200:
                print(f"  window {code}: finish {finished.status_code} {finished.text[:200]}", flush=True)

    print(f"replaying {len(day)} visitors of {HALL} ({len(windows)} windows) at "
          f"{'full speed' if speed == 0 else f'{speed:g}x'}", flush=True)
    clerks_at_work = [asyncio.create_task(window(code)) for code, _ in windows]
    await citizens()
    arrivals_wall = time.perf_counter() - t0
    print(f"arrivals replayed in {arrivals_wall:.1f} s wall; figures up to now:", flush=True)
    rec.report(arrivals_wall)
    _, still = await asyncio.wait(clerks_at_work, timeout=max(60.0, 4 * 3600 / speed) if speed else 120.0)
    for task in still:
        task.cancel()
    if still:
        print(f"  {len(still)} window(s) still busy at the end of the drain period")
    wall = time.perf_counter() - t0
    print(f"day replayed in {wall:.1f} s wall ({len(day)} numbers issued {issued}); "
          f"issue lag p50 {pct(lags, 50) * 1000:.0f} ms p99 {pct(lags, 99) * 1000:.0f} ms")
    if speed:
        sim_waits = [w * speed / 60 for w in waits]
        print(f"simulated waits: p50 {pct(sim_waits, 50):.1f} min, p90 {pct(sim_waits, 90):.1f} min")
    rec.report(wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=100.0, help="simulated seconds per wall second; 0 = no waits")
    parser.add_argument("--visitors", type=int, default=7000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--serial", type=int, default=0, help="only time N requests one at a time")
    parser.add_argument("--window", default="", help="only this part of the day, e.g. 9.5-11 (hours)")
    args, _ = parser.parse_known_args()
    asyncio.run(_run(args.speed, args.visitors, args.seed, args.serial, args.window))


if __name__ == "__main__":
    main()
