"""Pre-check questions (预审咨询): the front desk asks a department's approver about a draft before submitting.

The clerk who may edit the draft asks one department of the draft's matters; the question carries a snapshot
of the draft as it stood (matters, values with personal data masked, materials), so the approver answers what
the clerk saw. Approvers of that department list and answer; the answer appears on the application view. Both
steps are in the application's history (no question text there: it is free text). A draft that moved on keeps
its questions, and they can still be answered.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.acceptance import access, rules
from services.acceptance import repository as repo
from services.acceptance.models import Application, ApplicationItem, PrecheckQuestion
from shared.auth import Principal
from shared.events.envelope import uuid7
from shared.privacy import mask_id_number, mask_mobile, mask_name, scrub
from shared.problems import Conflict, FieldError, NotFound, Unprocessable

# Value keys that hold personal data (the catalogue's "personal"/"sensitive" fields): masked in the snapshot.
_PERSONAL_PREFIXES = ("person.",)
_PERSONAL_PARTS = ("id_number", "mobile", "name", "account_no", "manager", "address", "buyer", "email")
_PUBLIC_KEYS = {"entity.name", "entity.registered_address", "premises.address", "project.name",
                "project.contractor_name", "project.location"}


def _mask(key: str, value: Any) -> Any:
    """A value fit for a department's eyes before acceptance: personal data masked, identifiers scrubbed."""
    if isinstance(value, list):
        return [_mask(key, v) for v in value]
    if not isinstance(value, str):
        return value if key in _PUBLIC_KEYS or not _is_personal(key) else "***"
    if key in _PUBLIC_KEYS or not _is_personal(key):
        return scrub(value)
    last = key.rsplit(".", 1)[-1]
    if "id_number" in last:
        return mask_id_number(value)
    if "mobile" in last:
        return mask_mobile(value)
    if "name" in last or last.endswith("manager"):
        return mask_name(value)
    return "***"


def _is_personal(key: str) -> bool:
    last = key.rsplit(".", 1)[-1]
    return key.startswith(_PERSONAL_PREFIXES) or any(part in last for part in _PERSONAL_PARTS)


def snapshot(app: Application, items: list[ApplicationItem]) -> dict[str, Any]:
    """The draft as the approver sees it: matters, masked applicant and values, missing fields, materials."""
    natural = app.applicant_type == "natural_person"
    return {
        "title": app.title,
        "status": app.status,
        "matter_code": app.matter_code,
        "bundle_code": app.bundle_code,
        "catalog_version": app.catalog_version,
        "hall": app.hall,
        "applicant": {
            "type": app.applicant_type,
            "name": mask_name(app.applicant_name) if natural else app.applicant_name,
            "id_number": mask_id_number(app.applicant_id),
        },
        "values": {k: _mask(k, app.values[k]) for k in app.field_keys if k in app.values},
        "missing_fields": rules.missing_fields(app),
        "items": [
            {
                "item_id": i.id,
                "matter_code": i.matter_code,
                "matter_name": i.matter_name,
                "department": i.department,
                "materials": [{"code": m["code"], "name": m["name"], "status": m["status"]} for m in i.materials],
            }
            for i in items
        ],
    }


async def ask(
    session: AsyncSession, *, principal: Principal, application_id: str, department: str, question: str,
    now: datetime,
) -> PrecheckQuestion:
    """A clerk who may edit the draft asks a department of its matters; the draft snapshot goes along."""
    app = await access.load(session, application_id=application_id, lock=True)
    access.check(principal, app, write=True)
    if app.status not in rules.EDITABLE:
        raise Conflict(f"application is {app.status}; pre-check questions are asked about drafts")
    items = await repo.get_items(session, application_id=app.id)
    departments = sorted({i.department for i in items})
    if department not in departments:
        raise Unprocessable(
            f"department {department} approves none of this draft's matters",
            errors=[FieldError(field="department", message=f"must be one of: {', '.join(departments)}",
                               type="unknown_department")],
        )
    row = PrecheckQuestion(
        id=str(uuid7()), application_id=app.id, department=department, question=question,
        draft=snapshot(app, items), status="open", asked_by=principal.sub, asked_at=now,
    )
    session.add(row)
    await repo.add_history(
        session, application_id=app.id, status="precheck_asked", at=now, source="acceptance",
        note=f"向{department}审批人员预审咨询",
    )
    await session.flush()
    return row


async def visible(
    session: AsyncSession, *, principal: Principal, department: str | None, status: str | None,
    limit: int, offset: int,
) -> list[PrecheckQuestion]:
    """Questions to the caller's departments (``*`` = all), oldest first."""
    query = select(PrecheckQuestion)
    if department is not None:
        principal.check_department(department)
        query = query.where(PrecheckQuestion.department == department)
    elif "*" not in principal.departments:
        query = query.where(PrecheckQuestion.department.in_(sorted(principal.departments)))
    if status is not None:
        query = query.where(PrecheckQuestion.status == status)
    query = query.order_by(PrecheckQuestion.asked_at, PrecheckQuestion.id).limit(limit).offset(offset)
    return list((await session.execute(query)).scalars().all())


async def answer(
    session: AsyncSession, *, principal: Principal, question_id: str, text: str, now: datetime
) -> PrecheckQuestion:
    """An approver of the question's department answers it, once."""
    row = await session.get(PrecheckQuestion, question_id, with_for_update=True)
    if row is None:
        raise NotFound(f"question {question_id} does not exist")
    principal.check_department(row.department)
    if row.status == "answered":
        raise Conflict(f"the question was already answered by {row.answered_by}")
    row.status, row.answer, row.answered_by, row.answered_at = "answered", text, principal.sub, now
    await repo.add_history(
        session, application_id=row.application_id, status="precheck_answered", at=now, source="acceptance",
        note=f"{row.department}审批人员已答复预审咨询",
    )
    await session.flush()
    return row


async def of_application(session: AsyncSession, *, application_id: str) -> list[PrecheckQuestion]:
    """An application's questions, oldest first."""
    query = (
        select(PrecheckQuestion)
        .where(PrecheckQuestion.application_id == application_id)
        .order_by(PrecheckQuestion.asked_at, PrecheckQuestion.id)
    )
    return list((await session.execute(query)).scalars().all())
