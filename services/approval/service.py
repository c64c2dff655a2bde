"""Approval rules: tasks per matter, steps, decisions, time limits, supplements, liaisons, post-checks.

Service functions flush, never commit; events go through the outbox in the caller's transaction.
Every change of a task locks its application row first, then the task: decisions of one bundle are
serialised (the last member's decision sees the others) and concurrent claims have one winner.
"""

import asyncio
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from services.approval import repository
from services.approval.models import (
    DECIDED_STATES,
    OPEN_STATES,
    PAUSED_STATES,
    Handover,
    PostCheck,
    Task,
    TaskHistory,
)
from shared import context
from shared.auth import Principal, Role
from shared.events.applications import ApplicationAccepted, ApplicationSupplemented
from shared.events.approvals import (
    ApprovalDecided,
    ApprovalOverdue,
    ApprovalTaskOpened,
    DecisionRevoked,
    SupplementRequested,
)
from shared.events.envelope import uuid7
from shared.observability import get_logger
from shared.outbox import Outbox
from shared.problems import Conflict, NotFound, Unprocessable
from shared.workdays import WorkCalendar, default_calendar

log = get_logger(__name__)

# Who may act at each step; unknown step names fall back to approvers.
STEP_ROLES: dict[str, list[str]] = {
    "review": [Role.APPROVER],
    "inspection": [Role.APPROVER],
    "decision": [Role.APPROVER],
}
SYSTEM = "system"
SWEEP_BATCH = 500


@dataclass
class ServiceClock:
    """The service's notion of today (in the hall's time zone); tests and demos can pin the date."""

    timezone: str = "Asia/Shanghai"
    fixed: date | None = None
    tz: ZoneInfo = field(init=False)

    def __post_init__(self) -> None:
        self.tz = ZoneInfo(self.timezone)

    def today(self) -> date:
        """Today's date in the service's time zone (or the pinned date)."""
        return self.fixed or datetime.now(self.tz).date()

    def local_date(self, moment: datetime) -> date:
        """The calendar day of ``moment`` in the service's time zone."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(self.tz).date()


def calendar() -> WorkCalendar:
    """The working-day calendar time limits count on."""
    return default_calendar()


def due_dates(
    *, accepted_on: date, legal_limit: int, promised_limit: int, paused_days: int
) -> tuple[date, date]:
    """Legal and promised due dates: working days after acceptance, extended by paused working days."""
    cal = calendar()
    return (
        cal.add_working_days(accepted_on, legal_limit + paused_days),
        cal.add_working_days(accepted_on, promised_limit + paused_days),
    )


def acting_role(principal: Principal, allowed: list[str] | tuple[str, ...]) -> str:
    """The role the caller acts in (the first of ``allowed`` it holds)."""
    for role in allowed:
        if principal.has(role):
            return str(role)
    return min(principal.roles) if principal.roles else "unknown"


def _record(
    session: AsyncSession,
    task: Task,
    *,
    actor: str,
    role: str,
    action: str,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    """Append one entry to the task's audit trail."""
    session.add(
        TaskHistory(
            task_id=task.id,
            at=at or datetime.now(UTC),
            actor=actor,
            role=role,
            action=action,
            step=current_step(task),
            reason=reason,
            data=data or {},
        )
    )


def current_step(task: Task) -> str | None:
    """Name of the step the task is at (None once decided)."""
    if task.status in DECIDED_STATES or not task.steps:
        return None
    return task.steps[min(task.step_index, len(task.steps) - 1)]["name"]


# ---- opening tasks ---------------------------------------------------------------------------------


async def open_tasks(
    session: AsyncSession, *, outbox: Outbox, event: ApplicationAccepted, clock: ServiceClock
) -> list[str]:
    """One task per item of an accepted application; a repeated application opens nothing twice."""
    await repository.insert_application(
        session,
        values={
            "application_id": event.application_id,
            "application_no": event.application_no,
            "hall": event.hall,
            "collect_hall": event.collect_hall,
            "bundle_code": event.bundle_code,
            "item_ids": [item.item_id for item in event.items],
            "status": "open",
            "correlation_id": context.correlation_id.get(),  # the consumer set it from the envelope
        },
    )
    accepted_on = clock.local_date(event.accepted_at)
    opened: list[str] = []
    for item in event.items:
        steps = (
            ["decision"] if item.on_the_spot and not item.steps else (item.steps or ["review", "decision"])
        )
        legal_due, promised_due = due_dates(
            accepted_on=accepted_on,
            legal_limit=item.legal_limit_working_days,
            promised_limit=item.promised_limit_working_days,
            paused_days=0,
        )
        commitment = item.commitment
        task_id = str(uuid7())
        values = {
            "id": task_id,
            "application_id": event.application_id,
            "item_id": item.item_id,
            "application_no": event.application_no,
            "hall": event.hall,
            "collect_hall": event.collect_hall,
            "bundle_code": event.bundle_code,
            "matter_code": item.matter_code,
            "matter_name": item.matter_name,
            "department": item.department,
            "applicant": event.applicant.model_dump(mode="json"),
            "values": event.values,
            "materials": [m.model_dump(mode="json") for m in item.materials],
            "result_licence_type": item.result_licence_type,
            "on_the_spot": item.on_the_spot,
            "steps": [
                {"name": s, "roles": [str(r) for r in STEP_ROLES.get(s, [Role.APPROVER])]} for s in steps
            ],
            "step_index": 0,
            "status": "pending",
            "accepted_at": event.accepted_at,
            "accepted_on": accepted_on,
            "legal_limit": item.legal_limit_working_days,
            "promised_limit": item.promised_limit_working_days,
            "legal_due": legal_due,
            "promised_due": promised_due,
            "paused_days": 0,
            "commitment_materials": list(commitment.materials) if commitment else [],
            "commitment_delivered": [],
            "commitment_deadline": commitment.deadline if commitment else None,
            "commitment_status": "pending" if commitment and commitment.materials else None,
            "supplement_materials": [],
        }
        if not await repository.insert_task(session, values=values):
            continue
        session.add(
            TaskHistory(
                task_id=task_id,
                actor=SYSTEM,
                role=SYSTEM,
                action="opened",
                step=steps[0],
                data={"promised_due": promised_due.isoformat(), "legal_due": legal_due.isoformat()},
            )
        )
        await outbox.add(
            session,
            ApprovalTaskOpened(
                application_id=event.application_id,
                item_id=item.item_id,
                task_id=task_id,
                matter_code=item.matter_code,
                department=item.department,
                promised_due=promised_due,
                legal_due=legal_due,
                at=datetime.now(UTC),
            ),
            hall=event.hall,
        )
        opened.append(task_id)
    await session.flush()
    return opened


# ---- reading ------------------------------------------------------------------------------------------


async def get_visible_task(session: AsyncSession, *, task_id: str, principal: Principal) -> Task:
    """A task the caller's departments may see; 404 if missing, 403 for another department."""
    task = await repository.get_task(session, task_id=task_id)
    if task is None:
        raise NotFound(f"task {task_id} does not exist")
    principal.check_department(task.department)
    return task


async def _lock_for_action(session: AsyncSession, *, task_id: str, principal: Principal) -> Task:
    """Check visibility, then lock the application and the task (in that order) for a change."""
    task = await get_visible_task(session, task_id=task_id, principal=principal)
    await repository.lock_application(session, application_id=task.application_id)
    locked = await repository.lock_task(session, task_id=task_id)
    assert locked is not None
    return locked


def clock_of(task: Task, *, as_of: date, warning_days: int) -> dict[str, Any]:
    """Where ``task`` stands against its limits on ``as_of``."""
    cal = calendar()
    paused_days = task.paused_days
    if task.status in PAUSED_STATES and task.paused_since is not None:
        paused_days += max(0, cal.working_days_between(task.paused_since, as_of))
    legal_due, promised_due = due_dates(
        accepted_on=task.accepted_on,
        legal_limit=task.legal_limit,
        promised_limit=task.promised_limit,
        paused_days=paused_days,
    )
    left: int | None = None
    if task.decided_on is not None:
        state = "on_time" if task.decided_on <= promised_due else "late"
    elif task.status in PAUSED_STATES:
        state = "paused"
    else:
        left = cal.working_days_between(as_of, promised_due)
        if as_of > promised_due:
            state = "overdue"
        elif left <= warning_days:
            state = "warning"
        else:
            state = "on_track"
    return {
        "as_of": as_of,
        "state": state,
        "promised_due": promised_due,
        "legal_due": legal_due,
        "paused_days": paused_days,
        "paused_since": task.paused_since,
        "working_days_left": left,
        "legal_overdue": (task.decided_on or as_of) > legal_due,
    }


async def worklist(
    session: AsyncSession,
    *,
    principal: Principal,
    department: str | None,
    statuses: list[str] | None,
    matter: str | None,
    assignee: str | None,
    due_from: date | None,
    due_to: date | None,
    clock_state: str | None,
    as_of: date,
    warning_days: int,
    limit: int,
    offset: int,
) -> list[Task]:
    """The caller's departments' tasks, filtered; another department only with ``*``."""
    if department is not None:
        principal.check_department(department)
        departments: set[str] | None = {department}
    elif "*" in principal.departments:
        departments = None
    else:
        departments = set(principal.departments)
    overdue_before = as_of if clock_state == "overdue" else None
    warning_between = (
        (as_of, calendar().add_working_days(as_of, warning_days)) if clock_state == "warning" else None
    )
    query = repository.worklist_query(
        departments=departments,
        statuses=statuses,
        matter=matter,
        assignee=principal.sub if assignee == "me" else assignee,
        due_from=due_from,
        due_to=due_to,
        overdue_before=overdue_before,
        warning_between=warning_between,
    )
    return list(await repository.run_worklist(session, query, limit=limit, offset=offset))


# ---- claim, assign, release ----------------------------------------------------------------------------


def _check_step_role(task: Task, principal: Principal) -> str:
    """The caller must hold a role allowed at the task's current step; returns that role."""
    step = task.steps[min(task.step_index, len(task.steps) - 1)]
    allowed = step.get("roles") or [Role.APPROVER]
    if not principal.has(*allowed):
        raise Conflict(f"step {step['name']} needs one of the roles {', '.join(allowed)}")
    return acting_role(principal, allowed)


def _check_open(task: Task) -> None:
    if task.status not in OPEN_STATES:
        raise Conflict(f"task is {task.status}")


async def claim(session: AsyncSession, *, task_id: str, principal: Principal) -> Task:
    """Take an unassigned task; of concurrent claims exactly one wins, the others get 409."""
    task = await _lock_for_action(session, task_id=task_id, principal=principal)
    _check_open(task)
    role = _check_step_role(task, principal)
    if task.assignee == principal.sub:
        return task
    if task.assignee is not None:
        raise Conflict(f"task is already claimed by {task.assignee}", assignee=task.assignee)
    task.assignee = principal.sub
    _record(session, task, actor=principal.sub, role=role, action="claimed")
    await session.flush()
    return task


async def assign(session: AsyncSession, *, task_id: str, principal: Principal, assignee: str) -> Task:
    """Give a task to a colleague of the same department (replaces any assignee)."""
    task = await _lock_for_action(session, task_id=task_id, principal=principal)
    _check_open(task)
    role = _check_step_role(task, principal)
    previous = task.assignee
    task.assignee = assignee
    _record(
        session,
        task,
        actor=principal.sub,
        role=role,
        action="assigned",
        data={"assignee": assignee, "previous": previous},
    )
    await session.flush()
    return task


async def release(session: AsyncSession, *, task_id: str, principal: Principal) -> Task:
    """Put one's own task back into the department's pool."""
    task = await _lock_for_action(session, task_id=task_id, principal=principal)
    _check_open(task)
    if task.assignee != principal.sub:
        raise Conflict("only the assignee can release a task")
    task.assignee = None
    _record(
        session, task, actor=principal.sub, role=acting_role(principal, [Role.APPROVER]), action="released"
    )
    await session.flush()
    return task


def _check_workable(task: Task, principal: Principal) -> str:
    """The task runs (not paused, not decided) and belongs to the caller; returns the acting role."""
    if task.status in PAUSED_STATES:
        raise Conflict(f"task is paused ({task.status}); resume it first")
    _check_open(task)
    role = _check_step_role(task, principal)
    if task.assignee != principal.sub:
        raise Conflict("claim the task before acting on it")
    return role


# ---- steps and decisions ---------------------------------------------------------------------------


async def advance(session: AsyncSession, *, task_id: str, principal: Principal, opinion: str | None) -> Task:
    """Complete the current (non-final) step with an opinion; the task moves to the next step."""
    task = await _lock_for_action(session, task_id=task_id, principal=principal)
    role = _check_workable(task, principal)
    if task.step_index >= len(task.steps) - 1:
        raise Conflict("this is the last step: approve or deny")
    _record(session, task, actor=principal.sub, role=role, action="step_completed", reason=opinion)
    task.step_index += 1
    task.assignee = None  # the next step is for whoever claims it
    await session.flush()
    return task


async def decide(
    session: AsyncSession,
    *,
    task_id: str,
    principal: Principal,
    decision: str,
    reason: str | None,
    outbox: Outbox,
    clock: ServiceClock,
) -> Task:
    """Approve or deny at the last step; emits approval.decided (the bundle is decided with its last member)."""
    task = await _lock_for_action(session, task_id=task_id, principal=principal)
    role = _check_workable(task, principal)
    if task.step_index < len(task.steps) - 1:
        raise Conflict(f"the task is at step {current_step(task)}; complete it before deciding")
    now = datetime.now(UTC)
    _record(session, task, actor=principal.sub, role=role, action=decision, reason=reason, at=now)
    task.status = decision
    task.decision = decision
    task.reason = reason
    task.decided_by = principal.sub
    task.decided_at = now
    task.decided_on = clock.today()
    if decision == "approved" and task.commitment_status in ("pending", "overdue"):
        await _open_post_check(session, task=task, reason="approved_with_missing", opened_on=task.decided_on)
    await session.flush()
    application = await repository.lock_application(session, application_id=task.application_id)
    assert application is not None
    application_decided = await repository.count_open_tasks(session, application_id=task.application_id) == 0
    if application_decided:
        application.status = "decided"
        application.decided_at = now
    await outbox.add(
        session,
        correlation_id=await repository.flow_correlation(session, application_id=task.application_id),
        event=ApprovalDecided(
            application_id=task.application_id,
            item_id=task.item_id,
            task_id=task.id,
            matter_code=task.matter_code,
            department=task.department,
            decision=decision,
            reason=reason,
            decided_at=now,
            applicant=task.applicant,
            values=task.values,
            result_licence_type=task.result_licence_type,
            matter_name=task.matter_name,
            bundle_code=task.bundle_code,
            bundle_item_ids=list(application.item_ids),
            collect_hall=task.collect_hall,
            on_the_spot=task.on_the_spot,
            application_no=task.application_no,
            application_decided=application_decided,
        ),
        hall=task.hall,
    )
    await session.flush()
    return task


# ---- supplements and site inspections (the clock pauses) --------------------------------------------


def _pause(task: Task, *, status: str, on: date) -> None:
    task.status = status
    task.paused_since = on


def _unpause(task: Task, *, on: date) -> int:
    """Resume the clock on ``on``: the paused working days extend both due dates; returns them."""
    paused = 0
    if task.paused_since is not None:
        paused = max(0, calendar().working_days_between(task.paused_since, on))
    task.paused_days += paused
    task.paused_since = None
    task.status = "pending"
    task.legal_due, task.promised_due = due_dates(
        accepted_on=task.accepted_on,
        legal_limit=task.legal_limit,
        promised_limit=task.promised_limit,
        paused_days=task.paused_days,
    )
    return paused


async def request_supplement(
    session: AsyncSession,
    *,
    task_id: str,
    principal: Principal,
    materials: list[str],
    reason: str,
    outbox: Outbox,
    clock: ServiceClock,
) -> Task:
    """Ask the applicant, through acceptance, for a supplement (补正); the clock pauses."""
    task = await _lock_for_action(session, task_id=task_id, principal=principal)
    role = _check_workable(task, principal)
    now = datetime.now(UTC)
    _pause(task, status="supplement", on=clock.today())
    task.supplement_materials = materials
    _record(
        session,
        task,
        actor=principal.sub,
        role=role,
        action="supplement_requested",
        reason=reason,
        data={"materials": materials},
        at=now,
    )
    await outbox.add(
        session,
        correlation_id=await repository.flow_correlation(session, application_id=task.application_id),
        event=SupplementRequested(
            application_id=task.application_id,
            item_id=task.item_id,
            task_id=task.id,
            matter_code=task.matter_code,
            department=task.department,
            materials=materials,
            reason=reason,
            at=now,
        ),
        hall=task.hall,
    )
    await session.flush()
    return task


async def suspend(
    session: AsyncSession, *, task_id: str, principal: Principal, reason: str, clock: ServiceClock
) -> Task:
    """Suspend for a site inspection (现场勘查); the clock pauses until it is resumed."""
    task = await _lock_for_action(session, task_id=task_id, principal=principal)
    role = _check_workable(task, principal)
    _pause(task, status="suspended", on=clock.today())
    _record(session, task, actor=principal.sub, role=role, action="suspended", reason=reason)
    await session.flush()
    return task


async def resume(
    session: AsyncSession, *, task_id: str, principal: Principal, findings: str, clock: ServiceClock
) -> Task:
    """End a site inspection with its findings; the clock runs again."""
    task = await _lock_for_action(session, task_id=task_id, principal=principal)
    if task.status != "suspended":
        raise Conflict(f"task is {task.status}, not suspended")
    role = _check_step_role(task, principal)
    if task.assignee != principal.sub:
        raise Conflict("claim the task before acting on it")
    paused = _unpause(task, on=clock.today())
    _record(
        session,
        task,
        actor=principal.sub,
        role=role,
        action="resumed",
        reason=findings,
        data={"paused_working_days": paused, "promised_due": task.promised_due.isoformat()},
    )
    await session.flush()
    return task


async def apply_supplement(
    session: AsyncSession, *, event: ApplicationSupplemented, clock: ServiceClock
) -> None:
    """The applicant supplied materials: resume supplement-paused tasks and tick off committed materials."""
    application = await repository.lock_application(session, application_id=event.application_id)
    if application is None:
        log.warning("supplement for an unknown application", application_id=event.application_id)
        return
    on = clock.local_date(event.at)
    for task in await repository.tasks_of_application(
        session, application_id=event.application_id, lock=True
    ):
        if event.item_id is not None and task.item_id != event.item_id:
            continue
        if task.status == "supplement":
            paused = _unpause(task, on=on)
            _record(
                session,
                task,
                actor="applicant",
                role=Role.APPLICANT,
                action="supplemented",
                data={
                    "materials": event.materials,
                    "paused_working_days": paused,
                    "promised_due": task.promised_due.isoformat(),
                },
                at=event.at,
            )
        if task.commitment_status in ("pending", "overdue"):
            delivered = sorted(
                set(task.commitment_delivered) | (set(event.materials) & set(task.commitment_materials))
            )
            if delivered != task.commitment_delivered:
                task.commitment_delivered = delivered
                if set(task.commitment_materials) <= set(delivered):
                    task.commitment_status = "fulfilled"
                _record(
                    session,
                    task,
                    actor="applicant",
                    role=Role.APPLICANT,
                    action="commitment_delivered",
                    data={"delivered": delivered, "status": task.commitment_status},
                    at=event.at,
                )
    await session.flush()


# ---- time limits -----------------------------------------------------------------------------------------


async def sweep(
    session: AsyncSession, *, outbox: Outbox, as_of: date, batch: int = SWEEP_BATCH
) -> dict[str, Any]:
    """Mark tasks past their promised date overdue (approval.overdue once per task); open post-checks
    for commitments whose deadline passed. Safe with replicas (skip-locked) and repeatable."""
    now = datetime.now(UTC)
    overdue: list[str] = []
    for task in await repository.overdue_candidates(session, as_of=as_of, limit=batch):
        task.overdue_on = as_of
        _record(
            session,
            task,
            actor=SYSTEM,
            role=SYSTEM,
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
        _record(
            session,
            task,
            actor=SYSTEM,
            role=SYSTEM,
            action="commitment_overdue",
            data={
                "deadline": task.commitment_deadline.isoformat() if task.commitment_deadline else None,
                "missing": sorted(set(task.commitment_materials) - set(task.commitment_delivered)),
            },
            at=now,
        )
        if task.status != "denied":
            await _open_post_check(session, task=task, reason="commitment_overdue", opened_on=as_of)
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
    cal = calendar()
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
        clock_of(t, as_of=as_of, warning_days=warning_days)["state"]
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


# ---- liaison hand-overs ------------------------------------------------------------------------------


async def send_files(
    session: AsyncSession,
    *,
    task_id: str,
    principal: Principal,
    files: list[str],
    note: str | None,
    received_by: str | None,
) -> Handover:
    """A liaison officer records files carried to a department without approvers in the hall."""
    task = await _lock_for_action(session, task_id=task_id, principal=principal)
    _check_open(task)
    if await repository.open_handover(session, task_id=task.id) is not None:
        raise Conflict("the files of this task are already at the department")
    now = datetime.now(UTC)
    handover = Handover(
        id=str(uuid7()),
        task_id=task.id,
        department=task.department,
        files=files,
        sent_by=principal.sub,
        sent_at=now,
        sent_note=note,
        received_by=received_by,
    )
    session.add(handover)
    _record(
        session,
        task,
        actor=principal.sub,
        role=Role.LIAISON,
        action="files_sent",
        reason=note,
        data={"handover_id": handover.id, "files": files, "received_by": received_by},
        at=now,
    )
    await session.flush()
    return handover


async def return_files(
    session: AsyncSession, *, handover_id: str, principal: Principal, files: list[str], note: str | None
) -> Handover:
    """A liaison officer records the files coming back from the department."""
    handover = await repository.lock_handover(session, handover_id=handover_id)
    if handover is None:
        raise NotFound(f"hand-over {handover_id} does not exist")
    principal.check_department(handover.department)
    if handover.returned_at is not None:
        raise Conflict("the files were already returned")
    task = await repository.get_task(session, task_id=handover.task_id)
    assert task is not None
    now = datetime.now(UTC)
    handover.returned_files = files
    handover.returned_by = principal.sub
    handover.returned_at = now
    handover.returned_note = note
    missing = sorted(set(handover.files) - set(files))
    _record(
        session,
        task,
        actor=principal.sub,
        role=Role.LIAISON,
        action="files_returned",
        reason=note,
        data={"handover_id": handover.id, "files": files, "missing": missing},
        at=now,
    )
    await session.flush()
    return handover


# ---- post-checks of commitments -------------------------------------------------------------------------


async def _open_post_check(
    session: AsyncSession, *, task: Task, reason: str, opened_on: date, risk_score: float | None = None
) -> bool:
    """Open a post-check of a commitment case (once per task and reason)."""
    created = await repository.insert_post_check(
        session,
        values={
            "id": str(uuid7()),
            "task_id": task.id,
            "application_id": task.application_id,
            "department": task.department,
            "reason": reason,
            "risk_score": risk_score,
            "status": "open",
            "opened_on": opened_on,
        },
    )
    if created:
        _record(
            session,
            task,
            actor=SYSTEM,
            role=SYSTEM,
            action="post_check_opened",
            data={"reason": reason, "risk_score": risk_score},
        )
    return created


def risk_score(task: Task, *, failed_before: int, high_risk_matters: set[str]) -> float:
    """Risk of a commitment case: committed materials, a high-risk matter, the holder's failed checks."""
    score = 1.0 + 0.5 * len(task.commitment_materials)
    if task.matter_code in high_risk_matters:
        score *= 2
    score += 2.0 * min(failed_before, 3)
    return round(score, 3)


async def sample_post_checks(
    session: AsyncSession,
    *,
    principal: Principal,
    department: str,
    decided_from: date,
    decided_to: date,
    base_rate: float,
    seed: str,
    high_risk_matters: set[str],
    clock: ServiceClock,
) -> list[PostCheck]:
    """Risk-based sampling (双随机 with risk weights) of approved commitment cases for post-checks.

    Each candidate is drawn with probability min(1, base_rate x risk); the draw is seeded by ``seed``
    and the task id, so an audit can reproduce it.
    """
    principal.check_department(department)
    if decided_to < decided_from:
        raise Unprocessable("decided_to is before decided_from")
    candidates = await repository.sampling_candidates(
        session, department=department, decided_from=decided_from, decided_to=decided_to
    )
    failed = await repository.failed_post_checks_by_holder(
        session, holder_ids=sorted({t.applicant.get("id_number", "") for t in candidates})
    )
    opened: list[str] = []
    for task in candidates:
        score = risk_score(
            task,
            failed_before=failed.get(task.applicant.get("id_number", ""), 0),
            high_risk_matters=high_risk_matters,
        )
        if random.Random(f"{seed}:{task.id}").random() < min(1.0, base_rate * score):
            await repository.lock_task(session, task_id=task.id)
            if await _open_post_check(
                session, task=task, reason="sampled", opened_on=clock.today(), risk_score=score
            ):
                opened.append(task.id)
    await session.flush()
    return [
        c
        for c in await repository.post_checks(session, departments={department}, status=None)
        if c.task_id in opened and c.reason == "sampled"
    ]


async def record_post_check(
    session: AsyncSession,
    *,
    post_check_id: str,
    principal: Principal,
    outcome: str,
    note: str,
    outbox: Outbox,
    clock: ServiceClock,
    rectification_days: int,
) -> PostCheck:
    """Record a post-check's outcome: passed, rectification ordered, or the decision revoked."""
    check = await repository.lock_post_check(session, post_check_id=post_check_id)
    if check is None:
        raise NotFound(f"post-check {post_check_id} does not exist")
    principal.check_department(check.department)
    if check.status not in ("open", "rectification"):
        raise Conflict(f"post-check is already {check.status}")
    task = await _lock_for_action(session, task_id=check.task_id, principal=principal)
    role = acting_role(principal, [Role.APPROVER, Role.AUDITOR])
    now = datetime.now(UTC)
    if outcome == "revoke" and task.status != "approved":
        raise Conflict(f"only an approved decision can be revoked; the task is {task.status}")
    check.checked_by = principal.sub
    check.checked_at = now
    check.result_note = note
    if outcome == "passed":
        check.status = "passed"
    elif outcome == "rectification":
        check.status = "rectification"
        check.rectification_due = calendar().add_working_days(clock.today(), rectification_days)
    else:
        check.status = "revoked"
        task.status = "revoked"
        await outbox.add(
            session,
            correlation_id=await repository.flow_correlation(session, application_id=task.application_id),
            event=DecisionRevoked(
                application_id=task.application_id,
                item_id=task.item_id,
                task_id=task.id,
                matter_code=task.matter_code,
                department=task.department,
                reason=note,
                at=now,
            ),
            hall=task.hall,
        )
    _record(
        session,
        task,
        actor=principal.sub,
        role=role,
        action=f"post_check_{check.status}",
        reason=note,
        data={
            "post_check_id": check.id,
            "rectification_due": check.rectification_due.isoformat() if check.rectification_due else None,
        },
        at=now,
    )
    await session.flush()
    return check
