"""Every query of the approval service."""

from collections.abc import Sequence
from datetime import date

from sqlalchemy import Select, exists, func, literal, select, union_all
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.approval.models import (
    OPEN_STATES,
    Application,
    DecisionDocument,
    Department,
    Handover,
    PostCheck,
    Task,
    TaskHistory,
)
from shared.db import upsert_newer


async def insert_application(session: AsyncSession, *, values: dict) -> str | None:
    """Insert an application row unless it exists; the correlation id of the flow the row holds."""
    inserted = (
        await session.execute(
            insert(Application).values(**values).on_conflict_do_nothing().returning(Application.correlation_id)
        )
    ).first()
    if inserted is not None:
        return inserted[0]
    return await flow_correlation(session, application_id=values["application_id"])


async def records_present(session: AsyncSession, *, task_id: str) -> set[str]:
    """Which of a task's rarer records exist (``handovers``, ``post_checks``, ``decision_document``), in one
    statement: a task's answer then reads only those, where it read all three every time (most tasks have
    none of them)."""
    kinds = [("handovers", Handover.task_id), ("post_checks", PostCheck.task_id),
             ("decision_document", DecisionDocument.task_id)]
    stmt = union_all(*(select(literal(kind)).where(exists().where(column == task_id)) for kind, column in kinds))
    return set((await session.execute(stmt)).scalars())


async def insert_task(session: AsyncSession, *, values: dict) -> bool:
    """Insert a task unless (application_id, item_id) exists; True when it was new."""
    result = await session.execute(
        insert(Task)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["application_id", "item_id"])
        .returning(Task.id)
    )
    return result.first() is not None


async def get_task(session: AsyncSession, *, task_id: str) -> Task | None:
    """A task by id, without locking."""
    return await session.get(Task, task_id)


async def get_application(session: AsyncSession, *, application_id: str) -> Application | None:
    """An application by id, without locking."""
    return await session.get(Application, application_id)


async def flow_correlation(session: AsyncSession, *, application_id: str) -> str | None:
    """The correlation id the application's flow started with (None: the current one is used). Actions lock
    the application first, so it is usually in the session already: no statement then."""
    application = await session.get(Application, application_id)
    return application.correlation_id if application is not None else None


async def lock_application(session: AsyncSession, *, application_id: str) -> Application | None:
    """Lock the application row: every change of its tasks is serialised through it."""
    return (
        await session.execute(
            select(Application)
            .where(Application.application_id == application_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()


async def lock_application_of_task(session: AsyncSession, *, task_id: str) -> Application | None:
    """Lock the application of a task (found through the task in the same statement)."""
    of_task = select(Task.application_id).where(Task.id == task_id).scalar_subquery()
    return (
        await session.execute(
            select(Application)
            .where(Application.application_id == of_task)
            .with_for_update(of=Application)
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()


async def lock_task(session: AsyncSession, *, task_id: str) -> Task | None:
    """Lock a task row and reload it."""
    return (
        await session.execute(
            select(Task).where(Task.id == task_id).with_for_update().execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()


async def tasks_of_application(
    session: AsyncSession, *, application_id: str, lock: bool = False
) -> Sequence[Task]:
    """Every task of an application, in item order."""
    query = select(Task).where(Task.application_id == application_id).order_by(Task.item_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(query)).scalars().all()


async def count_open_tasks(session: AsyncSession, *, application_id: str) -> int:
    """How many tasks of an application still wait for a decision."""
    return (
        await session.execute(
            select(func.count()).where(Task.application_id == application_id, Task.status.in_(OPEN_STATES))
        )
    ).scalar_one()


def worklist_query(
    *,
    departments: set[str] | None,
    statuses: list[str] | None,
    matter: str | None,
    assignee: str | None,
    due_from: date | None,
    due_to: date | None,
    overdue_before: date | None,
    warning_between: tuple[date, date] | None,
) -> Select[Task]:
    """The worklist filter as one query (``departments`` None = every department)."""
    query = select(Task)
    if departments is not None:
        query = query.where(Task.department.in_(departments))
    if statuses:
        query = query.where(Task.status.in_(statuses))
    if matter:
        query = query.where(Task.matter_code == matter)
    if assignee:
        query = query.where(Task.assignee == assignee)
    if due_from:
        query = query.where(Task.promised_due >= due_from)
    if due_to:
        query = query.where(Task.promised_due <= due_to)
    if overdue_before:
        query = query.where(Task.status == "pending", Task.promised_due < overdue_before)
    if warning_between:
        query = query.where(Task.status == "pending", Task.promised_due.between(*warning_between))
    return query.order_by(Task.promised_due, Task.id)


async def run_worklist(
    session: AsyncSession, query: Select[Task], *, limit: int, offset: int
) -> Sequence[Task]:
    """Execute a worklist query, one page."""
    return (await session.execute(query.limit(limit).offset(offset))).scalars().all()


async def overdue_candidates(session: AsyncSession, *, as_of: date, limit: int) -> Sequence[Task]:
    """Undecided, running tasks past their promised date that have not been reported; locked, skip-locked."""
    return (
        (
            await session.execute(
                select(Task)
                .where(Task.status == "pending", Task.overdue_on.is_(None), Task.promised_due < as_of)
                .order_by(Task.promised_due, Task.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        .scalars()
        .all()
    )


async def commitment_overdue_candidates(session: AsyncSession, *, as_of: date, limit: int) -> Sequence[Task]:
    """Tasks whose promised materials did not arrive by the commitment deadline; locked, skip-locked."""
    return (
        (
            await session.execute(
                select(Task)
                .where(Task.commitment_status == "pending", Task.commitment_deadline < as_of)
                .order_by(Task.commitment_deadline, Task.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        .scalars()
        .all()
    )


async def insert_post_check(session: AsyncSession, *, values: dict) -> bool:
    """Open a post-check unless the task already has one for that reason; True when new."""
    result = await session.execute(
        insert(PostCheck)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["task_id", "reason"])
        .returning(PostCheck.id)
    )
    return result.first() is not None


async def sampling_candidates(
    session: AsyncSession, *, department: str, decided_from: date, decided_to: date
) -> Sequence[Task]:
    """Approved commitment cases of a department decided in the period, without any post-check yet."""
    has_check = exists().where(PostCheck.task_id == Task.id)
    return (
        (
            await session.execute(
                select(Task)
                .where(
                    Task.department == department,
                    Task.status == "approved",
                    Task.commitment_status.is_not(None),
                    Task.decided_on.between(decided_from, decided_to),
                    ~has_check,
                )
                .order_by(Task.id)
            )
        )
        .scalars()
        .all()
    )


async def failed_post_checks_by_holder(session: AsyncSession, *, holder_ids: list[str]) -> dict[str, int]:
    """How many failed post-checks each applicant (ID number / credit code) has had."""
    if not holder_ids:
        return {}
    holder = Task.applicant["id_number"].astext
    rows = await session.execute(
        select(holder, func.count())
        .join(PostCheck, PostCheck.task_id == Task.id)
        .where(holder.in_(holder_ids), PostCheck.status.in_(("rectification", "revoked")))
        .group_by(holder)
    )
    return {h: n for h, n in rows.all()}


async def post_checks(
    session: AsyncSession, *, departments: set[str] | None, status: str | None, task_id: str | None = None
) -> Sequence[PostCheck]:
    """Post-checks filtered by departments (None = all), status and task."""
    query = select(PostCheck)
    if departments is not None:
        query = query.where(PostCheck.department.in_(departments))
    if status:
        query = query.where(PostCheck.status == status)
    if task_id:
        query = query.where(PostCheck.task_id == task_id)
    return (await session.execute(query.order_by(PostCheck.opened_on, PostCheck.id))).scalars().all()


async def lock_post_check(session: AsyncSession, *, post_check_id: str) -> PostCheck | None:
    """Lock a post-check row."""
    return (
        await session.execute(
            select(PostCheck)
            .where(PostCheck.id == post_check_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()


async def history(session: AsyncSession, *, task_id: str) -> Sequence[TaskHistory]:
    """The audit trail of a task, oldest first."""
    return (
        (
            await session.execute(
                select(TaskHistory).where(TaskHistory.task_id == task_id).order_by(TaskHistory.id)
            )
        )
        .scalars()
        .all()
    )


async def handovers(session: AsyncSession, *, task_id: str) -> Sequence[Handover]:
    """Hand-overs of a task, oldest first."""
    return (
        (
            await session.execute(
                select(Handover).where(Handover.task_id == task_id).order_by(Handover.sent_at)
            )
        )
        .scalars()
        .all()
    )


async def lock_handover(session: AsyncSession, *, handover_id: str) -> Handover | None:
    """Lock a hand-over row."""
    return (
        await session.execute(
            select(Handover)
            .where(Handover.id == handover_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()


async def open_handover(session: AsyncSession, *, task_id: str) -> Handover | None:
    """The hand-over of a task whose files are still at the department."""
    return (
        (
            await session.execute(
                select(Handover).where(Handover.task_id == task_id, Handover.returned_at.is_(None))
            )
        )
        .scalars()
        .first()
    )


async def department_tasks(
    session: AsyncSession, *, department: str, decided_from: date, decided_to: date
) -> Sequence[Task]:
    """Tasks of a department decided in the period (for the time-limit report)."""
    return (
        (
            await session.execute(
                select(Task).where(
                    Task.department == department,
                    Task.decided_on.between(decided_from, decided_to),
                    Task.decision.is_not(None),
                )
            )
        )
        .scalars()
        .all()
    )


async def open_department_tasks(session: AsyncSession, *, department: str) -> Sequence[Task]:
    """Undecided tasks of a department."""
    return (
        (
            await session.execute(
                select(Task).where(Task.department == department, Task.status.in_(OPEN_STATES))
            )
        )
        .scalars()
        .all()
    )


# ---- liaison departments (联络官) ---------------------------------------------------------------------------


async def upsert_department(session: AsyncSession, *, values: dict) -> None:
    """Insert or replace a department of the catalogue unless a newer catalogue version is already held."""
    await upsert_newer(session, Department, values=values, version="catalog_version", replace_equal=True)

async def liaison_departments(session: AsyncSession, *, codes: set[str]) -> set[str]:
    """Which of ``codes`` the catalogue marks as without resident approvers (unknown codes: resident)."""
    if not codes:
        return set()
    rows = await session.execute(
        select(Department.code).where(Department.code.in_(codes), Department.resident_approvers.is_(False))
    )
    return set(rows.scalars().all())


def liaison_worklist_query(
    *, departments: set[str] | None, halls: set[str] | None, statuses: list[str] | None
) -> Select[Task]:
    """Tasks of departments without resident approvers (``None`` = every department / hall)."""
    query = select(Task).where(Task.via_liaison.is_(True))
    if departments is not None:
        query = query.where(Task.department.in_(departments))
    if halls is not None:
        query = query.where(Task.hall.in_(halls))
    if statuses:
        query = query.where(Task.status.in_(statuses))
    return query.order_by(Task.promised_due, Task.id)


async def last_returned_handover(session: AsyncSession, *, task_id: str) -> Handover | None:
    """The latest hand-over of a task whose files came back from the department."""
    return (
        (
            await session.execute(
                select(Handover)
                .where(Handover.task_id == task_id, Handover.returned_at.is_not(None))
                .order_by(Handover.returned_at.desc())
            )
        )
        .scalars()
        .first()
    )


async def decision_document(session: AsyncSession, *, task_id: str) -> DecisionDocument | None:
    """The signed decision document recorded for a task, if any."""
    return await session.get(DecisionDocument, task_id)


async def handovers_of_tasks(session: AsyncSession, *, task_ids: list[str]) -> Sequence[Handover]:
    """Every hand-over of the given tasks, oldest first."""
    if not task_ids:
        return []
    return (
        (
            await session.execute(
                select(Handover).where(Handover.task_id.in_(task_ids)).order_by(Handover.sent_at)
            )
        )
        .scalars()
        .all()
    )
