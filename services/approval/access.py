"""Finding what a caller may see, and locking what they change: tasks and applications by department."""

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from services.approval import repository
from services.approval.models import Application, Task
from shared.access_log import publish_view
from shared.auth import Principal
from shared.events.approvals import TaskViewed
from shared.outbox import Outbox
from shared.problems import Forbidden, NotFound


async def get_visible_task(session: AsyncSession, *, task_id: str, principal: Principal) -> Task:
    """A task the caller's departments may see; 404 if missing, 403 for another department."""
    task = await repository.get_task(session, task_id=task_id)
    if task is None:
        raise NotFound(f"task {task_id} does not exist")
    principal.check_department(task.department)
    return task


async def record_view(session: AsyncSession, *, outbox: Outbox, principal: Principal, task: Task) -> None:
    """Publish that ``principal`` read ``task`` with the applicant in full (``approval.task_viewed``)."""
    applicant_id = str(task.applicant.get("id_number") or "")
    if applicant_id:
        await publish_view(
            session, outbox, TaskViewed, principal=principal, applicant_id=applicant_id, purpose="task",
            application_ref=task.application_id, subject=task.id, department=task.department,
            hall=task.hall if principal.may_act_in_hall(task.hall) else None, correlation_id=task.correlation_id,
        )


# Every change of a task locks its application row first, then the task: decisions of one bundle are
# serialised (the last member's decision sees the others) and concurrent claims have one winner.
async def lock_for_action(session: AsyncSession, *, task_id: str, principal: Principal) -> Task:
    """Lock the task's application, then the task (in that order), for a change; 404 if there is no such
    task, 403 for another department (checked once locked: the rows are read once, not before and after)."""
    await repository.lock_application_of_task(session, task_id=task_id)
    task = await repository.lock_task(session, task_id=task_id)
    if task is None:
        raise NotFound(f"task {task_id} does not exist")
    principal.check_department(task.department)
    return task


def check_not_via_liaison(task: Task) -> None:
    """403 when an approver would decide a task of a department without resident approvers: that decision is
    the department's signed document, recorded by its liaison officer (POST /tasks/{id}/liaison-decision)."""
    if task.via_liaison:
        raise Forbidden(
            f"department {task.department} has no approvers in the hall: its liaison officer records "
            "the department's signed decision (联络官代录部门决定)"
        )


def check_via_liaison(task: Task) -> None:
    """403 when a liaison officer would record a decision for a department with resident approvers."""
    if not task.via_liaison:
        raise Forbidden(
            f"department {task.department} has approvers in the hall: they decide its tasks, "
            "a liaison officer cannot record a decision for it (该部门有驻厅审批人员,联络官不能代录决定)"
        )


async def get_visible_application(
    session: AsyncSession, *, application_id: str, principal: Principal
) -> tuple[Application, Sequence[Task]]:
    """An application (bundle) with all its tasks; 404 unless one task is of the caller's departments."""
    tasks = await repository.tasks_of_application(session, application_id=application_id)
    visible = [t for t in tasks if principal.may_act_for_department(t.department)]
    if not visible:
        raise NotFound(f"application {application_id} has no task of your departments")
    application = await repository.get_application(session, application_id=application_id)
    assert application is not None
    return application, tasks
