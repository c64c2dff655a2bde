"""The hot paths of the running system beside a bare FastAPI + asyncpg reference, in one table.

Starts the system as ``make run`` does (benchmarks/stack.py) and the reference app on the same
PostgreSQL (benchmarks/reference_app.py), sets up the data (benchmarks/datasets.py), then measures each
row with the closed-loop load generator (benchmarks/loadgen.py) and prints one table: path, connections,
req/s, p50/p95/p99, the ratio to the bare ceiling at (about) the same connections, and the peak RSS of
the process that answered. Figures only: nothing is asserted. See docs/performance.md.

    .venv/bin/python -m benchmarks.run [--quick]      (make bench [QUICK=1])
    .venv/bin/python -m benchmarks.hot_paths [--quick] [--seconds 30] [--profiles 1000000]
"""

import argparse
import asyncio
import contextlib
import math
import os
import platform
import random
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import asyncpg

from benchmarks import cpu, datasets, end_to_end, loadgen, reference_app
from benchmarks.loadgen import Call, Worker
from benchmarks.rss import peak_rss
from benchmarks.stack import Stack

TAKE_HALL = "BENCH-TAKE"  # ZS-CITY's 220 windows, 2,000 waiting
CALL_HALL = "BENCH-CALL"  # 30 windows, 10,000 waiting
TAKE_WAITING = 2_000
CALL_WAITING = 10_000
CALL_WINDOWS = 30


@dataclass
class Row:
    path: str
    conns: int
    per_second: float
    p50: float
    p95: float
    p99: float
    rss_mb: float
    ceiling: str | None = None  # "insert": ratio to the bare INSERT row nearest in connections
    note: str = ""

    @classmethod
    def of(cls, path: str, conns: int, figures: loadgen.Figures, rss_mb: float, **kw: object) -> "Row":
        return cls(path, conns, figures.per_second, figures.p50_ms, figures.p95_ms, figures.p99_ms, rss_mb,
                   **kw)  # type: ignore[arg-type]


def machine() -> str:
    """nproc, CPU model, RAM, load average: what the figures were measured on."""
    model = platform.processor() or "?"
    with contextlib.suppress(OSError, StopIteration):
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
    ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return (f"{os.cpu_count()} CPUs ({model}), {ram / 2**30:.1f} GiB RAM, "
            f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f} at start")


def table(rows: list[Row]) -> str:
    """The rows as an aligned markdown table; ratios against the bare INSERT row nearest in connections."""
    inserts = {r.conns: r.per_second for r in rows if r.path.startswith("bare POST /insert")}

    def ratio(row: Row) -> str:
        if row.ceiling is None:
            return row.note
        if not inserts:
            return "- (no reference rows run)"
        nearest = min(inserts, key=lambda c: abs(c - row.conns))
        return f"{row.per_second / inserts[nearest]:.2f} (of INSERT@{nearest})"

    header = ["path", "conns", "req/s", "p50 ms", "p95 ms", "p99 ms", "ratio to ceiling", "RSS MB"]
    body = [[r.path, str(r.conns), f"{r.per_second:,.0f}", f"{r.p50:.1f}", f"{r.p95:.1f}", f"{r.p99:.1f}",
             ratio(r), "-" if math.isnan(r.rss_mb) else f"{r.rss_mb:.0f}"] for r in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def fmt(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) if i in (0, 6) else c.rjust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths, strict=True))) + " |"

    rule = "|" + "|".join("-" * (w + 1) + ":" if i not in (0, 6) else "-" * (w + 2)
                          for i, w in enumerate(widths)) + "|"
    return "\n".join([fmt(header), rule, *map(fmt, body)])


GROUPS = ("reference", "take", "call", "prefill", "e2e")


class Bench:
    def __init__(self, *, seconds: float, warmup: float, profiles: int, only: set[str] | None = None) -> None:
        self.seconds, self.warmup, self.profiles = seconds, warmup, profiles
        self.only = only or set(GROUPS)  # which groups of rows to set up and measure
        self.rows: list[Row] = []
        self.notes: list[str] = []
        # The per-kiosk budget (30 tickets a minute) is a limit a load generator would hit at once.
        self.stack = Stack(extra_env={"TICKETING_KIOSK_TICKETS_PER_MINUTE": "1000000000"} | end_to_end.STACK_ENV)

    def say(self, text: str) -> None:
        print(f"[bench] {text}", flush=True)

    async def measure(self, base: str, step: loadgen.Step, *, conns: int,
                      pid: int) -> tuple[loadgen.Result, float]:
        async with peak_rss(pid) as peak:
            result = await loadgen.run(base, step, connections=conns, seconds=self.seconds, warmup=self.warmup)
        for name, f in result.by_name.items():
            if f.errors:
                self.notes.append(f"{name} at {conns} connections: {f.errors} of {f.count} failed {f.statuses}")
        return result, peak.mb

    # ---- setup ------------------------------------------------------------------------------------

    async def setup(self) -> None:
        stack = self.stack
        if "take" in self.only:
            windows, zones = datasets.zs_city_windows()
            self.take_clerks = await datasets.staffed_hall(stack, TAKE_HALL, windows, zones)
            took = await datasets.take_tickets(stack, TAKE_HALL, TAKE_WAITING)
            self.say(f"{TAKE_HALL}: {len(self.take_clerks)} windows staffed, {TAKE_WAITING} tickets taken through "
                     f"the API in {took:.1f} s")
            self.notes.append(f"setup: {TAKE_WAITING} tickets through the API at 32 connections took {took:.1f} s "
                              f"({TAKE_WAITING / took:.0f}/s, {len(self.take_clerks)}-window hall)")
        if "call" in self.only:
            windows, zones = datasets.one_zone_windows(CALL_WINDOWS)
            self.call_clerks = await datasets.staffed_hall(stack, CALL_HALL, windows, zones)
            copied = await datasets.copy_waiting_tickets(stack, CALL_HALL, CALL_WAITING)
            self.say(f"{CALL_HALL}: {len(self.call_clerks)} windows staffed, {CALL_WAITING} tickets waiting "
                     f"({copied:.1f} s)")
        if "prefill" in self.only:
            dictionary = await datasets.publish_prefill_matter(stack)
            loaded, values = await datasets.load_profiles(stack, dictionary, self.profiles)
            self.say(f"{self.profiles:,} profiles ({values:,} values) loaded with COPY in {loaded:.1f} s")
            self.notes.append(f"setup: {self.profiles:,} profiles ({values:,} values, {self.profiles:,} licences) "
                              f"loaded with COPY in {loaded:.1f} s")
        # VACUUM now rather than autovacuum during the rows (the COPYs just wrote millions of rows).
        started = time.perf_counter()
        conn = await asyncpg.connect(stack.database_url)
        try:
            for name in ("forms.profile_values", "forms.profiles", "forms.licences", "ticketing.tickets"):
                await conn.execute(f"VACUUM (ANALYZE) {name}")
        finally:
            await conn.close()
        self.say(f"VACUUM ANALYZE in {time.perf_counter() - started:.1f} s")

    # ---- rows -------------------------------------------------------------------------------------

    async def reference_rows(self, base: str, pid: int) -> None:
        result, rss = await self.measure(base, loadgen.single("json", lambda i: Call("GET", "/json")), conns=16,
                                         pid=pid)
        self.rows.append(Row.of("bare GET /json (load generator ceiling)", 16, result.by_name["json"], rss,
                                note="-"))
        self.notes.append(f"load generator: {result.cpu_us_per_request:.0f} us of its own CPU per request "
                          "(bare GET /json at 16 connections)")
        for conns in (1, 16, 64):
            body = {"hall": "REF", "matter_code": "SCJG-001", "number": "A001"}
            step = loadgen.single("insert", lambda i, body=body: Call("POST", "/insert", json=body))  # type: ignore[misc]
            result, rss = await self.measure(base, step, conns=conns, pid=pid)
            self.rows.append(Row.of("bare POST /insert (one INSERT)", conns, result.by_name["insert"], rss,
                                    note="ceiling"))

    async def take_ticket_rows(self) -> None:
        codes, weights = datasets.matter_weights()
        kiosks = [datasets.kiosk(self.stack, TAKE_HALL, n) for n in range(64)]
        rng = random.Random(2)

        def take(i: int) -> Call:
            matter = rng.choices(codes, weights)[0]
            return Call("POST", f"/halls/{TAKE_HALL}/tickets", kiosks[i], {"matter_code": matter})

        pid = self.stack.pid("ticketing")
        for conns in (16, 64):
            result, rss = await self.measure(self.stack.url("ticketing"), loadgen.single("take", take, ok=(201,)),
                                             conns=conns, pid=pid)
            self.rows.append(Row.of("take-ticket POST /halls/{hall}/tickets (220 windows)", conns,
                                    result.by_name["take"], rss, ceiling="insert"))

    async def call_next_rows(self) -> None:
        windows = list(self.call_clerks)

        async def cycle(worker: Worker, i: int) -> None:
            window = windows[i]
            headers = self.call_clerks[window]
            status, ticket = await worker.send(
                "call-next", Call("POST", f"/halls/{CALL_HALL}/windows/{window}/call-next", headers), ok=(200,))
            if status == 200:
                await worker.send("finish", Call("POST", f"/tickets/{ticket['id']}/finish", headers,
                                                 {"outcome": "completed"}))

        result, rss = await self.measure(self.stack.url("ticketing"), cycle, conns=len(windows),
                                         pid=self.stack.pid("ticketing"))
        cycles = loadgen.Figures(count=0, per_second=result.steps_per_second, p50_ms=result.step_p50_ms,
                                 p95_ms=result.step_p95_ms, p99_ms=result.step_p99_ms, errors=0, statuses={})
        self.rows.append(Row.of("call-next + finish cycles (30 windows)", len(windows), cycles, rss,
                                ceiling="insert"))
        for name in ("call-next", "finish"):
            if name in result.by_name:
                self.rows.append(Row.of(f"  {name} (in the cycle)", len(windows), result.by_name[name], rss,
                                        note="-"))

    async def prefill_rows(self) -> None:
        service = self.stack.token("bench-reader", ["service"])
        rng = random.Random(3)

        def prefill(i: int) -> Call:
            body = {"applicant_id": datasets.applicant_id(rng.randrange(self.profiles)),
                    "matter": datasets.PREFILL_MATTER, "bundle": None, "application_ref": "bench"}
            return Call("POST", "/prefill", service, body)

        pid = self.stack.pid("forms")
        for conns in (1, 16):
            result, rss = await self.measure(self.stack.url("forms"), loadgen.single("prefill", prefill),
                                             conns=conns, pid=pid)
            self.rows.append(Row.of(f"prefill POST /prefill (50 fields, {self.profiles:,} profiles)", conns,
                                    result.by_name["prefill"], rss, ceiling="insert"))

    async def end_to_end_rows(self) -> None:
        flow = end_to_end.EndToEnd(self.stack)
        pid = self.stack.pid("acceptance")
        for conns in (8, 32):
            began = time.time() + self.warmup  # the loop's measured window, in the database's terms
            readings = asyncio.create_task(self.cpu_in_window())
            result, rss = await self.measure(self.stack.url("acceptance"), flow.step, conns=conns, pid=pid)
            arrivals = await flow.arrivals(began, began + result.seconds)
            spent = await readings
            steps = loadgen.Figures(count=0, per_second=result.steps_per_second, p50_ms=result.step_p50_ms,
                                    p95_ms=result.step_p95_ms, p99_ms=result.step_p99_ms, errors=0, statuses={})
            self.rows.append(Row.of("end to end: open, submit, tasks, claim, approve (one step)", conns, steps, rss,
                                    ceiling="insert"))
            for name in ("open", "submit", "tasks", "claim", "approve"):
                if name in result.by_name:
                    self.rows.append(Row.of(f"  {name} (in the step)", conns, result.by_name[name], rss, note="-"))
            issued = loadgen.Figures(count=arrivals.issued_in_window,
                                     per_second=arrivals.issued_in_window / result.seconds,
                                     p50_ms=arrivals.p50_ms, p95_ms=arrivals.p95_ms, p99_ms=arrivals.p99_ms,
                                     errors=0, statuses={})
            self.rows.append(Row.of("  submit -> licence issued (over the broker)", conns, issued, float("nan"),
                                    note="licences/s in the window"))
            self.notes.append(end_to_end.summary(arrivals, result.seconds, spent) + f" ({conns} connections)")

    async def cpu_in_window(self) -> dict[str, float]:
        """CPU seconds of each part of the stack inside the measured window (after the warm-up)."""
        assert self.stack.process is not None
        await asyncio.sleep(self.warmup)
        before = cpu.by_part(self.stack.process.pid, self.stack.var / "pgdata")
        await asyncio.sleep(self.seconds)
        return cpu.spent(before, cpu.by_part(self.stack.process.pid, self.stack.var / "pgdata"))

    async def run(self) -> None:
        measured_on, started_at = machine(), datetime.now().astimezone()
        self.say(f"machine: {measured_on}")
        began = time.perf_counter()
        self.say(f"stack ready in {self.stack.start():.1f} s ({self.stack.root})")
        ref, ref_url = reference_app.start(self.stack.database_url, log=self.stack.root / "reference.log")
        try:
            await self.setup()
            self.say(f"setup done after {time.perf_counter() - began:.0f} s; measuring {self.seconds:.0f} s a row")
            groups = {"reference": lambda: self.reference_rows(ref_url, ref.pid), "take": self.take_ticket_rows,
                      "call": self.call_next_rows, "prefill": self.prefill_rows, "e2e": self.end_to_end_rows}
            for name in GROUPS:
                if name in self.only:
                    await groups[name]()
        finally:
            ref.terminate()
            ref.wait(10)
        print(f"\nHot paths, {started_at:%Y-%m-%d %H:%M %Z}, {self.seconds:.0f} s a row; {measured_on}\n")
        print(table(self.rows))
        print()
        for note in self.notes:
            print(f"- {note}")
        print(flush=True)

    def stop(self) -> None:
        started = time.perf_counter()
        self.stack.stop()
        self.say(f"stack stopped (drained) in {time.perf_counter() - started:.1f} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 s a row and 100,000 profiles (about 4 minutes)")
    parser.add_argument("--seconds", type=float, help="measured seconds a row (default 30, --quick 10)")
    parser.add_argument("--profiles", type=int, help="profiles in the forms store (default 1,000,000, --quick 100,000)")
    parser.add_argument("--only", help=f"comma-separated groups of rows to run, of {','.join(GROUPS)} (default all)")
    args, _ = parser.parse_known_args(argv)
    only = set(args.only.split(",")) if args.only else None
    if only and only - set(GROUPS):
        parser.error(f"unknown groups {sorted(only - set(GROUPS))}; choose from {','.join(GROUPS)}")
    bench = Bench(seconds=args.seconds or (10 if args.quick else 30), warmup=2 if args.quick else 3,
                  profiles=args.profiles or (100_000 if args.quick else 1_000_000), only=only)
    try:
        asyncio.run(bench.run())
    finally:
        bench.stop()


if __name__ == "__main__":
    main()
