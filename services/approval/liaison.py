"""Liaison hand-overs (联络官): files carried to a department without approvers in the hall, and back."""

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.approval import access, history, repository, steps
from services.approval.models import Handover
from shared.auth import Principal, Role
from shared.events.envelope import uuid7
from shared.problems import Conflict, NotFound


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
    task = await access.lock_for_action(session, task_id=task_id, principal=principal)
    steps.check_open(task)
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
    history.record(
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
    history.record(
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


async def handovers(session: AsyncSession, *, task_id: str) -> Sequence[Handover]:
    """Hand-overs of a task, oldest first."""
    return await repository.handovers(session, task_id=task_id)
