"""Statements and transactions per application, by service: the end-to-end step of ``end_to_end.py`` run on
one connection with PostgreSQL logging every statement, then the log counted.

    .venv/bin/python -m benchmarks.run statements [--seconds 15] [--top 12]

On a CPU-bound machine the service processes' cost follows their statement count (each is an ORM round
of building, sending and reading back); unlike a rate it does not depend on the machine or the noise, so
two commits can be compared exactly. The relays' own look-ups (advisory lock, outbox read) are shown apart:
their number depends on the commits that woke the relay and on the idle polls of the run's length.
"""

import argparse
import asyncio
import re
from collections import Counter, defaultdict

import asyncpg

from benchmarks import end_to_end, loadgen
from benchmarks.stack import Stack

PREFIX = "@@%a|"  # log_line_prefix: every statement line starts with its service (application_name)
LINE = re.compile(r"^@@([^|]*)\|LOG:  (?:statement|execute [^:]*): (.*)$")
RELAY = ("pg_try_advisory_xact_lock", "outbox.seq, ")  # the relay's lock and look: shown apart


def kind(sql: str) -> str:
    """A statement's shape: the verb and the table (parameters and column lists dropped)."""
    sql = re.sub(r"\s+", " ", sql.strip())
    verb = sql.split(" ", 1)[0].upper().rstrip(";")
    table = re.search(r"\b(?:FROM|INTO|UPDATE)\s+([\w.]+)", sql)
    if verb in ("BEGIN", "COMMIT", "ROLLBACK") or table is None:
        return verb
    return f"{verb} {table.group(1)}" + (" FOR UPDATE" if "FOR UPDATE" in sql else "")


def count(logged: str) -> tuple[Counter[str], dict[str, Counter[str]], Counter[str]]:
    """Per service: statements (relay look-ups apart), statements by shape, and the relay's look-ups."""
    statements: Counter[str] = Counter()
    shapes: dict[str, Counter[str]] = defaultdict(Counter)
    relay: Counter[str] = Counter()
    logged_statements: list[list[str]] = []  # [service, sql]: a statement's lines after the first follow as is
    for line in logged.splitlines():
        if (match := LINE.match(line)) is not None:
            logged_statements.append(list(match.groups()))
        elif not line.startswith("@@") and logged_statements:
            logged_statements[-1][1] += " " + line
        else:
            logged_statements.append(["", ""])  # another kind of log line (duration, error, ...)
    for service, sql in logged_statements:
        if not service or service.startswith("["):  # not a service's (this benchmark's own connection)
            continue
        if any(marker in sql for marker in RELAY):
            relay[service] += 1
            continue
        statements[service] += 1
        shapes[service][kind(sql)] += 1
    return statements, shapes, relay


async def measure(seconds: float, top: int) -> None:
    stack = Stack(extra_env=end_to_end.STACK_ENV)
    print(f"[statements] stack ready in {stack.start():.1f} s", flush=True)
    try:
        flow = end_to_end.EndToEnd(stack)
        await loadgen.run(stack.url("acceptance"), flow.step, connections=2, seconds=5, warmup=0)  # warm caches
        await asyncio.sleep(3)  # the warm-up's events settle before the log starts
        conn = await asyncpg.connect(stack.database_url)
        log = stack.var / "pgdata" / "log"  # where the embedded server writes
        start = log.stat().st_size
        try:
            await conn.execute("ALTER SYSTEM SET log_statement = 'all'")
            await conn.execute(f"ALTER SYSTEM SET log_line_prefix = '{PREFIX}'")
            await conn.execute("SELECT pg_reload_conf()")
            await asyncio.sleep(1)
            result = await loadgen.run(stack.url("acceptance"), flow.step, connections=1, seconds=seconds, warmup=0)
            await asyncio.sleep(4)  # the last applications' events and licences
        finally:
            await conn.execute("ALTER SYSTEM RESET log_statement")
            await conn.execute("ALTER SYSTEM RESET log_line_prefix")
            await conn.execute("SELECT pg_reload_conf()")
            await conn.close()
        applications = result.by_name["approve"].count if "approve" in result.by_name else 0
        with log.open("rb") as source:
            source.seek(start)
            logged = source.read().decode(errors="replace")
    finally:
        stack.stop()
    statements, shapes, relay = count(logged)
    n = max(applications, 1)
    print(f"\n{applications} applications, one at a time, in {seconds:.0f} s\n")
    print("| service | statements / application | transactions / application | relay look-ups / application |")
    print("|---|---:|---:|---:|")
    for service, total in statements.most_common():
        print(f"| {service} | {total / n:.1f} | {shapes[service]['BEGIN'] / n:.1f} | {relay[service] / n:.1f} |")
    print(f"| all | {sum(statements.values()) / n:.1f} | "
          f"{sum(s['BEGIN'] for s in shapes.values()) / n:.1f} | {sum(relay.values()) / n:.1f} |")
    for service, _ in statements.most_common():
        shown = ", ".join(f"{k} {v / n:.1f}" for k, v in shapes[service].most_common(top)
                          if k not in ("BEGIN", "COMMIT"))
        print(f"\n{service}: {shown}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15, help="measured seconds (default 15)")
    parser.add_argument("--top", type=int, default=12, help="statement shapes shown per service (default 12)")
    args = parser.parse_args()
    asyncio.run(measure(args.seconds, args.top))


if __name__ == "__main__":
    main()
