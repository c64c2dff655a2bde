"""Time limits over many tasks: the overdue sweep (and its background loop), the department report."""

import asyncio
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.approval import deadlines, history, post_checks, repository
from services.approval.deadlines import ServiceClock
from shared.auth import Principal
from shared.events.approvals import ApprovalOverdue
from shared.observability import get_logger
from shared.outbox import Outbox
from shared.problems import Unprocessable

log = get_logger(__name__)

SWEEP_BATCH = 500


async def sweep(
    session: AsyncSession, *, outbox: Outbox, as_of: date, batch: int = SWEEP_BATCH
) -> dict[str, Any]:
    """Mark tasks past their promised date overdue (approval.overdue once per task); open post-checks
    for commitments whose deadline passed. Safe with replicas (skip-locked) and repeatable."""
    now = datetime.now(UTC)
    overdue: list[str] = []
    for task in await repository.overdue_candidates(session, as_of=as_of, limit=batch):
        task.overdue_on = as_of
        history.record(
            session,
            task,
            actor=history.SYSTEM,
            role=history.SYSTEM,
            action="overdue",
            data={"promised_due": task.promised_due.isoformat(), "as_of": as_of.isoformat()},
            at=now,
        )
        await outbox.add(
            session,
            correlation_id=await repository.flow_correlation(session, application_id=task.application_id),
            event=ApprovalOverdue(
                application_id=task.application_id,
                item_id=task.item_id,
                task_id=task.id,
                matter_code=task.matter_code,
                department=task.department,
                promised_due=task.promised_due,
                at=now,
            ),
            hall=task.hall,
        )
        overdue.append(task.id)
    commitments: list[str] = []
    for task in await repository.commitment_overdue_candidates(session, as_of=as_of, limit=batch):
        task.commitment_status = "overdue"
        history.record(
            session,
            task,
            actor=history.SYSTEM,
            role=history.SYSTEM,
            action="commitment_overdue",
            data={
                "deadline": task.commitment_deadline.isoformat() if task.commitment_deadline else None,
                "missing": sorted(set(task.commitment_materials) - set(task.commitment_delivered)),
            },
            at=now,
        )
        if task.status != "denied":
            await post_checks.open_check(session, task=task, reason="commitment_overdue", opened_on=as_of)
        commitments.append(task.id)
    await session.flush()
    return {"as_of": as_of, "overdue": overdue, "commitments_overdue": commitments}


async def sweep_forever(runtime: Any, *, clock: ServiceClock, interval: float) -> None:
    """Background loop: sweep with the service clock every ``interval`` seconds; errors are logged."""
    while True:
        try:
            while True:  # batch after batch, one transaction each, until nothing is left
                async with runtime.sessionmaker() as session, session.begin():
                    result = await sweep(
                        session, outbox=runtime.outbox, as_of=clock.today(), batch=SWEEP_BATCH
                    )
                found = max(len(result["overdue"]), len(result["commitments_overdue"]))
                if found:
                    runtime.relay.wake()
                    log.info(
                        "time-limit sweep",
                        overdue=len(result["overdue"]),
                        commitments_overdue=len(result["commitments_overdue"]),
                    )
                if found < SWEEP_BATCH:
                    break
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the loop must outlive any failure, e.g. a database outage
            log.warning("time-limit sweep failed; will retry", error=repr(exc)[:300])
        await asyncio.sleep(interval)


async def department_report(
    session: AsyncSession,
    *,
    principal: Principal,
    department: str,
    date_from: date,
    date_to: date,
    as_of: date,
    warning_days: int,
) -> dict[str, Any]:
    """On time / late / average working days of a department's decisions, and its open backlog."""
    principal.check_department(department)
    if date_to < date_from:
        raise Unprocessable("date_to is before date_from")
    cal = deadlines.calendar()
    decided = await repository.department_tasks(
        session, department=department, decided_from=date_from, decided_to=date_to
    )
    on_time = sum(1 for t in decided if t.decided_on is not None and t.decided_on <= t.promised_due)
    used = [
        max(0, cal.working_days_between(t.accepted_on, t.decided_on) - t.paused_days)
        for t in decided
        if t.decided_on is not None
    ]
    states = [
        deadlines.clock_of(t, as_of=as_of, warning_days=warning_days)["state"]
        for t in await repository.open_department_tasks(session, department=department)
    ]
    return {
        "department": department,
        "date_from": date_from,
        "date_to": date_to,
        "decided": len(decided),
        "on_time": on_time,
        "late": len(decided) - on_time,
        "on_time_rate": round(on_time / len(decided), 4) if decided else None,
        "average_working_days": round(sum(used) / len(used), 2) if used else None,
        "open": len(states),
        "open_overdue": states.count("overdue"),
        "open_warning": states.count("warning"),
    }
