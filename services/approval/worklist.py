"""The department worklist: tasks of the caller's departments, filtered by status, matter, assignee, clock.

Tasks of departments without resident approvers are not here: they are in the liaison worklist (liaison.py).
"""

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from services.approval import deadlines, repository
from services.approval.models import Task
from shared.auth import Principal


async def page(
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
    application_id: str | None = None,
) -> list[Task]:
    """The caller's departments' tasks (not those a liaison carries), filtered; another department only with ``*``."""
    if department is not None:
        principal.check_department(department)
        departments: set[str] | None = {department}
    elif "*" in principal.departments:
        departments = None
    else:
        departments = set(principal.departments)
    overdue_before = as_of if clock_state == "overdue" else None
    warning_between = (
        (as_of, deadlines.calendar().add_working_days(as_of, warning_days))
        if clock_state == "warning"
        else None
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
    ).where(Task.via_liaison.is_(False))
    if application_id is not None:
        query = query.where(Task.application_id == application_id)
    return list(await repository.run_worklist(session, query, limit=limit, offset=offset))
