"""The backbone loses nothing (issue 11): applications flow through acceptance -> approval -> issuance
while the broker is SIGKILLed, the whole stack is SIGINTed and started again, one service is SIGKILLed and
PostgreSQL is stopped; after each fault every application is decided, issued and collected, none lost, none
doubled, and acceptance's status and history agree with approval and issuance.

One stack (``python -m shared run``, its own state directory and ports) for the module; one test per fault,
in order, each pushing its own applications and auditing all of them so far (a later fault may disturb
earlier applications: a broker restart re-sends everything). Faults happen at a seeded moment (after the
k-th acceptance of the phase; ONEWINDOW_CHAOS_SEED). Figures per fault are printed (``pytest tests/chaos -s``)
and written to ``figures.json`` in the suite's directory (and to $ONEWINDOW_CHAOS_FIGURES if set).
"""

import asyncio
import json
import os
import random
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from shared.auth import load_or_create_keys
from shared.infra import wait_for
from shared.registry import SERVICES
from tests.chaos.driver import Case, Finding, Staff, audit, drive_safely, wait_for_catalogue
from tests.chaos.harness import ChaosStack, free_port_offset

# The module runs in about 2 minutes; the first test also starts the stack, the SIGINT test restarts it.
pytestmark = pytest.mark.timeout(300)

SEED = int(os.environ.get("ONEWINDOW_CHAOS_SEED", "11"))
PER_FAULT = int(os.environ.get("ONEWINDOW_CHAOS_PER_FAULT", "30"))  # 4 faults x 30 = 120 applications
CONCURRENCY = 6  # applications in flight at once: staff at a few windows
PHASE_SECONDS = 150.0  # a phase's applications must all be collected by then (they take ~2 s each unfaulted)
QUIET_SECONDS = 60.0  # then every outbox empty and every consumer at the end of its partitions
PG_OUTAGE_SECONDS = 10.0
KILLABLE = ("acceptance", "approval", "issuance")  # the services the applications pass through


@dataclass
class Chaos:
    """The stack, the staff driving it, and every application and fault so far."""

    stack: ChaosStack
    staff: Staff
    rng: random.Random
    cases: list[Case] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    started_s: float = 0.0

    async def republished(self) -> float:
        return sum(f["republished"] for f in (await self.stack.metrics()).values())

    async def phase(self, fault: str, inject: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        """Push PER_FAULT applications; after the k-th is accepted, ``inject()`` the fault (it returns once
        the fault is done, e.g. the stack started again); wait for every service ready, every application
        collected, the backbone quiet; then audit every application so far."""
        cases = [Case(n=len(self.cases) + i + 1, phase=fault) for i in range(PER_FAULT)]
        self.cases += cases
        trigger = self.rng.randint(CONCURRENCY, PER_FAULT // 2)
        began = time.monotonic()
        until = began + PHASE_SECONDS
        before = await self.stack.metrics()
        slots = asyncio.Semaphore(CONCURRENCY)
        tasks = [asyncio.create_task(drive_safely(self.staff, c, until=until, slots=slots)) for c in cases]
        await wait_for(
            lambda: sum(c.reached("accepted") for c in cases) >= trigger or all(t.done() for t in tasks),
            timeout=60,
            interval=0.05,
            message=f"{trigger} applications accepted",
        )
        in_flight = [c for c in cases if c.started is not None and c.finished is None and c.error is None]
        at_fault = {
            "accepted_before": sum(c.reached("accepted") for c in cases),
            "in_flight": len(in_flight),
            "in_flight_stages": dict(Counter(c.stage for c in in_flight)),
        }
        t0 = time.monotonic()
        details = await inject()
        injected_s = time.monotonic() - t0
        try:
            await wait_for(
                self.stack.all_ready, timeout=90, interval=0.2, message="every service ready after the fault"
            )
        except TimeoutError as exc:  # say which service is not ready, and why
            raise TimeoutError(f"{exc}: {await self.stack.readiness()}") from exc
        ready_s = time.monotonic() - t0
        await asyncio.wait(tasks, timeout=max(until - time.monotonic(), 1))
        complete_s = time.monotonic() - t0
        await wait_for(
            self.stack.quiet,
            timeout=QUIET_SECONDS,
            interval=0.5,
            message="outboxes empty and consumers caught up",
        )
        quiet_s = time.monotonic() - t0
        after = await self.stack.metrics()
        findings = await audit(self.staff, self.cases, until=time.monotonic() + 60)
        self.findings = findings
        kinds = Counter(f.kind for f in findings)
        figures = {
            "fault": fault,
            **details,
            "applications": len(cases),
            "applications_so_far": len(self.cases),
            "fault_after_acceptances": trigger,
            **at_fault,
            "fault_done_s": round(injected_s, 2),
            "ready_s": round(ready_s, 2),
            "all_collected_s": round(complete_s, 2),
            "quiet_s": round(quiet_s, 2),
            "phase_s": round(time.monotonic() - began, 2),
            "collected": sum(c.stage == "collected" for c in cases),
            "lost": kinds["lost"] + kinds["not_accepted"],
            "doubled": kinds["doubled"],
            "disagreements": kinds["disagrees"],
            "requests_retried": sum(sum(c.retries.values()) for c in cases),
            "retried_because": dict(sum((c.retries for c in cases), Counter()).most_common()),
            "backbone": _grown(before, after),
            "findings": [
                f.as_dict() | {"log": self.stack.log_lines(f.case.application_id or "-", limit=15)}
                for f in findings[:20]
            ],
        }
        self.faults.append(figures)
        print(_line(figures), flush=True)
        return figures


def _grown(before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]) -> dict[str, float]:
    """Events re-published, duplicates the inboxes dropped, dead letters during the phase (sums over services;
    a restarted service's counters start again from 0, so its whole count is taken)."""
    totals: dict[str, float] = {}
    for key in ("republished", "duplicates", "dead_lettered"):
        grown = 0.0
        for service, figures in after.items():
            old = before.get(service, {}).get(key, 0.0)
            grown += figures[key] - old if figures[key] >= old else figures[key]
        totals[key] = grown
    return totals


def _line(f: dict[str, Any]) -> str:
    drain = f" | drain {f['drain']['drain_s']} s, stack down {f['drain']['exit_s']} s" if "drain" in f else ""
    return (
        f"[chaos] {f['fault']}: {f['applications']} applications ({f['in_flight']} in flight at the fault), "
        f"ready after {f['ready_s']} s, all collected after {f['all_collected_s']} s, quiet after {f['quiet_s']} s"
        f" | lost {f['lost']}, doubled {f['doubled']}, disagreements {f['disagreements']}"
        f" | {f['backbone']['republished']:.0f} events re-sent, {f['backbone']['duplicates']:.0f} duplicates dropped,"
        f" {f['backbone']['dead_lettered']:.0f} dead-lettered, {f['requests_retried']} requests retried{drain}"
    )


def _failure(chaos: Chaos, figures: dict[str, Any]) -> str:
    lines = [_line(figures)]
    for finding in chaos.findings[:10]:
        lines.append(json.dumps(finding.as_dict(), ensure_ascii=False))
        lines += [
            f"    {line}" for line in chaos.stack.log_lines(finding.case.application_id or "-", limit=10)
        ]
    lines += ["service errors:", *[f"    {line}" for line in chaos.stack.error_lines(limit=15)]]
    lines.append(f"logs: {chaos.stack.var / 'logs'}; stack output: {chaos.stack.root}/stack-*.out")
    return "\n".join(lines)


def _assert_clean(chaos: Chaos, figures: dict[str, Any]) -> None:
    assert figures["collected"] == figures["applications"] and not chaos.findings, _failure(chaos, figures)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def chaos(request: pytest.FixtureRequest) -> AsyncIterator[Chaos]:
    # Not pytest's tmp_path: its parents are private to root, and the embedded server runs as another user.
    root = Path(tempfile.mkdtemp(prefix="ow-chaos-"))
    os.chmod(root, 0o755)
    stack = ChaosStack(root, free_port_offset())
    failed_before = request.session.testsfailed
    began = time.monotonic()
    try:
        start_s = await stack.start()
        key, _ = load_or_create_keys(stack.var / "keys")  # the stack's embedded issuer
        chaos = Chaos(
            stack,
            Staff(key, {name: stack.url(name) for name in SERVICES.names}),
            random.Random(SEED),
            started_s=start_s,
        )
        try:
            await wait_for_catalogue(chaos.staff)
            yield chaos
        finally:
            await chaos.staff.http.aclose()
    finally:
        stack.stop()
        await stack.http.aclose()
    figures = {
        "seed": SEED,
        "applications": len(chaos.cases),
        "faults": len(chaos.faults),
        "lost": sum(f["lost"] for f in chaos.faults),
        "doubled": sum(f["doubled"] for f in chaos.faults),
        "disagreements": sum(f["disagreements"] for f in chaos.faults),
        "stack_start_s": round(chaos.started_s, 2),
        "module_s": round(time.monotonic() - began, 1),
        "port_offset": stack.port_offset,
        "per_fault": chaos.faults,
    }
    text = json.dumps(figures, indent=2, ensure_ascii=False)
    (root / "figures.json").write_text(text)
    if os.environ.get("ONEWINDOW_CHAOS_FIGURES"):
        Path(os.environ["ONEWINDOW_CHAOS_FIGURES"]).write_text(text)
    print(
        f"\n[chaos] {figures['applications']} applications, {figures['faults']} faults: lost {figures['lost']}, "
        f"doubled {figures['doubled']}, disagreements {figures['disagreements']}; module {figures['module_s']} s; "
        f"figures in {root / 'figures.json'}",
        flush=True,
    )
    if request.session.testsfailed == failed_before:  # keep everything of a failed run for a look
        shutil.rmtree(stack.var / "pgdata", ignore_errors=True)


async def test_broker_sigkill_loses_and_doubles_nothing(chaos: Chaos) -> None:
    """kill -9 of the embedded broker: the supervisor starts it again, empty, on the same port; the relays
    notice the new lifetime and re-send; consumers read the new log from the start and drop repeats."""

    async def inject() -> dict[str, Any]:
        republished = await chaos.republished()
        pid = chaos.stack.sigkill("broker")
        restarted_s = await chaos.stack.restarted("broker", old_pid=pid)
        await wait_for(
            lambda: _more(chaos, republished),
            timeout=30,
            interval=0.2,
            message="the relays to re-send what the broker lost",
        )
        return {"target": "broker", "restarted_after_s": round(restarted_s, 2)}

    figures = await chaos.phase("broker SIGKILL", inject)
    assert "[onewindow] broker exited with code -9" in chaos.stack.text()
    _assert_clean(chaos, figures)


async def test_stack_sigint_and_restart_loses_and_doubles_nothing(chaos: Chaos) -> None:
    """Ctrl-C of make run: services drain (outbox flushed, consumers caught up), then the broker and the
    database stop; the stack starts again on the same state: the database is kept, the broker is new."""

    async def inject() -> dict[str, Any]:
        drain = await chaos.stack.interrupt()
        restart_s = await chaos.stack.start()
        await wait_for(
            lambda: _more(chaos, 0),
            timeout=30,
            interval=0.2,
            message="the relays to re-send into the new broker",
        )
        return {"target": "stack", "drain": drain.as_dict(), "restart_s": round(restart_s, 2)}

    figures = await chaos.phase("stack SIGINT + restart", inject)
    drain = figures["drain"]
    assert set(drain["services"]) == set(SERVICES.names), drain
    _assert_clean(chaos, figures)


async def test_service_sigkill_loses_and_doubles_nothing(chaos: Chaos) -> None:
    """kill -9 of one service on the applications' path: the supervisor restarts it; requests in flight fail
    and are retried; its outbox and committed offsets carry on."""
    target = chaos.rng.choice(KILLABLE)

    async def inject() -> dict[str, Any]:
        pid = chaos.stack.sigkill(target)
        restarted_s = await chaos.stack.restarted(target, old_pid=pid)
        return {"target": target, "restarted_after_s": round(restarted_s, 2)}

    figures = await chaos.phase(f"{target} SIGKILL", inject)
    assert f"[onewindow] {target} exited with code -9" in chaos.stack.text()
    _assert_clean(chaos, figures)


async def test_postgres_stop_loses_and_doubles_nothing(chaos: Chaos) -> None:
    """PostgreSQL stopped (immediate: like a crash) for 10 s and started again: the services answer 503
    meanwhile and recover by themselves."""

    async def inject() -> dict[str, Any]:
        options = chaos.stack.stop_postgres()
        down = time.monotonic()

        async def all_see_it() -> bool:
            states = await chaos.stack.readiness()
            return all("database" in body.get("reasons", {}) for _, body in states.values())

        await wait_for(
            all_see_it, timeout=PG_OUTAGE_SECONDS, interval=0.2, message="every service to see the outage"
        )
        noticed_s = time.monotonic() - down
        await asyncio.sleep(max(PG_OUTAGE_SECONDS - noticed_s, 0))  # the outage lasts this long, on purpose
        chaos.stack.start_postgres(options)
        return {
            "target": "postgresql",
            "outage_s": round(time.monotonic() - down, 2),
            "all_services_saw_it_after_s": round(noticed_s, 2),
        }

    figures = await chaos.phase("PostgreSQL stop (immediate)", inject)
    _assert_clean(chaos, figures)


async def _more(chaos: Chaos, than: float) -> bool:
    return await chaos.republished() > than
