"""Steps and decisions: complete a step; approve or deny at the last (a bundle decides with its last task)."""

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.approval import access, history, post_checks, repository, steps
from services.approval.deadlines import ServiceClock
from services.approval.models import Task
from shared.auth import Principal
from shared.events.approvals import ApprovalDecided
from shared.outbox import Outbox
from shared.problems import Conflict


async def advance(session: AsyncSession, *, task_id: str, principal: Principal, opinion: str | None) -> Task:
    """Complete the current (non-final) step with an opinion; the task moves to the next step."""
    task = await access.lock_for_action(session, task_id=task_id, principal=principal)
    role = steps.check_workable(task, principal)
    if task.step_index >= len(task.steps) - 1:
        raise Conflict("this is the last step: approve or deny")
    history.record(session, task, actor=principal.sub, role=role, action="step_completed", reason=opinion)
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
    task = await access.lock_for_action(session, task_id=task_id, principal=principal)
    role = steps.check_workable(task, principal)
    if task.step_index < len(task.steps) - 1:
        raise Conflict(f"the task is at step {steps.current_step(task)}; complete it before deciding")
    now = datetime.now(UTC)
    history.record(session, task, actor=principal.sub, role=role, action=decision, reason=reason, at=now)
    task.status = decision
    task.decision = decision
    task.reason = reason
    task.decided_by = principal.sub
    task.decided_at = now
    task.decided_on = clock.today()
    if decision == "approved" and task.commitment_status in ("pending", "overdue"):
        await post_checks.open_check(
            session, task=task, reason="approved_with_missing", opened_on=task.decided_on
        )
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
