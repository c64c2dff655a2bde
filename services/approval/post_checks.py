"""Post-checks of commitment cases (容缺/告知承诺): opening, risk-based sampling, results, revocation."""

import random
from collections.abc import Sequence
from datetime import UTC, date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.approval import access, deadlines, history, repository, steps
from services.approval.deadlines import ServiceClock
from services.approval.models import PostCheck, Task
from shared.auth import Principal, Role
from shared.events.approvals import DecisionRevoked
from shared.events.envelope import uuid7
from shared.outbox import Outbox
from shared.problems import Conflict, NotFound, Unprocessable


async def open_check(
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
        history.record(
            session,
            task,
            actor=history.SYSTEM,
            role=history.SYSTEM,
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


async def sample(
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
            if await open_check(
                session, task=task, reason="sampled", opened_on=clock.today(), risk_score=score
            ):
                opened.append(task.id)
    await session.flush()
    return [
        c
        for c in await repository.post_checks(session, departments={department}, status=None)
        if c.task_id in opened and c.reason == "sampled"
    ]


async def record_result(
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
    task = await access.lock_for_action(session, task_id=check.task_id, principal=principal)
    role = steps.acting_role(principal, [Role.APPROVER, Role.AUDITOR])
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
        check.rectification_due = deadlines.calendar().add_working_days(clock.today(), rectification_days)
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
    history.record(
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


async def visible(
    session: AsyncSession, *, principal: Principal, department: str | None, status: str | None
) -> Sequence[PostCheck]:
    """Post-checks of the caller's departments (or of one of them, checked), optionally of one status."""
    if department is not None:
        principal.check_department(department)
        departments: set[str] | None = {department}
    else:
        departments = None if "*" in principal.departments else set(principal.departments)
    return await repository.post_checks(session, departments=departments, status=status)


async def of_task(session: AsyncSession, *, task_id: str) -> Sequence[PostCheck]:
    """Every post-check of one task, oldest first."""
    return await repository.post_checks(session, departments=None, status=None, task_id=task_id)
