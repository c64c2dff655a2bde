"""`make run`: the whole system on one machine.

Starts PostgreSQL and the broker (embedded unless ONEWINDOW_DATABASE_URL / ONEWINDOW_KAFKA_BOOTSTRAP
are set), migrates, starts every service on its fixed port, loads the demo data, prints where the
API docs are, and stops everything cleanly on Ctrl-C.
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from shared import migrations
from shared.auth import SigningKey, load_or_create_keys, mint_token
from shared.infra import EmbeddedBroker, EmbeddedPostgres, ensure_database, port_open
from shared.registry import SERVICES, ServiceEntry

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"


def _say(text: str) -> None:
    print(f"[onewindow] {text}", flush=True)


def run_stack() -> None:
    """Run until Ctrl-C."""
    VAR.mkdir(exist_ok=True)
    os.chmod(VAR, 0o755)
    pg: EmbeddedPostgres | None = None
    broker: EmbeddedBroker | None = None
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        database_url = os.environ.get("ONEWINDOW_DATABASE_URL")
        if database_url:
            _say("using the configured PostgreSQL")
        else:
            _say("starting embedded PostgreSQL (var/pgdata)")
            pg = EmbeddedPostgres(VAR / "pgdata")
            admin = pg.start()
            asyncio.run(ensure_database(admin, "onewindow"))
            database_url = pg.url("onewindow")
        bootstrap = os.environ.get("ONEWINDOW_KAFKA_BOOTSTRAP")
        if bootstrap:
            _say(f"using the configured Kafka at {bootstrap}")
        else:
            port = int(os.environ.get("ONEWINDOW_BROKER_PORT", "9092"))
            _say(f"starting the embedded Kafka-protocol broker on 127.0.0.1:{port}")
            broker = EmbeddedBroker(port, log_path=VAR / "broker.log")
            bootstrap = broker.start()
        key, jwks_path = load_or_create_keys(VAR / "keys")
        services = list(SERVICES)  # tests/shared/test_registry.py: every entry has its folder
        for svc in services:
            migrations.upgrade(svc.name, database_url)
        _say("migrations applied")
        busy = [s for s in services if port_open(s.port)]
        if busy:
            raise SystemExit(f"ports already in use: {', '.join(str(s.port) for s in busy)} (another make run?)")
        logs = VAR / "logs"
        logs.mkdir(exist_ok=True)
        for svc in services:
            children.append(_start_service(svc, database_url, bootstrap, str(jwks_path), logs))
        _wait_ready(services, children, timeout=90)
        _load_demo_data(key)
        _print_banner(services)
        while not stopping:
            for svc, child in zip(services, children, strict=True):
                if child.poll() is not None:
                    _say(f"{svc.name} exited with code {child.returncode}; see var/logs/{svc.name}.log")
                    stopping = True
            time.sleep(0.5)
    finally:
        _say("stopping")
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
        if broker:
            broker.stop()
        if pg:
            pg.stop()
        _say("stopped")


def _start_service(
    svc: ServiceEntry, database_url: str, bootstrap: str, jwks: str, logs: Path
) -> subprocess.Popen[bytes]:
    prefix = svc.env_prefix
    env = os.environ | {
        f"{prefix}DATABASE_URL": database_url,
        f"{prefix}KAFKA_BOOTSTRAP": bootstrap,
        f"{prefix}AUTH_JWKS_FILE": jwks,
        f"{prefix}KEYS_DIR": str(VAR / "keys"),
        "ACCEPTANCE_FORMS_URL": SERVICES.get("forms").local_url,
    }
    log = open(logs / f"{svc.name}.log", "ab")  # noqa: SIM115 (the child's stdout for its lifetime)
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", svc.app_path, "--host", "127.0.0.1",
         "--port", str(svc.port), "--no-access-log"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _wait_ready(services: list[ServiceEntry], children: list[subprocess.Popen[bytes]], *, timeout: float) -> None:
    started = time.monotonic()
    pending = {s.name: s for s in services}
    while pending:
        for name, svc in list(pending.items()):
            try:
                if httpx.get(f"http://127.0.0.1:{svc.port}/readyz", timeout=5).status_code == 200:
                    _say(f"{name} ready on :{svc.port} after {time.monotonic() - started:.1f}s")
                    del pending[name]
            except httpx.HTTPError:
                pass
        for svc, child in zip(services, children, strict=True):
            if child.poll() is not None:
                raise SystemExit(f"{svc.name} exited during start-up; see var/logs/{svc.name}.log")
        if pending and time.monotonic() - started > timeout:
            raise SystemExit(f"not ready after {timeout:.0f}s: {', '.join(pending)}; see var/logs/")
        time.sleep(0.5)


def _load_demo_data(key: SigningKey) -> None:
    """Publish the demo catalogue once, and the demo halls and windows of the ticketing service."""
    token = mint_token(key, sub="make-run", roles=["catalog_admin", "hall_admin"], halls=["*"], departments=["*"])
    headers = {"Authorization": f"Bearer {token}"}
    forms = SERVICES.get("forms").local_url
    versions = httpx.get(f"{forms}/catalog/versions", headers=headers, timeout=10)
    published = versions.status_code == 200 and any(
        v.get("status") == "published" for v in (versions.json() if isinstance(versions.json(), list) else versions.json().get("items", []))
    )
    if not published:
        catalog = json.loads((ROOT / "services" / "forms" / "seed" / "demo-catalog.json").read_text(encoding="utf-8"))
        draft = httpx.post(f"{forms}/catalog/versions", json=catalog, headers=headers, timeout=30)
        draft.raise_for_status()
        httpx.post(f"{forms}/catalog/versions/{draft.json()['version']}/publish", headers=headers, timeout=30).raise_for_status()
        _say(f"demo catalogue published as version {draft.json()['version']}")
    seed = ROOT / "services" / "ticketing" / "seed"
    if seed.exists():
        result = subprocess.run(
            [sys.executable, "-m", "services.ticketing.cli", "seed-demo"], cwd=ROOT, capture_output=True, text=True
        )
        _say("demo halls and windows loaded" if result.returncode == 0 else f"ticketing seed failed: {result.stderr[-300:]}")


def _print_banner(services: list[ServiceEntry]) -> None:
    lines = ["", "OneWindow is running. API docs (OpenAPI):"]
    lines += [f"  {s.title:<40} http://127.0.0.1:{s.port}/docs" for s in services]
    lines += [
        "",
        "A token to try the API:  .venv/bin/python -m shared mint-token --role clerk --hall ZS-CITY",
        "Logs: var/logs/<service>.log    Stop: Ctrl-C",
        "",
    ]
    print("\n".join(lines), flush=True)
