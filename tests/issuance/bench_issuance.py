"""Issuance figures (not a test): signing, release through the real broker, hand-over latency.

Run: ``.venv/bin/python tests/issuance/bench_issuance.py [applications]``. Starts an embedded
PostgreSQL and broker like the test suite, one issuance app, sends accepted + decided events for N
applications through the broker and measures until every result is released, then hands all over.
"""

import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import func, select

from services.issuance.config import IssuanceSettings
from services.issuance.main import create_app
from services.issuance.models import Application
from services.issuance.signing import LicenceSigner, canonical_json
from shared.auth import generate_signing_key, mint_token
from shared.infra import EmbeddedBroker, EmbeddedPostgres, ensure_database, wait_for
from shared.testing import running
from tests.issuance.issuance_helpers import HALL, Issuance, accepted, decided, item, person, unique


def signing_figures() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    signer = LicenceSigner(Ed25519PrivateKey.generate())
    doc = {
        "licence_no": "ZZ2026-XXXX",
        "holder": {"id": "x" * 18, "name": "张三丰"},
        "data": {"a": "b" * 200},
    }
    n = 5000
    start = time.perf_counter()
    for _ in range(n):
        signature = signer.sign(canonical_json(doc))
    sign_rate = n / (time.perf_counter() - start)
    canonical = canonical_json(doc)
    start = time.perf_counter()
    for _ in range(n):
        signer.verify(canonical, signature)
    verify_rate = n / (time.perf_counter() - start)
    print(f"canonical JSON + Ed25519 sign: {sign_rate:,.0f}/s; verify: {verify_rate:,.0f}/s")


async def flow_figures(n: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="ow-bench-"))
    os.chmod(tmp, 0o755)
    pg, broker = EmbeddedPostgres(tmp / "pg"), EmbeddedBroker(log_path=tmp / "broker.log")
    try:
        await ensure_database(pg.start(), "bench")
        bootstrap = broker.start()
        key = generate_signing_key()
        (tmp / "jwks.json").write_text(json.dumps(key.jwks()))
        settings = IssuanceSettings(
            database_url=pg.url("bench"),
            kafka_bootstrap=bootstrap,
            topic_prefix=f"b{uuid.uuid4().hex[:6]}.",
            auth_jwks_file=str(tmp / "jwks.json"),
            relay_poll_seconds=0.05,
            signing_key_file=tmp / "key.pem",
            log_level="WARNING",
        )
        async with running(create_app(settings)) as client:
            iss = Issuance(client)
            apps = []
            for _ in range(n):
                applicant, it = person(), item(unique("IT"))
                apps.append((unique("APP"), uuid.uuid4().hex, applicant, it))
            start = time.perf_counter()

            async def send(app_id: str, tracking: str, applicant, it) -> None:  # type: ignore[no-untyped-def]
                cid = unique("corr")
                await iss.send(
                    accepted(app_id, [it], applicant=applicant, tracking_code=tracking), correlation_id=cid
                )
                await iss.send(
                    decided(app_id, it, applicant=applicant, all_items=[it.item_id]), correlation_id=cid
                )

            for chunk in range(0, n, 50):
                await asyncio.gather(*[send(*a) for a in apps[chunk : chunk + 50]])
            sent = time.perf_counter() - start

            async def all_ready() -> bool:
                count = await iss.scalar(
                    select(func.count()).select_from(Application).where(Application.status == "ready")
                )
                return count >= n

            await wait_for(all_ready, timeout=600, interval=0.2, message="all released")
            released = time.perf_counter() - start
            print(
                f"{n} applications: {2 * n} events sent in {sent:.1f}s; all released (licence signed, "
                f"3 events each) after {released:.1f}s = {n / released:,.0f} applications/s"
            )
            client.app.state.rate_limiter = None
            headers = {
                "Authorization": "Bearer "
                + mint_token(key, sub="bench", roles=["issuance_clerk"], halls=[HALL])
            }
            latencies = []
            for _, tracking, applicant, _ in apps:
                t0 = time.perf_counter()
                response = await client.post(
                    f"/pickups/{tracking}/handover",
                    headers=headers,
                    json={"hall": HALL, "id_number": applicant.id_number},
                )
                latencies.append(time.perf_counter() - t0)
                assert response.status_code == 200, response.text
            latencies.sort()
            print(
                f"hand-over over HTTP (ASGI, sequential): p50 {statistics.median(latencies) * 1000:.1f} ms, "
                f"p95 {latencies[int(0.95 * len(latencies))] * 1000:.1f} ms"
            )
    finally:
        broker.stop()
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    signing_figures()
    asyncio.run(flow_figures(int(sys.argv[1]) if len(sys.argv) > 1 else 300))


if __name__ == "__main__":
    main()
