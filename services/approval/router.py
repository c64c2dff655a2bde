"""Approval HTTP endpoints (thin: each calls the sub-domain module that owns the rule)."""

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from services.approval import (
    access,
    bundles,
    claims,
    deadlines,
    decisions,
    history,
    liaison,
    pauses,
    post_checks,
    readthrough,
    steps,
    time_limits,
    worklist,
)
from services.approval.dependencies import ClockDep, PrincipalDep, SettingsDep
from services.approval.models import DecisionDocument, Handover, PostCheck, Task
from services.approval.schemas import (
    ApplicationRead,
    AssignRequest,
    BundleNoticeRead,
    BundleRead,
    DecisionDocumentRead,
    DenyRequest,
    DepartmentReport,
    HandoverCreate,
    HandoverRead,
    HandoverReturn,
    HistoryRead,
    LiaisonDecisionRequest,
    LiaisonTaskSummary,
    OpinionRequest,
    PostCheckRead,
    PostCheckResult,
    ResumeRequest,
    SamplingRequest,
    SupplementRequest,
    SuspendRequest,
    SweepResult,
    TaskRead,
    TaskSummary,
)
from services.approval.tasks import records_present
from shared.auth import Principal, Role, require
from shared.privacy import mask_id_number, mask_name
from shared.problems import NotFound
from shared.service_app import Runtime, RuntimeDep, SessionDep
from shared.validators import SaneDate

router = APIRouter(tags=["approval"])

STAFF = (Role.APPROVER, Role.LIAISON, Role.AUDITOR)
TaskStatus = Literal["pending", "supplement", "suspended", "waiting_upstream", "approved", "denied", "revoked"]


def _summary(task: Task, *, as_of: date, warning_days: int) -> dict:
    applicant = task.applicant or {}
    return {
        "id": task.id,
        "application_id": task.application_id,
        "application_no": task.application_no,
        "item_id": task.item_id,
        "bundle_code": task.bundle_code,
        "matter_code": task.matter_code,
        "matter_name": task.matter_name,
        "department": task.department,
        "status": task.status,
        "step": steps.current_step(task),
        "assignee": task.assignee,
        "applicant_name": mask_name(applicant.get("name")),
        "applicant_id": mask_id_number(applicant.get("id_number")),
        "accepted_on": task.accepted_on,
        "clock": deadlines.clock_of(task, as_of=as_of, warning_days=warning_days),
        "overdue_notified": task.overdue_on is not None,
        "commitment_status": task.commitment_status,
        "correlation_id": task.correlation_id,
        "via_liaison": task.via_liaison,
        "awaits": task.awaits or [],
        "parallel": task.parallel,
    }


def _handover(h: Handover) -> HandoverRead:
    return HandoverRead.model_validate(h, from_attributes=True)


def _document(d: DecisionDocument | None) -> DecisionDocumentRead | None:
    if d is None:
        return None
    return DecisionDocumentRead(
        task_id=d.task_id,
        handover_id=d.handover_id,
        number=d.number,
        signed_by=d.signed_by,
        signed_on=d.signed_on,
        sha256=d.sha256,
        file_name=d.file_name,
        size=d.size,
        has_file=d.size is not None,
        recorded_by=d.recorded_by,
        recorded_at=d.recorded_at,
    )


def _post_check(c: PostCheck) -> PostCheckRead:
    return PostCheckRead.model_validate(c, from_attributes=True)


async def _read(session: AsyncSession, task: Task, *, as_of: date, warning_days: int) -> TaskRead:
    summary = _summary(task, as_of=as_of, warning_days=warning_days)
    present = await records_present(session, task_id=task.id)
    return TaskRead(
        **summary
        | {
            "applicant_name": (task.applicant or {}).get("name"),
            "applicant_id": (task.applicant or {}).get("id_number"),
        },
        hall=task.hall,
        collect_hall=task.collect_hall,
        on_the_spot=task.on_the_spot,
        steps=task.steps,
        step_index=task.step_index,
        applicant=task.applicant,
        values=task.values,
        materials=task.materials,
        result_licence_type=task.result_licence_type,
        decision=task.decision,
        reason=task.reason,
        decided_by=task.decided_by,
        decided_at=task.decided_at,
        commitment_materials=task.commitment_materials,
        commitment_delivered=task.commitment_delivered,
        commitment_deadline=task.commitment_deadline,
        supplement_materials=task.supplement_materials,
        history=[
            HistoryRead.model_validate(h, from_attributes=True)
            for h in await history.of_task(session, task_id=task.id)
        ],
        handovers=[_handover(h) for h in await liaison.handovers(session, task_id=task.id)]
        if "handovers" in present else [],
        post_checks=[_post_check(c) for c in await post_checks.of_task(session, task_id=task.id)]
        if "post_checks" in present else [],
        decision_document=_document(await liaison.document(session, task_id=task.id))
        if "decision_document" in present else None,
    )


# ---- worklists and tasks ------------------------------------------------------------------------------


@router.get("/tasks", response_model=list[TaskSummary], dependencies=[require(*STAFF)])
async def list_tasks(
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    settings: SettingsDep,
    request: Request,
    department: str | None = None,
    status: Annotated[list[TaskStatus] | None, Query()] = None,
    matter: str | None = None,
    assignee: Annotated[str | None, Query(description="A staff id, or `me`.")] = None,
    due_from: SaneDate | None = None,
    due_to: SaneDate | None = None,
    clock_state: Annotated[Literal["warning", "overdue"] | None, Query(alias="clock")] = None,
    as_of: SaneDate | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
    application_id: Annotated[
        str | None,
        Query(min_length=1, max_length=64, description="Tasks of one application; works right after submit."),
    ] = None,
) -> list[dict]:
    """The department worklist: only the caller's departments; applicants masked. With ``application_id``
    right after submit, tasks application.accepted has not brought yet are opened from acceptance first
    (503 ``dependency_unavailable`` with ``Retry-After`` if acceptance cannot answer then)."""
    if application_id is not None:
        await readthrough.ensure_application(session, request=request, application_id=application_id)
    day = as_of or clock.today()
    found = await worklist.page(
        session,
        principal=principal,
        department=department,
        statuses=list(status) if status else None,
        matter=matter,
        assignee=assignee,
        due_from=due_from,
        due_to=due_to,
        clock_state=clock_state,
        as_of=day,
        warning_days=settings.warning_working_days,
        limit=limit,
        offset=offset,
        application_id=application_id,
    )
    return [_summary(t, as_of=day, warning_days=settings.warning_working_days) for t in found]


@router.get("/tasks/{task_id}", response_model=TaskRead, dependencies=[require(*STAFF)])
async def get_task(
    task_id: str, session: SessionDep, principal: PrincipalDep, clock: ClockDep, settings: SettingsDep,
    runtime: RuntimeDep,
) -> TaskRead:
    """One task of the caller's department, with its history, hand-overs and post-checks (the applicant in
    full: a read in their access log, ``approval.task_viewed``)."""
    task = await access.get_visible_task(session, task_id=task_id, principal=principal)
    return await _respond(session, task, principal=principal, runtime=runtime, clock=clock, settings=settings)


@router.get("/tasks/{task_id}/history", response_model=list[HistoryRead], dependencies=[require(*STAFF)])
async def task_history(task_id: str, session: SessionDep, principal: PrincipalDep) -> list[HistoryRead]:
    """The audit trail of a task: who, in which role, when, what and why."""
    task = await access.get_visible_task(session, task_id=task_id, principal=principal)
    return [
        HistoryRead.model_validate(h, from_attributes=True)
        for h in await history.of_task(session, task_id=task.id)
    ]


async def _respond(
    session: AsyncSession, task: Task, *, principal: Principal, runtime: Runtime, clock: ClockDep,
    settings: SettingsDep,
) -> TaskRead:
    """The task in full (the applicant too), for ``GET /tasks/{id}`` and every change's answer alike: each is a
    read in the applicant's access log (a repeat by the same reader soon after is not logged again)."""
    await access.record_view(session, outbox=runtime.outbox, principal=principal, task=task)
    return await _read(session, task, as_of=clock.today(), warning_days=settings.warning_working_days)


@router.post("/tasks/{task_id}/claim", response_model=TaskRead, dependencies=[require(Role.APPROVER)])
async def claim(
    task_id: str, session: SessionDep, runtime: RuntimeDep, principal: PrincipalDep, clock: ClockDep,
    settings: SettingsDep,
) -> TaskRead:
    """Take an unassigned task of one's department; a concurrent claim loses with 409."""
    task = await claims.claim(session, task_id=task_id, principal=principal)
    return await _respond(session, task, principal=principal, runtime=runtime, clock=clock, settings=settings)


@router.post("/tasks/{task_id}/assign", response_model=TaskRead, dependencies=[require(Role.APPROVER)])
async def assign(
    task_id: str,
    body: AssignRequest,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> TaskRead:
    """Give a task to a colleague of the department."""
    task = await claims.assign(session, task_id=task_id, principal=principal, assignee=body.assignee)
    return await _respond(session, task, principal=principal, runtime=runtime, clock=clock, settings=settings)


@router.post("/tasks/{task_id}/release", response_model=TaskRead, dependencies=[require(Role.APPROVER)])
async def release(
    task_id: str, session: SessionDep, runtime: RuntimeDep, principal: PrincipalDep, clock: ClockDep,
    settings: SettingsDep,
) -> TaskRead:
    """Put one's own task back into the department's pool."""
    task = await claims.release(session, task_id=task_id, principal=principal)
    return await _respond(session, task, principal=principal, runtime=runtime, clock=clock, settings=settings)


@router.post("/tasks/{task_id}/advance", response_model=TaskRead, dependencies=[require(Role.APPROVER)])
async def advance(
    task_id: str,
    body: OpinionRequest,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> TaskRead:
    """Complete the current step (e.g. review) with an opinion; the next step waits for a claim."""
    task = await decisions.advance(session, task_id=task_id, principal=principal, opinion=body.opinion)
    return await _respond(session, task, principal=principal, runtime=runtime, clock=clock, settings=settings)


@router.post("/tasks/{task_id}/approve", response_model=TaskRead, dependencies=[require(Role.APPROVER)])
async def approve(
    task_id: str,
    body: OpinionRequest,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> TaskRead:
    """Approve at the last step; emits approval.decided."""
    task = await decisions.decide(
        session,
        task_id=task_id,
        principal=principal,
        decision="approved",
        reason=body.opinion,
        outbox=runtime.outbox,
        clock=clock,
    )
    return await _respond(session, task, principal=principal, runtime=runtime, clock=clock, settings=settings)


@router.post("/tasks/{task_id}/deny", response_model=TaskRead, dependencies=[require(Role.APPROVER)])
async def deny(
    task_id: str,
    body: DenyRequest,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> TaskRead:
    """Deny at the last step with a reason; emits approval.decided."""
    task = await decisions.decide(
        session,
        task_id=task_id,
        principal=principal,
        decision="denied",
        reason=body.reason,
        outbox=runtime.outbox,
        clock=clock,
    )
    return await _respond(session, task, principal=principal, runtime=runtime, clock=clock, settings=settings)


@router.post("/tasks/{task_id}/supplement", response_model=TaskRead, dependencies=[require(Role.APPROVER)])
async def request_supplement(
    task_id: str,
    body: SupplementRequest,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> TaskRead:
    """Ask for a supplement (补正) through acceptance; the clock pauses until application.supplemented."""
    task = await pauses.request_supplement(
        session,
        task_id=task_id,
        principal=principal,
        materials=body.materials,
        reason=body.reason,
        outbox=runtime.outbox,
        clock=clock,
    )
    return await _respond(session, task, principal=principal, runtime=runtime, clock=clock, settings=settings)


@router.post("/tasks/{task_id}/suspend", response_model=TaskRead, dependencies=[require(Role.APPROVER)])
async def suspend(
    task_id: str,
    body: SuspendRequest,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> TaskRead:
    """Suspend for a site inspection (现场勘查); the clock pauses."""
    task = await pauses.suspend(
        session, task_id=task_id, principal=principal, reason=body.reason, clock=clock
    )
    return await _respond(session, task, principal=principal, runtime=runtime, clock=clock, settings=settings)


@router.post("/tasks/{task_id}/resume", response_model=TaskRead, dependencies=[require(Role.APPROVER)])
async def resume(
    task_id: str,
    body: ResumeRequest,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> TaskRead:
    """End the site inspection with its findings; the clock runs again."""
    task = await pauses.resume(
        session, task_id=task_id, principal=principal, findings=body.findings, clock=clock
    )
    return await _respond(session, task, principal=principal, runtime=runtime, clock=clock, settings=settings)


# ---- liaison hand-overs ---------------------------------------------------------------------------------


@router.post(
    "/tasks/{task_id}/handovers",
    status_code=201,
    response_model=HandoverRead,
    dependencies=[require(Role.LIAISON)],
)
async def send_files(
    task_id: str, body: HandoverCreate, session: SessionDep, principal: PrincipalDep
) -> HandoverRead:
    """A liaison officer (联络官) records files carried to the department."""
    handover = await liaison.send_files(
        session,
        task_id=task_id,
        principal=principal,
        files=body.files,
        note=body.note,
        received_by=body.received_by,
    )
    return _handover(handover)


@router.post(
    "/handovers/{handover_id}/return", response_model=HandoverRead, dependencies=[require(Role.LIAISON)]
)
async def return_files(
    handover_id: str, body: HandoverReturn, session: SessionDep, principal: PrincipalDep
) -> HandoverRead:
    """A liaison officer records the files returned from the department."""
    handover = await liaison.return_files(
        session, handover_id=handover_id, principal=principal, files=body.files, note=body.note
    )
    return _handover(handover)


@router.get(
    "/liaison/worklist",
    response_model=list[LiaisonTaskSummary],
    dependencies=[require(Role.LIAISON, Role.AUDITOR)],
)
async def liaison_worklist(
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    settings: SettingsDep,
    department: str | None = None,
    hall: Annotated[str | None, Query(description="The accepting hall, where the files are picked up.")] = None,
    status: Annotated[list[TaskStatus] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict]:
    """Tasks of departments without resident approvers, for the liaison officer (联络官): within the
    caller's departments and halls (``*`` = all), with where their files are; applicants masked."""
    day = clock.today()
    tasks, latest = await liaison.worklist(
        session,
        principal=principal,
        department=department,
        hall=hall,
        statuses=list(status) if status else None,
        limit=limit,
        offset=offset,
    )
    rows = []
    for t in tasks:
        h = latest.get(t.id)
        files = "in_hall" if h is None else ("at_department" if h.returned_at is None else "returned")
        rows.append(
            _summary(t, as_of=day, warning_days=settings.warning_working_days)
            | {"files": files, "handover_id": h.id if h else None}
        )
    return rows


@router.post(
    "/tasks/{task_id}/liaison-decision", response_model=TaskRead, dependencies=[require(Role.LIAISON)]
)
async def liaison_decision(
    task_id: str,
    body: LiaisonDecisionRequest,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> TaskRead:
    """Record the decision a department without resident approvers signed, with its decision document, once
    the files came back; emits approval.decided. 403 for a department with resident approvers; 409 while
    the files are at the department or before any came back."""
    doc = body.document
    task = await liaison.record_decision(
        session,
        task_id=task_id,
        principal=principal,
        decision=body.decision,
        reason=body.reason,
        number=doc.number,
        signed_by=doc.signed_by,
        signed_on=doc.signed_on,
        sha256=doc.sha256,
        file_base64=doc.file_base64,
        file_name=doc.file_name,
        outbox=runtime.outbox,
        clock=clock,
    )
    return await _respond(session, task, principal=principal, runtime=runtime, clock=clock, settings=settings)


@router.get(
    "/tasks/{task_id}/decision-document",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
    dependencies=[require(*STAFF)],
)
async def decision_document(task_id: str, session: SessionDep, principal: PrincipalDep) -> Response:
    """The signed decision PDF a liaison officer uploaded for a task of the caller's departments."""
    task = await access.get_visible_task(session, task_id=task_id, principal=principal)
    document = await liaison.document(session, task_id=task.id)
    if document is None or document.content is None:
        raise NotFound("no signed decision file was uploaded for this task")
    return Response(
        document.content,
        media_type="application/pdf",
        headers={"X-Content-SHA256": document.sha256, "Cache-Control": "no-store"},
    )


# ---- applications (bundles) -----------------------------------------------------------------------------


@router.get("/applications/{application_id}", response_model=ApplicationRead, dependencies=[require(*STAFF)])
async def get_application(
    application_id: str, session: SessionDep, principal: PrincipalDep, request: Request
) -> ApplicationRead:
    """Decision state of an application / bundle; members of other departments show only their state.
    Right after submit it is read through from acceptance, as ``GET /tasks?application_id=`` is."""
    await readthrough.ensure_application(session, request=request, application_id=application_id)
    application, tasks = await access.get_visible_application(
        session, application_id=application_id, principal=principal
    )
    return ApplicationRead(
        application_id=application.application_id,
        application_no=application.application_no,
        bundle_code=application.bundle_code,
        item_ids=application.item_ids,
        status=application.status,
        decided_at=application.decided_at,
        correlation_id=application.correlation_id,
        members=[
            {
                "item_id": t.item_id,
                "matter_code": t.matter_code,
                "department": t.department,
                "status": t.status,
                "task_id": t.id if principal.may_act_for_department(t.department) else None,
            }
            for t in tasks
        ],
    )


@router.get("/applications/{application_id}/decided-events", tags=["read-your-writes"])
async def decided_events(
    application_id: str,
    session: SessionDep,
    principal: Annotated[Principal, require(Role.SERVICE, Role.ISSUANCE_CLERK)],
) -> list[dict]:
    """The application's ``approval.decided`` envelopes straight from approval's outbox: issuance reads
    them through when its window scans a receipt right after the decision (docs/approval.md,
    "Read-your-writes"). Issuance clerks see applications of their halls."""
    found = await readthrough.decided_events(session, principal=principal, application_id=application_id)
    return [e.model_dump(mode="json") for e in found]


# ---- time limits ---------------------------------------------------------------------------------------


@router.post(
    "/time-limits/sweep", response_model=SweepResult, dependencies=[require(Role.AUDITOR, Role.HALL_ADMIN)]
)
async def sweep(session: SessionDep, runtime: RuntimeDep, clock: ClockDep, as_of: SaneDate | None = None) -> dict:
    """Run the time-limit sweep now (as of a date, default today): approval.overdue once per task,
    post-checks for commitments past their deadline."""
    return await time_limits.sweep(session, outbox=runtime.outbox, as_of=as_of or clock.today())


@router.get(
    "/time-limits/report",
    response_model=DepartmentReport,
    dependencies=[require(Role.APPROVER, Role.AUDITOR, Role.HALL_ADMIN)],
)
async def report(
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    settings: SettingsDep,
    department: str,
    date_from: Annotated[date, Query(alias="from")],
    date_to: Annotated[date, Query(alias="to")],
    as_of: SaneDate | None = None,
) -> dict:
    """Time-limit report of one department: on time, late, average working days, open backlog."""
    return await time_limits.department_report(
        session,
        principal=principal,
        department=department,
        date_from=date_from,
        date_to=date_to,
        as_of=as_of or clock.today(),
        warning_days=settings.warning_working_days,
    )


# ---- post-checks ------------------------------------------------------------------------------------------


@router.get(
    "/post-checks", response_model=list[PostCheckRead], dependencies=[require(Role.APPROVER, Role.AUDITOR)]
)
async def list_post_checks(
    session: SessionDep,
    principal: PrincipalDep,
    department: str | None = None,
    status: Literal["open", "passed", "rectification", "revoked"] | None = None,
) -> list[PostCheckRead]:
    """Post-checks of the caller's departments."""
    checks = await post_checks.visible(session, principal=principal, department=department, status=status)
    return [_post_check(c) for c in checks]


@router.post(
    "/post-checks/sampling",
    status_code=201,
    response_model=list[PostCheckRead],
    dependencies=[require(Role.APPROVER, Role.AUDITOR)],
)
async def sample(
    body: SamplingRequest,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> list[PostCheckRead]:
    """Draw approved commitment cases of a department for post-checks, weighted by risk."""
    checks = await post_checks.sample(
        session,
        principal=principal,
        department=body.department,
        decided_from=body.decided_from,
        decided_to=body.decided_to,
        base_rate=body.base_rate,
        seed=body.seed,
        high_risk_matters=set(settings.high_risk_matters),
        clock=clock,
    )
    return [_post_check(c) for c in checks]


@router.post(
    "/post-checks/{post_check_id}/result", response_model=PostCheckRead, dependencies=[require(Role.APPROVER)]
)
async def post_check_result(
    post_check_id: str,
    body: PostCheckResult,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> PostCheckRead:
    """Record a post-check: passed, rectification ordered, or revoke (emits approval.decision_revoked)."""
    check = await post_checks.record_result(
        session,
        post_check_id=post_check_id,
        principal=principal,
        outcome=body.outcome,
        note=body.note,
        outbox=runtime.outbox,
        clock=clock,
        rectification_days=settings.rectification_working_days,
    )
    return _post_check(check)


# ---- bundles: the lead department (牵头部门) -------------------------------------------------------------


def _bundle(
    application, tasks, alerts, notice, *, as_of: date, warning_days: int
) -> dict:
    alerted = {a.task_id for a in alerts}
    return {
        "application_id": application.application_id,
        "application_no": application.application_no,
        "bundle_code": application.bundle_code,
        "lead_department": application.lead_department,
        "status": application.status,
        "decided_at": application.decided_at,
        "due_date": bundles.overall_due(tasks, as_of=as_of, warning_days=warning_days),
        "members": [
            _summary(t, as_of=as_of, warning_days=warning_days)
            | {
                "decision": t.decision,
                "reason": t.reason,
                "decided_on": t.decided_on,
                "result_licence_type": t.result_licence_type,
                "licence_no": t.licence_no,
                "late_alerted": t.id in alerted,
            }
            for t in tasks
        ],
        "alerts": alerts,
        "notice_no": notice.notice_no if notice else None,
    }


@router.get("/bundles", response_model=list[BundleRead], dependencies=[require(Role.APPROVER, Role.AUDITOR)])
async def list_bundles(
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    settings: SettingsDep,
    status: Literal["open", "decided"] | None = None,
    as_of: SaneDate | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict]:
    """Bundles (一件事) the caller's departments lead: every member with its state, the overall due date
    (the latest member's promised date) and the alerts of late members."""
    day = as_of or clock.today()
    rows = await bundles.lead_bundles(session, principal=principal, status=status, limit=limit, offset=offset)
    return [_bundle(*row, as_of=day, warning_days=settings.warning_working_days) for row in rows]


@router.get(
    "/bundles/{application_id}", response_model=BundleRead, dependencies=[require(Role.APPROVER, Role.AUDITOR)]
)
async def get_bundle(
    application_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    settings: SettingsDep,
    as_of: SaneDate | None = None,
) -> dict:
    """One bundle for its lead department (403 for other departments): every member task, read-only —
    members of other departments are claimed and decided only by their own departments."""
    row = await bundles.lead_bundle(session, application_id=application_id, principal=principal)
    return _bundle(*row, as_of=as_of or clock.today(), warning_days=settings.warning_working_days)


@router.post(
    "/bundles/{application_id}/decision-notice",
    status_code=201,
    response_model=BundleNoticeRead,
    dependencies=[require(Role.APPROVER)],
)
async def issue_decision_notice(
    application_id: str,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    clock: ClockDep,
    response: Response,
) -> dict:
    """The lead department issues the combined decision notice (一件事联合审批决定书) listing every member;
    409 while a member is undecided; issued once (a repeat returns the same notice with 200)."""
    notice, created = await bundles.issue_notice(
        session, application_id=application_id, principal=principal, outbox=runtime.outbox, clock=clock
    )
    if not created:
        response.status_code = 200
    return notice.content


@router.get(
    "/bundles/{application_id}/decision-notice",
    response_model=BundleNoticeRead,
    dependencies=[require(Role.APPROVER, Role.AUDITOR)],
)
async def get_decision_notice(application_id: str, session: SessionDep, principal: PrincipalDep) -> dict:
    """The issued combined decision notice (404 before it is issued)."""
    notice = await bundles.get_notice(session, application_id=application_id, principal=principal)
    return notice.content


@router.get(
    "/bundles/{application_id}/decision-notice.html",
    response_class=HTMLResponse,
    dependencies=[require(Role.APPROVER, Role.AUDITOR)],
)
async def decision_notice_html(application_id: str, session: SessionDep, principal: PrincipalDep) -> HTMLResponse:
    """The combined decision notice as a printable A4 page."""
    notice = await bundles.get_notice(session, application_id=application_id, principal=principal)
    return HTMLResponse(bundles.notice_html(notice.content))
