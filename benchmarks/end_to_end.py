"""End to end: open -> submit -> the department lists, claims and approves -> the licence is issued.

Each worker of the closed loop is a clerk and an approver in one: it opens an application for 个体工商户设立
登记 (SCJG-001, decided on the spot) in the demo hall, submits it with its values and materials, lists the
application's approval tasks (read-your-writes: the approver's first try finds them), claims the one the
submit named and approves it. The
licence itself is issued by issuance when ``approval.decided`` reaches it over the broker, so the figures
that matter come from the database afterwards: when acceptance accepted each application and when issuance
wrote ``licence.issued`` for it (both clocks are the database's). Figures: applications approved per second
(the workers' loop), licences issued per second inside the measured window (what the whole system sustains),
submit -> licence p50/p99, and how long the licences still missing when the load stopped took to arrive.
"""

import asyncio
import os
import time
from dataclasses import dataclass

import asyncpg

from benchmarks.loadgen import Call, Worker
from benchmarks.stack import Stack
from shared.testing import new_id_number

HALL = "ZS-CITY"  # the demo hall: acceptance and issuance know it from the seed
MATTER = "SCJG-001"  # 个体工商户设立登记: one decision step, result 营业执照
# One clerk account does the work of a hall's hundreds: forms' read budget per clerk (60 different
# applicants an hour, then 429 and a form filled by hand) would turn every later open into a degraded one
# that skips the prefill. Stacks running this step raise it.
STACK_ENV = {"FORMS_CLERK_APPLICANTS_PER_HOUR": "10000"}


@dataclass
class Arrivals:
    """What the database says about the applications accepted in a time span."""

    accepted: int
    issued_in_window: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    drained_seconds: float  # after the load stopped, until every accepted application had its licence
    missing: int  # licences still missing when the drain wait gave up


class EndToEnd:
    """The step of a worker and the figures from the database."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.clerk = stack.token("bench-e2e-clerk", ["clerk"], halls=[HALL], name="基准测试")
        self.approver = stack.token("bench-e2e-approver", ["approver"], departments=["SCJG"])
        self.acceptance, self.approval = stack.url("acceptance"), stack.url("approval")

    async def step(self, worker: Worker, index: int) -> None:
        id_number = new_id_number()
        applicant = {"type": "natural_person", "id_number": id_number, "name": "李四", "mobile": "13712345678"}
        status, draft = await worker.send("open", Call(
            "POST", f"{self.acceptance}/applications", self.clerk,
            {"hall": HALL, "matter": MATTER, "applicant": applicant}), ok=(201,))
        if status != 201:
            return
        status, submitted = await worker.send("submit", Call(
            "POST", f"{self.acceptance}/applications/{draft['id']}/submit", self.clerk, {
                "values": {"person.name": "李四", "person.id_number": id_number, "person.mobile": "13712345678",
                           "entity.name": f"李四小吃店{index}", "premises.address": "中山市石岐区民族路8号",
                           "entity.business_scope": "小吃服务"},
                "presented": ["ID_CARD", "PREMISES_PROOF"]}))
        if status != 200:
            return
        # the approver opens the application's tasks (read-your-writes: found even before the broker
        # delivered application.accepted), then claims and approves the one the submit named
        task = submitted["items"][0]["task_id"]
        status, _ = await worker.send("tasks", Call(
            "GET", f"{self.approval}/tasks?application_id={submitted['id']}", self.approver))
        if status != 200:
            return
        status, _ = await worker.send("claim", Call("POST", f"{self.approval}/tasks/{task}/claim", self.approver))
        if status != 200:
            return
        await worker.send("approve", Call("POST", f"{self.approval}/tasks/{task}/approve", self.approver,
                                          {"opinion": "准予登记"}))

    async def arrivals(self, began: float, ended: float, *, drain_timeout: float = 120) -> Arrivals:
        """Applications accepted between ``began`` and ``ended`` (epoch seconds) and their licences."""
        conn = await asyncpg.connect(self.stack.database_url)
        try:
            accepted = await conn.fetchval(
                "SELECT count(*) FROM acceptance.applications WHERE matter_code = $1 AND accepted_at"
                " BETWEEN to_timestamp($2) AND to_timestamp($3)", MATTER, began, ended)
            waited = time.monotonic()
            while True:  # the licences of applications approved near the end are still on their way
                missing = await conn.fetchval(self.MISSING, MATTER, began, ended)
                if missing == 0 or time.monotonic() - waited > drain_timeout:
                    break
                await asyncio.sleep(0.2)
            drained = time.monotonic() - waited
            rows = await conn.fetch(self.LATENCIES, MATTER, began, ended)
        finally:
            await conn.close()
        ms = sorted(r["ms"] for r in rows)
        in_window = sum(1 for r in rows if r["issued"] <= ended)

        def pct(p: float) -> float:
            return ms[min(len(ms) - 1, round(p / 100 * (len(ms) - 1)))] if ms else float("nan")

        return Arrivals(accepted, in_window, pct(50), pct(95), pct(99), drained, missing)

    # issuance's licence for each application accepted in the window and approved (issued_at: when issuance
    # wrote it, on approval.decided; the machine's clock, as accepted_at). One whose step failed before the
    # approval (the notes count failed requests) has no licence to wait for.
    _ISSUED = """
        SELECT a.accepted_at, (SELECT min(l.issued_at) FROM issuance.licences l
                                WHERE l.application_id = a.id) AS issued
          FROM acceptance.applications a
         WHERE a.matter_code = $1 AND a.accepted_at BETWEEN to_timestamp($2) AND to_timestamp($3)
           AND EXISTS (SELECT 1 FROM approval.tasks t WHERE t.application_id = a.id AND t.decision = 'approved')"""
    MISSING = f"SELECT count(*) FROM ({_ISSUED}) x WHERE issued IS NULL"
    LATENCIES = (f"SELECT extract(epoch FROM issued - accepted_at)::float8 * 1000 AS ms,"
                 f" extract(epoch FROM issued)::float8 AS issued FROM ({_ISSUED}) x WHERE issued IS NOT NULL")


def summary(arrivals: Arrivals, seconds: float, spent: dict[str, float]) -> str:
    """One line: how many were accepted and issued, how late the rest came, and the CPU milliseconds each
    part of the stack spent per accepted application (their sum bounds the rate the machine can do)."""
    per = {name: s * 1000 / max(arrivals.accepted, 1) for name, s in sorted(spent.items(), key=lambda kv: -kv[1])}
    total = sum(per.values())
    cores = os.cpu_count() or 1
    return (f"end to end: {arrivals.accepted} accepted in {seconds:.0f} s, {arrivals.issued_in_window} licences "
            f"issued inside the window ({arrivals.issued_in_window / seconds:.1f}/s); the rest arrived "
            f"{arrivals.drained_seconds:.1f} s after the load stopped"
            + (f", {arrivals.missing} still missing" if arrivals.missing else "")
            + f"; CPU per application {total:.0f} ms ("
            + ", ".join(f"{name} {ms:.0f}" for name, ms in per.items())
            + f"), so at most {cores * 1000 / max(total, 1e-9):.0f}/s on {cores} cores")
