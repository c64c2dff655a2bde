"""Who works on a task: claim it (one winner of concurrent claims), assign it to a colleague, release it."""

from sqlalchemy.ext.asyncio import AsyncSession

from services.approval import access, history, steps
from services.approval.models import Task
from shared.auth import Principal, Role
from shared.problems import Conflict


async def claim(session: AsyncSession, *, task_id: str, principal: Principal) -> Task:
    """Take an unassigned task; of concurrent claims exactly one wins, the others get 409."""
    task = await access.lock_for_action(session, task_id=task_id, principal=principal)
    steps.check_open(task)
    access.check_not_via_liaison(task)  # its liaison carries it; nobody in the hall works it
    role = steps.check_step_role(task, principal)
    if task.assignee == principal.sub:
        return task
    if task.assignee is not None:
        raise Conflict(f"task is already claimed by {task.assignee}", assignee=task.assignee)
    task.assignee = principal.sub
    history.record(session, task, actor=principal.sub, role=role, action="claimed")
    await session.flush()
    return task


async def assign(session: AsyncSession, *, task_id: str, principal: Principal, assignee: str) -> Task:
    """Give a task to a colleague of the same department (replaces any assignee)."""
    task = await access.lock_for_action(session, task_id=task_id, principal=principal)
    steps.check_open(task)
    access.check_not_via_liaison(task)
    role = steps.check_step_role(task, principal)
    previous = task.assignee
    task.assignee = assignee
    history.record(
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
    task = await access.lock_for_action(session, task_id=task_id, principal=principal)
    steps.check_open(task)
    if task.assignee != principal.sub:
        raise Conflict("only the assignee can release a task")
    task.assignee = None
    history.record(
        session,
        task,
        actor=principal.sub,
        role=steps.acting_role(principal, [Role.APPROVER]),
        action="released",
    )
    await session.flush()
    return task
