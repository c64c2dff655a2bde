"""Liaison officers (联络官): departments without approvers in the hall, their worklist, the files carried
to the department and back, and the department's signed decision recorded on its return.

A department the catalogue marks ``resident_approvers: false`` has no approvers in the hall. Its tasks are
opened with ``via_liaison`` (fixed at opening), appear only in the liaison worklist, and are decided by the
liaison recording the department's signed decision document after the files came back; that decision then
flows like an approver's (approval.decided). Hand-overs never pause the clock.
"""

import base64
import binascii
import hashlib
from collections.abc import Sequence
from datetime import UTC, date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.approval import access, decisions, history, repository, steps
from services.approval.deadlines import ServiceClock
from services.approval.models import PAUSED_STATES, DecisionDocument, Handover, Task
from shared.auth import Principal, Role
from shared.events.catalog import MatterPublished
from shared.events.envelope import uuid7
from shared.outbox import Outbox
from shared.problems import Conflict, FieldError, NotFound, Unprocessable

MAX_DOCUMENT_BYTES = 5 * 1024 * 1024  # a scanned, signed decision of a few pages


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


async def record_department(session: AsyncSession, *, event: MatterPublished) -> None:
    """Keep the department of a published matter, with its resident-approvers flag (newer versions win)."""
    await repository.upsert_department(
        session,
        values={
            "code": event.department,
            "name": event.department_name,
            "resident_approvers": event.department_resident_approvers,
            "catalog_version": event.catalog_version,
        },
    )


async def worklist(
    session: AsyncSession,
    *,
    principal: Principal,
    department: str | None,
    hall: str | None,
    statuses: list[str] | None,
    limit: int,
    offset: int,
) -> tuple[list[Task], dict[str, Handover]]:
    """Tasks a liaison officer carries: departments without resident approvers, within the caller's
    departments and halls (the accepting hall, where the files are picked up; ``*`` = all); with the latest
    hand-over of each task."""
    if department is not None:
        principal.check_department(department)
        departments: set[str] | None = {department}
    else:
        departments = None if "*" in principal.departments else set(principal.departments)
    if hall is not None:
        principal.check_hall(hall)
        halls: set[str] | None = {hall}
    else:
        halls = None if "*" in principal.halls else set(principal.halls)
    query = repository.liaison_worklist_query(departments=departments, halls=halls, statuses=statuses)
    tasks = list(await repository.run_worklist(session, query, limit=limit, offset=offset))
    latest = {h.task_id: h for h in await repository.handovers_of_tasks(session, task_ids=[t.id for t in tasks])}
    return tasks, latest


def _document_bytes(file_base64: str | None, sha256: str | None) -> tuple[bytes | None, str]:
    """The decoded PDF (if uploaded) and its digest; field-level 422 for a bad file or a wrong digest."""
    if file_base64 is None:
        assert sha256 is not None  # the request model needs one of them
        return None, sha256.lower()
    try:
        content = base64.b64decode(file_base64, validate=True)
    except (binascii.Error, ValueError):
        raise Unprocessable(
            "the decision document is not valid base64",
            errors=[FieldError(field="document.file_base64", message="is not valid base64", type="invalid")],
        ) from None
    problem = None
    if len(content) > MAX_DOCUMENT_BYTES:
        problem = f"is larger than {MAX_DOCUMENT_BYTES // (1024 * 1024)} MiB"
    elif not content.startswith(b"%PDF-"):
        problem = "must be a PDF"
    if problem:
        raise Unprocessable(
            f"the decision document {problem}",
            errors=[FieldError(field="document.file_base64", message=problem, type="invalid")],
        )
    digest = hashlib.sha256(content).hexdigest()
    if sha256 is not None and sha256.lower() != digest:
        raise Unprocessable(
            "the decision document does not match its sha256",
            errors=[FieldError(field="document.sha256", message="does not match the file", type="mismatch")],
        )
    return content, digest


async def record_decision(
    session: AsyncSession,
    *,
    task_id: str,
    principal: Principal,
    decision: str,
    reason: str | None,
    number: str,
    signed_by: str,
    signed_on: date,
    sha256: str | None,
    file_base64: str | None,
    file_name: str | None,
    outbox: Outbox,
    clock: ServiceClock,
) -> Task:
    """Record the department's signed decision a liaison officer brought back; it then flows as an
    approver's decision would (approval.decided, issuance issues the licence)."""
    if decision == "denied" and (reason is None or len(reason) < 2):
        raise Unprocessable(
            "a denial needs the department's reason",
            errors=[FieldError(field="reason", message="is required for a denial", type="missing")],
        )
    task = await access.lock_for_action(session, task_id=task_id, principal=principal)
    access.check_via_liaison(task)
    steps.check_open(task)
    if task.status in PAUSED_STATES:
        raise Conflict(f"task is paused ({task.status}); resume it first")
    if await repository.open_handover(session, task_id=task.id) is not None:
        raise Conflict("the files are still at the department: record their return first")
    handover = await repository.last_returned_handover(session, task_id=task.id)
    if handover is None:
        raise Conflict("no hand-over of this task came back: carry the files to the department and back first")
    errors = []
    if signed_on > clock.today():
        errors.append(FieldError(field="document.signed_on", message="is in the future", type="invalid"))
    if signed_on < task.accepted_on:
        errors.append(
            FieldError(field="document.signed_on", message="is before the application was accepted", type="invalid")
        )
    if errors:
        raise Unprocessable("the decision document is not plausible", errors=errors)
    content, digest = _document_bytes(file_base64, sha256)
    now = datetime.now(UTC)
    document = DecisionDocument(
        task_id=task.id,
        handover_id=handover.id,
        number=number,
        signed_by=signed_by,
        signed_on=signed_on,
        sha256=digest,
        file_name=file_name,
        size=len(content) if content is not None else None,
        content=content,
        recorded_by=principal.sub,
        recorded_at=now,
    )
    session.add(document)
    task.step_index = len(task.steps) - 1  # the department went through its steps off-site
    return await decisions.conclude(
        session,
        task=task,
        principal=principal,
        role=Role.LIAISON,
        decision=decision,
        reason=reason,
        outbox=outbox,
        clock=clock,
        data={
            "handover_id": handover.id,
            "document": {"number": number, "signed_by": signed_by, "signed_on": signed_on.isoformat(),
                         "sha256": digest, "file": content is not None},
        },
    )


async def document(session: AsyncSession, *, task_id: str) -> DecisionDocument | None:
    """The signed decision document recorded for a task."""
    return await repository.decision_document(session, task_id=task_id)
