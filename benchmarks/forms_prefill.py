"""Prefill latency for a 50-field form with 10,000 applicant profiles in the store.

Starts its own embedded PostgreSQL and broker, publishes the reference catalogue plus a 50-field
matter, bulk-loads 10,000 profiles (50 values each, one licence each) and times ``POST /prefill``
through the whole HTTP stack (auth, validation, three queries, the audit insert, commit).

    .venv/bin/python -m benchmarks.forms_prefill [--profiles 10000] [--requests 2000]
"""

import argparse
import asyncio
import json
import os
import random
import statistics
import time
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg
import httpx

from benchmarks.stack import embedded_infra
from services.forms.config import FormsSettings
from services.forms.main import create_app
from shared.auth import generate_signing_key, mint_token
from shared.infra import wait_for
from shared.validators import id_number_check_digit

ROOT = Path(__file__).resolve().parent.parent
FIELDS = 50


def _id_number(i: int) -> str:
    first17 = f"442000{1950 + i % 50}{1 + i % 12:02d}{1 + i % 28:02d}{i // 1000 % 10}{i % 100:02d}"
    return first17 + id_number_check_digit(first17)


def _value(field: dict, i: int):
    kind = field["type"].partition(":")[0]
    options = field["type"].partition(":")[2].split(",")
    return {
        "integer": i % 500,
        "decimal": f"{i % 1000}.50",
        "date": "2020-01-01",
        "enum": options[0],
        "multi": options[:2],
    }.get(kind, f"{field['label_zh']}-{i}")


def _pct(sorted_ms: list[float], p: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, int(round(p / 100 * (len(sorted_ms) - 1))))]


async def _run(profiles: int, requests: int, concurrency: int) -> None:
    async with embedded_infra("forms") as infra:
        tmp, bootstrap = infra.root, infra.bootstrap
        key = generate_signing_key()
        (tmp / "jwks.json").write_text(json.dumps(key.jwks()))
        settings = FormsSettings(
            database_url=infra.database_url,
            kafka_bootstrap=bootstrap,
            topic_prefix="bench.",
            auth_jwks_file=str(tmp / "jwks.json"),
            log_level="WARNING",
        )
        app = create_app(settings)
        catalog = json.loads((ROOT / "services" / "forms" / "seed" / "demo-catalog.json").read_text(encoding="utf-8"))
        dictionary = catalog["fields"][:FIELDS]
        catalog["matters"].append(
            catalog["matters"][0]
            | {
                "code": "BENCH-050",
                "name": "基准测试事项(50个字段)",
                "fields": [f["key"] for f in dictionary],
                "materials": [{"code": "ID_CARD"}, {"code": "BIZ_LICENCE"}, {"code": "PREMISES_PROOF"}],
            }
        )
        async with app.router.lifespan_context(app):
            runtime = app.state.runtime
            await wait_for(lambda: runtime.started, timeout=120, message="forms start")
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                admin_h = {"Authorization": f"Bearer {mint_token(key, sub='bench', roles=['catalog_admin'])}"}
                draft = await client.post("/catalog/versions", json=catalog, headers=admin_h)
                draft.raise_for_status()
                version = draft.json()["version"]
                (await client.post(f"/catalog/versions/{version}/publish", headers=admin_h)).raise_for_status()

                started = time.perf_counter()
                ids = [_id_number(i) for i in range(profiles)]
                conn = await asyncpg.connect(infra.database_url.replace("postgresql+asyncpg://", "postgresql://"))
                try:
                    at = datetime.now(UTC)
                    await conn.copy_records_to_table(
                        "profiles", schema_name="forms", columns=["applicant_id", "applicant_type"],
                        records=[(a, "natural_person") for a in ids],
                    )
                    rows = (
                        (a, f["key"], json.dumps(_value(f, i), ensure_ascii=False), "applicant_declared", False, f"APP-{i}", at)
                        for i, a in enumerate(ids)
                        for f in dictionary
                    )
                    await conn.copy_records_to_table(
                        "profile_values", schema_name="forms",
                        columns=["applicant_id", "field_key", "value", "source", "verified", "application_ref", "observed_at"],
                        records=list(rows),
                    )
                    await conn.copy_records_to_table(
                        "licences", schema_name="forms",
                        columns=["licence_no", "licence_type", "holder_id", "holder_type", "issuing_department",
                                 "valid_from", "status", "issued_at"],
                        records=[(f"BL-{i}", "BIZ_LICENCE", a, "natural_person", "SCJG", date(2025, 1, 1), "valid", at)
                                 for i, a in enumerate(ids)],
                    )
                    await conn.execute("ANALYZE forms.profile_values; ANALYZE forms.licences; ANALYZE forms.profiles")
                    count = await conn.fetchval("SELECT count(*) FROM forms.profile_values")
                finally:
                    await conn.close()
                print(f"loaded {profiles} profiles, {count} values, {profiles} licences in {time.perf_counter() - started:.1f}s")

                # a service token: a clerk's prefill also asks acceptance for its reason to read (one call per
                # clerk, application and applicant a minute, cached), which this bench does not run
                clerk = {"Authorization": f"Bearer {mint_token(key, sub='bench-reader', roles=['service'])}"}
                rng = random.Random(7)

                async def one() -> float:
                    body = {"applicant_id": rng.choice(ids), "matter": "BENCH-050", "bundle": None, "application_ref": "bench"}
                    t0 = time.perf_counter()
                    response = await client.post("/prefill", json=body, headers=clerk)
                    elapsed = (time.perf_counter() - t0) * 1000
                    assert response.status_code == 200, response.text
                    data = response.json()
                    assert len(data["fields"]) == FIELDS and not data["missing_fields"], data["missing_fields"]
                    assert any(m["satisfied"] for m in data["materials"])
                    return elapsed

                for _ in range(100):  # warm-up: connection pool, caches
                    await one()
                base = []
                for _ in range(300):
                    t0 = time.perf_counter()
                    (await client.get("/catalog/versions", headers=admin_h)).raise_for_status()
                    base.append((time.perf_counter() - t0) * 1000)
                base.sort()
                print(
                    f"baseline GET /catalog/versions (auth + one small query): p50 {_pct(base, 50):.2f} ms "
                    f"p95 {_pct(base, 95):.2f} ms; machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
                )
                cpu0 = time.process_time()
                sequential = sorted([await one() for _ in range(requests)])
                cpu = (time.process_time() - cpu0) / requests * 1000
                print(
                    f"sequential, {requests} requests: p50 {_pct(sequential, 50):.2f} ms  p90 {_pct(sequential, 90):.2f} ms  "
                    f"p95 {_pct(sequential, 95):.2f} ms  p99 {_pct(sequential, 99):.2f} ms  max {sequential[-1]:.2f} ms  "
                    f"mean {statistics.mean(sequential):.2f} ms; Python CPU {cpu:.1f} ms per request (client and server)"
                )
                sem = asyncio.Semaphore(concurrency)

                async def bounded() -> float:
                    async with sem:
                        return await one()

                t0 = time.perf_counter()
                parallel = sorted(await asyncio.gather(*(bounded() for _ in range(requests))))
                wall = time.perf_counter() - t0
                print(
                    f"{concurrency} concurrent, {requests} requests: p50 {_pct(parallel, 50):.2f} ms  "
                    f"p95 {_pct(parallel, 95):.2f} ms  p99 {_pct(parallel, 99):.2f} ms  throughput {requests / wall:.0f} req/s"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=16)
    args, _ = parser.parse_known_args()
    asyncio.run(_run(args.profiles, args.requests, args.concurrency))


if __name__ == "__main__":
    main()
