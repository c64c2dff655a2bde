"""The task audit trail: one entry per action (who, in which role, at which step, why), oldest first."""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.approval import repository, steps
from services.approval.models import Task, TaskHistory

SYSTEM = "system"  # actor and role of what the service does by itself (opening, overdue, post-checks)


def record(
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
            step=steps.current_step(task),
            reason=reason,
            data=data or {},
        )
    )


async def of_task(session: AsyncSession, *, task_id: str) -> Sequence[TaskHistory]:
    """The audit trail of a task, oldest first."""
    return await repository.history(session, task_id=task_id)
