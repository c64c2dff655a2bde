"""The data the hot paths run on, set up in the running stack.

- Halls of the bench's own, created through the admin API (open round the clock, so the bench runs at
  any hour; the demo hall's hours can be loaded "real" by an operator): one with ZS-CITY's 220 windows
  for take-ticket, one with 30 windows for call-next. A clerk is signed in at every window.
- Waiting tickets taken through the API, at concurrency (what a busy hall looks like to the queries).
- A 50-field matter published in a new catalogue version, and applicant profiles (50 values and one
  licence each) loaded with COPY straight into the forms tables: the ORM would take hours for 1,000,000.
"""

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from benchmarks.stack import Stack
from services.ticketing.seed import ROUND_THE_CLOCK, demo_halls, window_specs
from shared.events.envelope import uuid7
from shared.validators import id_number_check_digit

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "services" / "forms" / "seed" / "demo-catalog.json"
PREFILL_MATTER = "BENCH-050"
FIELDS = 50


def demo_catalog() -> dict[str, Any]:
    return json.loads(CATALOG.read_text(encoding="utf-8"))


def matter_weights() -> tuple[list[str], list[float]]:
    """The demo catalogue's matters and how often citizens come for each (daily_share_weight)."""
    matters = demo_catalog()["matters"]
    return [m["code"] for m in matters], [float(m["daily_share_weight"]) for m in matters]


# ---- halls and tickets ---------------------------------------------------------------------------


async def _request(session: aiohttp.ClientSession, method: str, url: str, *, headers: dict[str, str],
                   json_body: Any = None, ok: tuple[int, ...] = (200, 201)) -> Any:
    async with session.request(method, url, json=json_body, headers=headers) as response:
        if response.status not in ok:
            raise RuntimeError(f"{method} {url}: {response.status} {(await response.text())[:300]}")
        return await response.json()


async def _gather(limit: int, jobs: list[Any]) -> list[Any]:
    """Run coroutines with at most ``limit`` at a time."""
    gate = asyncio.Semaphore(limit)

    async def bounded(job: Any) -> Any:
        async with gate:
            return await job

    return await asyncio.gather(*(bounded(j) for j in jobs))


def clerk_token(stack: Stack, hall: str, window: str) -> dict[str, str]:
    return stack.token(f"bench-clerk-{hall}-{window}", ["clerk"], halls=[hall], name="基准测试")


async def staffed_hall(stack: Stack, code: str, windows: list[tuple[str, dict[str, Any]]],
                       zones: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    """Create hall ``code`` (round the clock) with ``windows``, sign a clerk in at each; the clerks' headers."""
    base = stack.url("ticketing")
    admin = stack.token("bench-admin", ["hall_admin"], halls=[code])
    zs = next(h for h in demo_halls() if h["code"] == "ZS-CITY")["hall"]
    body = zs | ROUND_THE_CLOCK | {"name": f"基准测试大厅 {code}", "zones": zones}
    clerks = {w: clerk_token(stack, code, w) for w, _ in windows}
    async with aiohttp.ClientSession() as session:
        await _request(session, "PUT", f"{base}/halls/{code}", headers=admin, json_body=body)
        await _gather(16, [_request(session, "PUT", f"{base}/halls/{code}/windows/{w}", headers=admin,
                                    json_body=spec) for w, spec in windows])
        await _gather(16, [_request(session, "POST", f"{base}/halls/{code}/windows/{w}/sign-in", headers=clerks[w])
                           for w, _ in windows])
    return clerks


def zs_city_windows() -> tuple[list[tuple[str, dict[str, Any]]], list[dict[str, str]]]:
    """ZS-CITY's 220 windows (zones, skills) and its zones, as the demo seed has them."""
    zs = next(h for h in demo_halls() if h["code"] == "ZS-CITY")
    return list(window_specs(zs)), zs["hall"]["zones"]


def one_zone_windows(count: int) -> tuple[list[tuple[str, dict[str, Any]]], list[dict[str, str]]]:
    """``count`` windows in one zone, each skilled for every matter: every clerk can call every ticket."""
    codes, _ = matter_weights()
    windows = [(f"A{n:03d}", {"zone": "A", "name": f"A{n:03d} 综合受理", "skills": codes})
               for n in range(1, count + 1)]
    return windows, [{"code": "A", "name": "A区 综合受理"}]


def kiosk(stack: Stack, hall: str, n: int = 1) -> dict[str, str]:
    """A kiosk device token of the hall (the stack runs with a device budget the bench cannot reach)."""
    return stack.token(f"kiosk:bench-{hall}-{n}", ["kiosk"], halls=[hall])


async def take_tickets(stack: Stack, hall: str, count: int, *, connections: int = 32, seed: int = 1) -> float:
    """Take ``count`` numbers in ``hall`` through the API (matters as often as citizens come for them);
    returns the seconds it took."""
    codes, weights = matter_weights()
    rng = random.Random(seed)
    matters = rng.choices(codes, weights, k=count)
    url = f"{stack.url('ticketing')}/halls/{hall}/tickets"
    headers = kiosk(stack, hall)
    started = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        await _gather(connections, [_request(session, "POST", url, headers=headers, json_body={"matter_code": m},
                                             ok=(201,)) for m in matters])
    return time.perf_counter() - started


async def copy_waiting_tickets(stack: Stack, hall: str, count: int, *, through_api: int = 50) -> float:
    """``count`` tickets waiting in ``hall``: ``through_api`` taken through the API, the rest COPYed as
    clones of those rows (new id, number and correlation id; queued in the minutes before them). Taking
    10,000 numbers through the API takes minutes; the clones keep whatever columns the service writes.
    No number may be taken in ``hall`` afterwards (the day counter does not know the clones' numbers).
    Returns the seconds it took."""
    started = time.perf_counter()
    await take_tickets(stack, hall, through_api)
    conn = await asyncpg.connect(stack.database_url)
    try:
        templates = [dict(r) for r in await conn.fetch(
            "SELECT * FROM ticketing.tickets WHERE hall = $1 ORDER BY queue_at", hall)]
        columns = list(templates[0])
        first = min(t["queue_at"] for t in templates)
        seq = max(int(t["number"][1:]) for t in templates)
        clones = []
        for n in range(count - len(templates)):
            ticket_id = uuid7()
            at = first - timedelta(milliseconds=10 * (count - n))
            clone = templates[n % len(templates)] | {
                "id": ticket_id, "number": f"{templates[0]['zone']}{seq + n + 1:03d}", "issued_at": at,
                "queue_at": at, "correlation_id": str(ticket_id), "rating_secret_hash": None,
            }
            clones.append(tuple(clone[c] for c in columns))
        await conn.copy_records_to_table("tickets", schema_name="ticketing", columns=columns, records=clones)
        await conn.execute("ANALYZE ticketing.tickets")
    finally:
        await conn.close()
    return time.perf_counter() - started


# ---- the 50-field form and its profiles ---------------------------------------------------------


async def publish_prefill_matter(stack: Stack) -> list[dict[str, Any]]:
    """Publish a new catalogue version: the demo one plus a matter asking the first 50 fields of the
    dictionary (as benchmarks/forms_prefill.py does); returns those fields."""
    catalog = demo_catalog()
    dictionary = catalog["fields"][:FIELDS]
    catalog["matters"].append(catalog["matters"][0] | {
        "code": PREFILL_MATTER,
        "name": "基准测试事项(50个字段)",
        "fields": [f["key"] for f in dictionary],
        "materials": [{"code": "ID_CARD"}, {"code": "BIZ_LICENCE"}, {"code": "PREMISES_PROOF"}],
    })
    base = stack.url("forms")
    admin = stack.token("bench-catalog", ["catalog_admin"])
    async with aiohttp.ClientSession() as session:
        draft = await _request(session, "POST", f"{base}/catalog/versions", headers=admin, json_body=catalog,
                               ok=(200, 201))
        await _request(session, "POST", f"{base}/catalog/versions/{draft['version']}/publish", headers=admin)
    return dictionary


def applicant_id(i: int) -> str:
    """The i-th applicant's resident ID number: valid (birth date, check digit) and distinct up to 10^6+."""
    born = date(1950, 1, 1) + timedelta(days=i // 1000)
    first17 = f"442000{born:%Y%m%d}{i % 1000:03d}"
    return first17 + id_number_check_digit(first17)


def _encoder(field: dict[str, Any]) -> Callable[[int], str]:
    """The i-th applicant's value of ``field`` (as benchmarks/forms_prefill.py makes them) as JSON in
    COPY text format, built by concatenation: this runs 50 million times for a million profiles."""
    kind, _, options = field["type"].partition(":")
    if kind == "integer":
        return lambda i: str(i % 500)
    if kind == "decimal":
        return lambda i: f'"{i % 1000}.50"'
    if kind in ("date", "enum", "multi"):
        value = {"date": "2020-01-01", "enum": options.split(",")[0], "multi": options.split(",")[:2]}[kind]
        fixed = _copy_text(json.dumps(value, ensure_ascii=False))
        return lambda i: fixed
    prefix = _copy_text(json.dumps(field["label_zh"], ensure_ascii=False)[:-1]) + "-"
    return lambda i: f'{prefix}{i}"'


def _copy_text(value: str) -> str:
    """A value in COPY's text format (backslash, tab and newline escaped)."""
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


async def load_profiles(stack: Stack, dictionary: list[dict[str, Any]], count: int, *,
                        chunk: int = 10_000) -> tuple[float, int]:
    """COPY ``count`` profiles (50 values, one valid business licence each) into the forms tables, in
    chunks (bounded memory); returns (seconds, values loaded). The values go as COPY text built with
    string operations, the other tables as records: 50 values a profile make this the long part."""
    started = time.perf_counter()
    at = datetime.now(UTC)
    stamp = at.isoformat()
    encoders = [(f["key"], _encoder(f)) for f in dictionary]

    def values(first: int, last: int) -> bytes:
        lines: list[str] = []
        for i in range(first, last):
            a, ref = applicant_id(i), f"APP-{i}"
            tail = f"\tapplicant_declared\tf\t{ref}\t{stamp}\n"
            lines.extend(f"{a}\t{key}\t{encode(i)}{tail}" for key, encode in encoders)
        return "".join(lines).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for first in range(0, count, chunk):
            yield values(first, min(first + chunk, count))

    conn = await asyncpg.connect(stack.database_url)
    try:
        ids = [applicant_id(i) for i in range(count)]
        await conn.copy_records_to_table(
            "profiles", schema_name="forms", columns=["applicant_id", "applicant_type"],
            records=((a, "natural_person") for a in ids),
        )
        await conn.copy_records_to_table(
            "licences", schema_name="forms",
            columns=["licence_no", "licence_type", "holder_id", "holder_type", "issuing_department",
                     "valid_from", "status", "issued_at"],
            records=((f"BL-BENCH-{n}", "BIZ_LICENCE", a, "natural_person", "SCJG", date(2025, 1, 1), "valid", at)
                     for n, a in enumerate(ids)),
        )
        await conn.copy_to_table(
            "profile_values", schema_name="forms", source=chunks(), format="text",
            columns=["applicant_id", "field_key", "value", "source", "verified", "application_ref", "observed_at"],
        )
        await conn.execute("ANALYZE forms.profiles; ANALYZE forms.profile_values; ANALYZE forms.licences")
        loaded = await conn.fetchval("SELECT count(*) FROM forms.profile_values")
    finally:
        await conn.close()
    return time.perf_counter() - started, int(loaded)
