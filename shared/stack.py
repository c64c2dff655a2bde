"""`make run`: the whole system on one machine.

Starts PostgreSQL and the broker (embedded unless ONEWINDOW_DATABASE_URL / ONEWINDOW_KAFKA_BOOTSTRAP
are set), migrates, starts every service on its fixed port, loads the demo data and prints where the
API docs are. It supervises its children: a service or the embedded broker that exits is restarted with
backoff, and a crash loop is reported and given up on. Ctrl-C (or SIGTERM) drains the services first
(requests refused, outboxes flushed, consumers caught up), then stops the broker, then the database.
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from shared import migrations
from shared.auth import SigningKey, load_or_create_keys, mint_token
from shared.infra import EmbeddedBroker, EmbeddedPostgres, die_with_parent, ensure_database, port_open
from shared.registry import SERVICES, ServiceEntry
from shared.supervisor import Supervised

ROOT = Path(__file__).resolve().parent.parent
# A service drains for at most its DRAIN_SECONDS (10 s by default), then shuts its engine down.
DRAIN_WAIT_SECONDS = 30.0


def _say(text: str) -> None:
    print(f"[onewindow] {text}", flush=True)


@dataclass(frozen=True)
class StackPlaces:
    """Where one stack keeps its state and listens: ``var/`` and the registry's ports by default;
    ``ONEWINDOW_VAR_DIR`` and ``ONEWINDOW_PORT_OFFSET`` move both (a second stack, the fault tests)."""

    var: Path
    port_offset: int

    @classmethod
    def from_env(cls) -> "StackPlaces":
        return cls(Path(os.environ.get("ONEWINDOW_VAR_DIR") or ROOT / "var"), int(os.environ.get("ONEWINDOW_PORT_OFFSET", "0")))

    def port(self, svc: ServiceEntry) -> int:
        return svc.port + self.port_offset

    def url(self, svc: ServiceEntry) -> str:
        return f"http://127.0.0.1:{self.port(svc)}"

    @property
    def broker_port(self) -> int:
        return int(os.environ.get("ONEWINDOW_BROKER_PORT") or 9092 + self.port_offset)

    def pid_file(self, name: str) -> Path:
        """``var/run/<name>.pid``: what operators and the fault tests signal."""
        return self.var / "run" / f"{name}.pid"


def run_stack() -> None:
    """Run until Ctrl-C (or SIGTERM); then drain the services, stop the broker last, then the database."""
    places = StackPlaces.from_env()
    var = places.var
    var.mkdir(parents=True, exist_ok=True)
    os.chmod(var, 0o755)
    (var / "run").mkdir(exist_ok=True)
    places.pid_file("stack").write_text(str(os.getpid()))
    pg: EmbeddedPostgres | None = None
    broker: EmbeddedBroker | None = None
    watched: list[Supervised] = []
    broker_watch: Supervised | None = None
    signals = 0

    def _stop(*_: object) -> None:
        nonlocal signals
        signals += 1
        if signals > 1:  # a second Ctrl-C: stop at once, without waiting for the drain
            _say("second signal: stopping at once")
            for s in watched:
                if s.alive() and s.process is not None:
                    s.process.kill()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        database_url = os.environ.get("ONEWINDOW_DATABASE_URL")
        if database_url:
            _say("using the configured PostgreSQL")
        else:
            _say(f"starting embedded PostgreSQL ({var / 'pgdata'})")
            pg = EmbeddedPostgres(var / "pgdata")
            admin = pg.start()
            asyncio.run(ensure_database(admin, "onewindow"))
            database_url = pg.url("onewindow")
        bootstrap = os.environ.get("ONEWINDOW_KAFKA_BOOTSTRAP")
        if bootstrap:
            _say(f"using the configured Kafka at {bootstrap}")
        else:
            _say(f"starting the embedded Kafka-protocol broker on 127.0.0.1:{places.broker_port} (memory only)")
            broker = EmbeddedBroker(places.broker_port, log_path=var / "broker.log")
            bootstrap = broker.bootstrap
            broker_watch = Supervised(
                "broker",
                start=_broker_starter(broker, places),
                say=_say,
                log_hint=f"; see {var / 'broker.log'}",
                on_restart=lambda: _say("the broker came back empty: the services re-send what it held (see /readyz)"),
            )
            broker_watch.launch()
        key, jwks_path = load_or_create_keys(var / "keys")
        services = list(SERVICES)  # tests/shared/test_registry.py: every entry has its folder
        for svc in services:
            migrations.upgrade(svc.name, database_url)
        _say("migrations applied")
        busy = [s for s in services if port_open(places.port(s))]
        if busy:
            raise SystemExit(f"ports already in use: {', '.join(str(places.port(s)) for s in busy)} (another make run?)")
        logs = var / "logs"
        logs.mkdir(exist_ok=True)
        for svc in services:
            supervised = Supervised(
                svc.name,
                start=_service_starter(svc, places, database_url, bootstrap, str(jwks_path), logs),
                say=_say,
                log_hint=f"; see {logs / (svc.name + '.log')}",
            )
            supervised.launch()
            watched.append(supervised)
        everything = [*watched, *([broker_watch] if broker_watch else [])]
        _wait_ready(services, places, everything, timeout=90, stopped=lambda: signals > 0)
        if signals == 0:
            _load_demo_data(key, places)
            _print_banner(services, places)
        while signals == 0:
            for supervised in everything:
                supervised.poll()
            time.sleep(0.5)
    finally:
        _stop_services(watched, places)
        if broker_watch is not None and broker is not None:
            _say("stopping the broker")
            broker.process = broker_watch.process
            broker.stop()
        if pg:
            _say("stopping PostgreSQL (its data stays in var/pgdata)")
            pg.stop()
        _say("stopped")


def _broker_starter(broker: EmbeddedBroker, places: StackPlaces) -> Callable[[], "subprocess.Popen[bytes]"]:
    def start() -> "subprocess.Popen[bytes]":
        broker.process = None
        broker.start()
        assert broker.process is not None
        places.pid_file("broker").write_text(str(broker.process.pid))
        return broker.process

    return start


def _stop_services(watched: list[Supervised], places: StackPlaces) -> None:
    """SIGTERM every service at once (each drains: no new requests, relay flushed, consumers at the end
    of their partitions, bounded by its DRAIN_SECONDS), report each as it exits, kill stragglers."""
    alive = [s for s in watched if s.alive()]
    if not alive:
        return
    _say(
        "stopping: draining " + ", ".join(s.name for s in alive)
        + " (requests refused, outboxes flushed, consumers caught up; a second Ctrl-C stops at once)"
    )
    started = time.monotonic()
    for s in alive:
        assert s.process is not None
        s.process.send_signal(signal.SIGTERM)
    deadline = started + DRAIN_WAIT_SECONDS
    waiting = list(alive)
    while waiting and time.monotonic() < deadline:
        for s in list(waiting):
            if not s.alive():
                _say(f"{s.name} stopped after {time.monotonic() - started:.1f} s{_drain_summary(places, s.name)}")
                waiting.remove(s)
        time.sleep(0.05)
    for s in waiting:
        assert s.process is not None
        _say(f"{s.name} did not stop in {DRAIN_WAIT_SECONDS:.0f} s; killing it")
        s.process.kill()
        s.process.wait(5)


def _drain_summary(places: StackPlaces, name: str) -> str:
    """The service's own ``drained`` log line, shortened (its log is JSON lines)."""
    path = places.var / "logs" / f"{name}.log"
    try:
        with path.open("rb") as f:
            f.seek(max(path.stat().st_size - 20_000, 0))
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        if '"drained"' in line:
            try:
                record = json.loads(line)
            except ValueError:
                return ""
            return f" ({record.get('summary', '')})" if record.get("summary") else ""
    return ""


def peer_urls(svc: ServiceEntry, places: StackPlaces) -> dict[str, str]:
    """The base URLs of the services ``svc`` calls (registry ``calls``), at this stack's ports."""
    return {svc.peer_url_env(peer): places.url(SERVICES.get(peer)) for peer in svc.calls}


def _service_starter(
    svc: ServiceEntry, places: StackPlaces, database_url: str, bootstrap: str, jwks: str, logs: Path
) -> Callable[[], "subprocess.Popen[bytes]"]:
    prefix = svc.env_prefix
    env = os.environ | {
        f"{prefix}DATABASE_URL": database_url,
        f"{prefix}KAFKA_BOOTSTRAP": bootstrap,
        f"{prefix}AUTH_JWKS_FILE": jwks,
        f"{prefix}AUTH_REVOCATIONS_URL": f"{places.url(SERVICES.get('identity'))}/auth/revocations",
        f"{prefix}KEYS_DIR": str(places.var / "keys"),
    } | peer_urls(svc, places)

    def start() -> "subprocess.Popen[bytes]":
        log = open(logs / f"{svc.name}.log", "ab")  # noqa: SIM115 (the child's stdout for its lifetime)
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", svc.app_path, "--host", "127.0.0.1",
             "--port", str(places.port(svc)), "--no-access-log", "--timeout-graceful-shutdown", "5",
             "--no-proxy-headers"],  # forwarded headers only from <SVC>_FORWARDED_ALLOW_IPS (shared/edge.py)
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the stack only, which stops children in order
            preexec_fn=die_with_parent,  # a killed stack leaves no orphans
        )
        log.close()  # the child holds its own descriptor
        places.pid_file(svc.name).write_text(str(process.pid))
        return process

    return start


def _wait_ready(
    services: list[ServiceEntry],
    places: StackPlaces,
    watched: list[Supervised],
    *,
    timeout: float,
    stopped: Callable[[], bool],
) -> None:
    started = time.monotonic()
    pending = {s.name: s for s in services}
    while pending and not stopped():
        for name, svc in list(pending.items()):
            try:
                if httpx.get(f"{places.url(svc)}/readyz", timeout=5).status_code == 200:
                    _say(f"{name} ready on :{places.port(svc)} after {time.monotonic() - started:.1f}s")
                    del pending[name]
            except httpx.HTTPError:
                pass
        for supervised in watched:
            supervised.poll()
            if supervised.gave_up:
                raise SystemExit(f"{supervised.name} cannot start{supervised.log_hint}")
        if pending and time.monotonic() - started > timeout:
            raise SystemExit(f"not ready after {timeout:.0f}s: {', '.join(pending)}; see {places.var / 'logs'}")
        time.sleep(0.5)


def _load_demo_data(key: SigningKey, places: StackPlaces) -> None:
    """Publish the demo catalogue once, and the demo halls and windows of the ticketing service."""
    token = mint_token(key, sub="make-run", roles=["catalog_admin", "hall_admin"], halls=["*"], departments=["*"])
    headers = {"Authorization": f"Bearer {token}"}
    forms = places.url(SERVICES.get("forms"))
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
            [sys.executable, "-m", "services.ticketing.cli", "seed-demo",
             "--url", places.url(SERVICES.get("ticketing")), "--keys-dir", str(places.var / "keys")],
            cwd=ROOT, capture_output=True, text=True,
        )
        _say("demo halls and windows loaded" if result.returncode == 0 else f"ticketing seed failed: {result.stderr[-300:]}")


def _print_banner(services: list[ServiceEntry], places: StackPlaces) -> None:
    lines = ["", "OneWindow is running. API docs (OpenAPI):"]
    lines += [f"  {s.title:<40} {places.url(s)}/docs" for s in services]
    lines += [
        "",
        "A token to try the API:  .venv/bin/python -m shared mint-token --role clerk --hall ZS-CITY",
        f"Logs: {places.var / 'logs'}/<service>.log    Stop: Ctrl-C (drains first)",
        "",
    ]
    print("\n".join(lines), flush=True)
