"""The whole system as ``make run`` starts it (``python -m shared run``), in a temporary var dir.

The bench measures what an operator runs: every service in its own uvicorn process, the embedded
PostgreSQL and broker, migrations and demo data, all started by the stack itself. Only two things are
changed through the environment: the var dir and a port offset (so a developer's ``make run`` on the
default ports is left alone), and the per-kiosk ticket budget (30 a minute by default; a load generator
is one "kiosk" taking hundreds a second). Same approach as the fault suite (tests/chaos/harness.py).
"""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from shared.auth import SigningKey, load_or_create_keys, mint_token
from shared.infra import EmbeddedBroker, EmbeddedPostgres, die_with_parent, ensure_database, port_open
from shared.registry import SERVICES

ROOT = Path(__file__).resolve().parent.parent
# Servers of someone else's: the bench must use the stack's own embedded PostgreSQL and broker.
FOREIGN_ENV = ("ONEWINDOW_DATABASE_URL", "ONEWINDOW_KAFKA_BOOTSTRAP", "ONEWINDOW_BROKER_PORT")


def free_port_offset(first: int = 300) -> int:
    """The first offset from ``first`` (steps of 100) whose service ports and broker port are all free."""
    for offset in range(first, first + 5000, 100):
        if not any(port_open(p) for p in [s.port + offset for s in SERVICES] + [9092 + offset]):
            return offset
    raise RuntimeError("no free port offset for the bench stack")


class Stack:
    """One ``python -m shared run`` in a temporary directory; ``start()``, then ``stop()`` (always)."""

    def __init__(self, *, port_offset: int | None = None, extra_env: dict[str, str] | None = None) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="ow-bench-"))
        os.chmod(self.root, 0o755)  # the embedded PostgreSQL runs as its own system user when we are root
        self.var = self.root / "var"
        self.port_offset = free_port_offset() if port_offset is None else port_offset
        self.extra_env = extra_env or {}
        self.output = self.root / "stack.out"
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{SERVICES.get(service).port + self.port_offset}"

    @property
    def database_url(self) -> str:
        """libpq URL of the stack's database (embedded PostgreSQL: a unix socket in var/pgdata, see
        shared/stack.py and EmbeddedPostgres.url)."""
        return f"postgresql://postgres@/onewindow?host={self.var / 'pgdata'}"

    @property
    def key(self) -> SigningKey:
        """The stack's signing key (it trusts tokens signed with it, like ``make mint-token``)."""
        return load_or_create_keys(self.var / "keys")[0]

    def token(self, sub: str, roles: list[str], **claims: object) -> dict[str, str]:
        """An Authorization header for a token of the stack's issuer (6 hours: longer than any bench)."""
        token = mint_token(self.key, sub=sub, roles=roles, ttl_seconds=6 * 3600, **claims)  # type: ignore[arg-type]
        return {"Authorization": f"Bearer {token}"}

    def pid(self, name: str) -> int:
        """The pid the stack wrote for ``name`` (a service, the broker or the stack): var/run/<name>.pid."""
        return int((self.var / "run" / f"{name}.pid").read_text().strip())

    def text(self) -> str:
        try:
            return self.output.read_text(errors="replace")
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, *, timeout: float = 180) -> float:
        """Start the stack; wait for its banner (demo data loaded) and every service's /readyz."""
        began = time.monotonic()
        env = {k: v for k, v in os.environ.items() if k not in FOREIGN_ENV}
        env |= {"ONEWINDOW_VAR_DIR": str(self.var), "ONEWINDOW_PORT_OFFSET": str(self.port_offset)}
        env |= self.extra_env
        with self.output.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "shared", "run"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C of the bench reaches the bench; stop() then drains the stack
                preexec_fn=die_with_parent,  # a killed bench stops the stack (which drains) too
            )
        while "OneWindow is running" not in self.text():
            if not self.alive():
                raise RuntimeError(f"the stack exited:\n{self.text()[-3000:]}")
            if time.monotonic() - began > timeout:
                raise TimeoutError(f"no banner after {timeout:.0f} s; see {self.output}")
            time.sleep(0.2)
        pending = set(SERVICES.names)
        while pending:
            for name in list(pending):
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{self.url(name)}/readyz", timeout=5).status_code == 200:
                        pending.discard(name)
            if pending and time.monotonic() - began > timeout:
                raise TimeoutError(f"not ready after {timeout:.0f} s: {', '.join(sorted(pending))}")
            time.sleep(0.2)
        return time.monotonic() - began

    def stop(self) -> None:
        """SIGINT (Ctrl-C of ``make run``: the services drain, then broker and PostgreSQL stop), else kill;
        then remove the temporary directory."""
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(90)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass(frozen=True)
class Infra:
    """What ``embedded_infra`` started: its directory, the ``bench`` database's URL and the broker's address."""

    root: Path
    database_url: str
    bootstrap: str


@contextlib.asynccontextmanager
async def embedded_infra(name: str) -> AsyncIterator[Infra]:
    """A PostgreSQL (with a ``bench`` database) and a broker of their own in a new temporary directory, for
    the benchmarks that run a service in process; both stopped at the end."""
    root = Path(tempfile.mkdtemp(prefix=f"ow-bench-{name}-"))
    os.chmod(root, 0o755)  # the embedded PostgreSQL runs as its own system user when we are root
    pg = EmbeddedPostgres(root / "pg")
    admin = pg.start()
    try:
        broker = EmbeddedBroker(log_path=root / "broker.log")
        bootstrap = broker.start()
        try:
            await ensure_database(admin, "bench")
            yield Infra(root, pg.url("bench"), bootstrap)
        finally:
            broker.stop()
    finally:
        pg.stop()
