"""Time limits over many tasks: the overdue sweep (and its background loop), the department report."""

import asyncio
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.approval import bundles, deadlines, history, post_checks, repository
from services.approval.deadlines import ServiceClock
from services.approval.models import OPEN_STATES, Task
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
        await bundles.member_late(session, task=task, outbox=outbox, as_of=as_of, now=now)  # lead dept, once
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


async def recompute_dues_batch(
    session: AsyncSession, *, after_id: str | None = None, batch: int = SWEEP_BATCH
) -> tuple[list[str], str | None]:
    """One batch of open tasks (ids after ``after_id``, locked, skip-locked): where the stored legal or
    promised due date differs from the current calendar's (e.g. the State Council notice replaced a
    provisional year), store the new dates with a ``due_dates_recomputed`` history entry. Returns the
    changed task ids and the id to continue after (None when done). Repeatable: unchanged tasks stay."""
    query = select(Task).where(Task.status.in_(OPEN_STATES)).order_by(Task.id).limit(batch)
    if after_id is not None:
        query = query.where(Task.id > after_id)
    tasks = list((await session.execute(query.with_for_update(skip_locked=True))).scalars())
    changed: list[str] = []
    now = datetime.now(UTC)
    for task in tasks:
        legal_due, promised_due = deadlines.due_dates(
            accepted_on=task.accepted_on,
            legal_limit=task.legal_limit,
            promised_limit=task.promised_limit,
            paused_days=task.paused_days,
        )
        if (legal_due, promised_due) == (task.legal_due, task.promised_due):
            continue
        history.record(
            session,
            task,
            actor=history.SYSTEM,
            role=history.SYSTEM,
            action="due_dates_recomputed",
            data={
                "old": {"legal_due": task.legal_due.isoformat(), "promised_due": task.promised_due.isoformat()},
                "new": {"legal_due": legal_due.isoformat(), "promised_due": promised_due.isoformat()},
                "provisional_years": deadlines.provisional_years(task.accepted_on, legal_due, promised_due),
            },
            at=now,
        )
        task.legal_due, task.promised_due = legal_due, promised_due
        changed.append(task.id)
    await session.flush()
    return changed, (tasks[-1].id if len(tasks) == batch else None)


async def recompute_dues(runtime: Any, *, batch: int = SWEEP_BATCH) -> list[str]:
    """Bring every open task's stored due dates in line with the current calendar, one transaction per
    batch (the overdue sweep and the worklist filters read the stored dates)."""
    changed: list[str] = []
    after: str | None = None
    while True:
        async with runtime.sessionmaker() as session, session.begin():
            ids, after = await recompute_dues_batch(session, after_id=after, batch=batch)
        changed += ids
        if after is None:
            break
    if changed:
        log.info("due dates recomputed with the current working-day calendar", tasks=len(changed))
    return changed


async def recompute_on_start(runtime: Any) -> None:
    """Once at start-up (an operator may have loaded next year's notice); a failure is logged, not fatal."""
    try:
        await recompute_dues(runtime)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - the sweep loop (if on) tries again; a restart does too
        log.warning("recomputing due dates failed", error=repr(exc)[:300])


async def sweep_forever(runtime: Any, *, clock: ServiceClock, interval: float) -> None:
    """Background loop: sweep with the service clock every ``interval`` seconds; errors are logged.
    Before sweeping, stored due dates are recomputed when the calendar changed (and on the first round)."""
    recomputed_with: Any = None
    while True:
        try:
            calendar = deadlines.calendar()  # reloaded when the operator's notice files change
            if calendar is not recomputed_with:
                await recompute_dues(runtime)
                recomputed_with = calendar
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
