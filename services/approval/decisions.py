"""Steps and decisions: complete a step; approve or deny at the last (a bundle decides with its last task)."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.approval import access, bundles, history, post_checks, repository, steps
from services.approval.deadlines import ServiceClock
from services.approval.models import Application, Task
from shared.auth import Principal
from shared.events.approvals import ApprovalDecided
from shared.outbox import Outbox
from shared.problems import Conflict


async def advance(session: AsyncSession, *, task_id: str, principal: Principal, opinion: str | None) -> Task:
    """Complete the current (non-final) step with an opinion; the task moves to the next step."""
    task = await access.lock_for_action(session, task_id=task_id, principal=principal)
    access.check_not_via_liaison(task)
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
    access.check_not_via_liaison(task)
    role = steps.check_workable(task, principal)
    if task.step_index < len(task.steps) - 1:
        raise Conflict(f"the task is at step {steps.current_step(task)}; complete it before deciding")
    return await conclude(
        session, task=task, principal=principal, role=role, decision=decision, reason=reason, outbox=outbox,
        clock=clock,
    )


async def conclude(
    session: AsyncSession,
    *,
    task: Task,
    principal: Principal,
    role: str,
    decision: str,
    reason: str | None,
    outbox: Outbox,
    clock: ServiceClock,
    data: dict[str, Any] | None = None,
) -> Task:
    """Record the decision of a locked, workable task and emit approval.decided: an approver's own
    decision, or a department's signed decision recorded by its liaison officer (``data`` = the document)."""
    if decision == "approved":
        bundles.check_may_approve(task)  # a parallel bundle member needs its upstream licence first
    now = datetime.now(UTC)
    history.record(
        session, task, actor=principal.sub, role=role, action=decision, reason=reason, data=data, at=now
    )
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
    # a denied bundle member ends the members waiting for its licence (bundles.py)
    ended = await bundles.close_dependants(session, task=task, outbox=outbox, clock=clock, now=now) if (
        decision == "denied" and task.bundle_code
    ) else []
    waiting = bundles.awaited_by(
        await repository.tasks_of_application(session, application_id=task.application_id), item_id=task.item_id
    ) if decision == "approved" and task.bundle_code else []
    # locked by access.lock_for_action, first of all: current in the session, no need to read it again
    application = await repository.get_application(session, application_id=task.application_id)
    assert application is not None
    application_decided = await repository.count_open_tasks(session, application_id=task.application_id) == 0
    if application_decided:
        application.status = "decided"
        application.decided_at = now
    await outbox.add(
        session,
        correlation_id=await repository.flow_correlation(session, application_id=task.application_id),
        event=decided_event(task, application, application_decided=application_decided, awaited_by=waiting),
        hall=task.hall,
    )
    for member in ended:
        await outbox.add(
            session,
            correlation_id=application.correlation_id,
            event=decided_event(member, application, application_decided=application_decided),
            hall=member.hall,
        )
    await session.flush()
    return task


def decided_event(
    task: Task, application: Application, *, application_decided: bool, awaited_by: list[str] | None = None
) -> ApprovalDecided:
    """approval.decided of a decided task: an approver's, a liaison's, or a bundle member ended by its
    upstream's denial (bundles.close_dependants); ``awaited_by`` = members waiting for its licence."""
    assert task.decision is not None and task.decided_at is not None
    return ApprovalDecided(
        application_id=task.application_id,
        item_id=task.item_id,
        task_id=task.id,
        matter_code=task.matter_code,
        department=task.department,
        decision=task.decision,
        reason=task.reason,
        decided_at=task.decided_at,
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
        awaited_by=awaited_by or [],
    )
