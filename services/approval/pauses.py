"""Clock pauses: supplements (补正) and site inspections (现场勘查), and application.supplemented resuming them."""

from datetime import UTC, date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.approval import access, deadlines, history, repository, steps
from services.approval.deadlines import ServiceClock
from services.approval.models import Task
from shared.auth import Principal, Role
from shared.events.applications import ApplicationSupplemented
from shared.events.approvals import SupplementRequested
from shared.observability import get_logger
from shared.outbox import Outbox
from shared.problems import Conflict

log = get_logger(__name__)


def _pause(task: Task, *, status: str, on: date) -> None:
    """Stop the clock on ``on`` with the paused ``status``."""
    task.status = status
    task.paused_since = on


def resume_clock(task: Task, *, on: date) -> int:
    """Resume the clock on ``on``: the paused working days extend both due dates; returns them."""
    paused = 0
    if task.paused_since is not None:
        paused = max(0, deadlines.calendar().working_days_between(task.paused_since, on))
    task.paused_days += paused
    task.paused_since = None
    task.status = "pending"
    task.legal_due, task.promised_due = deadlines.due_dates(
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
    task = await access.lock_for_action(session, task_id=task_id, principal=principal)
    role = steps.check_workable(task, principal)
    now = datetime.now(UTC)
    _pause(task, status="supplement", on=clock.today())
    task.supplement_materials = materials
    history.record(
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
    task = await access.lock_for_action(session, task_id=task_id, principal=principal)
    role = steps.check_workable(task, principal)
    _pause(task, status="suspended", on=clock.today())
    history.record(session, task, actor=principal.sub, role=role, action="suspended", reason=reason)
    await session.flush()
    return task


async def resume(
    session: AsyncSession, *, task_id: str, principal: Principal, findings: str, clock: ServiceClock
) -> Task:
    """End a site inspection with its findings; the clock runs again."""
    task = await access.lock_for_action(session, task_id=task_id, principal=principal)
    if task.status != "suspended":
        raise Conflict(f"task is {task.status}, not suspended")
    role = steps.check_step_role(task, principal)
    if task.assignee != principal.sub:
        raise Conflict("claim the task before acting on it")
    paused = resume_clock(task, on=clock.today())
    history.record(
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
            paused = resume_clock(task, on=on)
            history.record(
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
                history.record(
                    session,
                    task,
                    actor="applicant",
                    role=Role.APPLICANT,
                    action="commitment_delivered",
                    data={"delivered": delivered, "status": task.commitment_status},
                    at=event.at,
                )
    await session.flush()
