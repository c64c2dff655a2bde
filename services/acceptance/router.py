"""Acceptance HTTP endpoints (thin: each calls the sub-domain module that owns the rule, see docs/acceptance.md)."""

import hmac
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.acceptance import access, documents, editing, opening, progress, questions, submission, views
from services.acceptance import repository as repo
from services.acceptance.clients import FormsClient
from services.acceptance.config import AcceptanceSettings
from services.acceptance.models import Application, backbone
from services.acceptance.schemas import (
    AnswerIn,
    ApplicationOpen,
    ApplicationSummary,
    ApplicationUpdate,
    ApplicationView,
    ProgressView,
    QuestionIn,
    QuestionView,
    ReadingBasis,
    RefuseIn,
    SubmitIn,
    SupplementIn,
)
from shared import readthrough
from shared.auth import Principal, Role, public, require
from shared.events.envelope import uuid7
from shared.observability import CORRELATION_HEADER
from shared.problems import Conflict, FieldError, NotFound, Unprocessable
from shared.service_app import RuntimeDep, SessionDep

router = APIRouter(prefix="/applications", tags=["applications"])
progress_router = APIRouter(tags=["progress"])
questions_router = APIRouter(prefix="/questions", tags=["pre-check questions"])

Writer = Annotated[Principal, require(Role.CLERK, Role.APPLICANT)]
Clerk = Annotated[Principal, require(Role.CLERK)]
Reader = Annotated[Principal, require(Role.CLERK, Role.HALL_ADMIN, Role.ISSUANCE_CLERK, Role.AUDITOR, Role.APPLICANT)]


async def _settings(request: Request) -> AcceptanceSettings:
    """The running service's settings (an ``AcceptanceSettings``, as given to ``create_app``)."""
    settings: AcceptanceSettings = request.app.state.runtime.settings
    return settings


Settings = Annotated[AcceptanceSettings, Depends(_settings)]


def caller_correlation(request: Request) -> str | None:
    """The X-Correlation-ID the caller sent, if any (the middleware makes one up for every request,
    but only one the caller chose should name a whole flow)."""
    value = (request.headers.get(CORRELATION_HEADER) or "").strip()
    return value[:100] or None


def utcnow() -> datetime:
    """Now, in UTC: the time a request records."""
    return datetime.now(UTC)


def _tz(settings: AcceptanceSettings) -> ZoneInfo:
    return ZoneInfo(settings.timezone)


@router.post("", status_code=201, response_model=ApplicationView)
async def open_application(
    body: ApplicationOpen,
    principal: Writer,
    runtime: RuntimeDep,
    request: Request,
    response: Response,
    idempotency_key: Annotated[str | None, Header(min_length=8, max_length=100)] = None,
) -> ApplicationView:
    """Open a draft for a matter or a bundle (from a called ticket, at a window, or online); the form
    arrives prefilled from forms, or empty with ``degraded`` = true if forms is slow or down.
    With an ``Idempotency-Key`` header a retried request returns the draft it already opened (200).
    A ticket just called is asked of ticketing if its ``ticket.called`` has not arrived yet (first try
    works); 503 ``dependency_unavailable`` with ``Retry-After`` if ticketing cannot answer then.

    Two transactions: the draft is committed before forms is asked, because forms lets a clerk read an
    applicant's profile only for an application of the clerk's hall (it asks ``reading-basis``)."""
    async with runtime.sessionmaker() as session, session.begin():
        if idempotency_key and (
            existing := await opening.already_opened(session, principal=principal, idempotency_key=idempotency_key)
        ):
            response.status_code = 200
            return await views.application_view(session, app=existing)
        matter, bundle, correlation = await opening.resolve_target(
            session, principal=principal, body=body, tickets=request.app.state.ticketing_client,
            authorization=request.headers.get("authorization"),
        )
        correlation = correlation or caller_correlation(request)  # a ticket's flow wins over the request's
        application_id = str(uuid7())
        await opening.open_application(
            session, principal=principal, body=body, application_id=application_id, matter_code=matter,
            bundle_code=bundle, prefill=opening.PREFILL_PENDING, correlation_id=correlation, now=utcnow(),
            idempotency_key=idempotency_key,
        )
    forms: FormsClient = request.app.state.forms_client
    prefill = await forms.prefill(
        authorization=request.headers.get("authorization"),
        applicant_id=body.applicant.id_number,
        matter=matter,
        bundle=bundle,
        application_ref=application_id,
    )
    async with runtime.sessionmaker() as session, session.begin():
        app = await opening.fill_opened(session, application_id=application_id, prefill=prefill)
        view = await views.application_view(session, app=app)
    return view  # a draft stages no events: the relay is not woken


@router.get("", response_model=list[ApplicationSummary])
async def list_applications(
    principal: Reader,
    session: SessionDep,
    applicant_id: Annotated[str | None, Query(max_length=40)] = None,
    hall: Annotated[str | None, Query(max_length=40)] = None,
    status: Annotated[str | None, Query(max_length=30)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**6)] = 0,
) -> list[ApplicationSummary]:
    """Applications by applicant (progress for staff) or by hall; applicants see only their own. Masked."""
    rows = await access.visible_applications(
        session, principal=principal, applicant_id=applicant_id, hall=hall, status=status, limit=limit, offset=offset
    )
    return [views.summary(a) for a in rows]


@router.get("/{application_id}", response_model=ApplicationView)
async def get_application(
    application_id: str, principal: Reader, session: SessionDep, runtime: RuntimeDep
) -> ApplicationView:
    """One application with its form, materials, notice and status history (a read in the applicant's
    access log: ``application.viewed``)."""
    app = await access.load(session, application_id=application_id)
    access.check(principal, app)
    await access.record_view(session, outbox=runtime.outbox, principal=principal, app=app, purpose="application")
    return await views.application_view(session, app=app)


@router.get("/{application_id}/reading-basis", response_model=ReadingBasis, tags=["read-your-writes"])
async def reading_basis(
    application_id: Annotated[str, Path(min_length=1, max_length=64)],
    principal: Annotated[Principal, require(Role.CLERK)],
    session: SessionDep,
    applicant_id: Annotated[str, Query(min_length=1, max_length=40)],
) -> ReadingBasis:
    """Whether this application gives the calling clerk a reason to read ``applicant_id``'s profile:
    forms asks it, with the clerk's token, before it answers a clerk's prefill or printed form. Only for
    a clerk of the accepting hall (else 403); the answer says whether the applicant matches, never who
    the applicant is."""
    app = await access.load(session, application_id=application_id)
    access.check(principal, app, write=True)
    return ReadingBasis(application_id=app.id, hall=app.hall, status=app.status,
                        applicant_matches=hmac.compare_digest(app.applicant_id.encode(), applicant_id.encode()))


@router.patch("/{application_id}", response_model=ApplicationView)
async def update_application(
    application_id: str, body: ApplicationUpdate, principal: Writer, session: SessionDep
) -> ApplicationView:
    """Save form values and the materials handed in; verified (locked) values cannot change."""
    app = await editing.update_draft(session, principal=principal, application_id=application_id, body=body)
    return await views.application_view(session, app=app)


@router.post("/{application_id}/prefill", response_model=ApplicationView)
async def prefill_again(
    application_id: str, principal: Writer, session: SessionDep, request: Request
) -> ApplicationView:
    """Ask forms again for a draft opened in degraded mode; 503 if forms is still unavailable."""
    app = await access.load(session, application_id=application_id)
    access.check(principal, app, write=True)
    forms: FormsClient = request.app.state.forms_client
    prefill = await forms.prefill(
        authorization=request.headers.get("authorization"), applicant_id=app.applicant_id,
        matter=app.matter_code, bundle=app.bundle_code, application_ref=app.id,
    )
    app = await opening.refresh_prefill(
        session, principal=principal, application_id=application_id, prefill=prefill, now=utcnow()
    )
    return await views.application_view(session, app=app)


@router.post("/{application_id}/submit", response_model=ApplicationView)
async def submit(
    application_id: str, body: SubmitIn, principal: Writer, session: SessionDep, runtime: RuntimeDep,
    settings: Settings,
) -> ApplicationView:
    """Material check: complete or covered by a commitment -> accepted (receipt, application.accepted);
    otherwise pending_supplement with a one-time notice. Online submissions wait for the hall's check."""
    app = await submission.submit(
        session, principal=principal, outbox=runtime.outbox, application_id=application_id, body=body,
        now=utcnow(), tz=_tz(settings), max_commitment_days=settings.commitment_max_working_days,
    )
    return await views.application_view(session, app=app)


@router.post("/{application_id}/supplement", response_model=ApplicationView)
async def supplement(
    application_id: str, body: SupplementIn, principal: Writer, session: SessionDep, runtime: RuntimeDep,
    settings: Settings,
) -> ApplicationView:
    """Hand in missing materials: completes a pending application, or fulfils a commitment / 补正 request."""
    app = await submission.supplement(
        session, principal=principal, outbox=runtime.outbox, application_id=application_id, body=body,
        now=utcnow(), tz=_tz(settings), max_commitment_days=settings.commitment_max_working_days,
    )
    return await views.application_view(session, app=app)


@router.post("/{application_id}/refuse", response_model=ApplicationView)
async def refuse(
    application_id: str, body: RefuseIn, principal: Clerk, session: SessionDep, runtime: RuntimeDep
) -> ApplicationView:
    """Refuse to accept (不予受理) with a reason; a printable notice follows."""
    app = await submission.refuse(
        session, principal=principal, outbox=runtime.outbox, application_id=application_id, body=body,
        now=utcnow(),
    )
    return await views.application_view(session, app=app)


async def _accepted(
    session: SessionDep, principal: Principal, application_id: str, *, runtime: Any = None
) -> tuple[Application, str]:
    """The application and its tracking code; 409 before acceptance (no receipt yet). With ``runtime``
    the read is recorded (the receipt shows the applicant in full)."""
    app = await access.load(session, application_id=application_id)
    access.check(principal, app)
    if app.tracking_code is None:
        raise Conflict(f"application is {app.status}; a receipt exists only once accepted")
    if runtime is not None:
        await access.record_view(session, outbox=runtime.outbox, principal=principal, app=app, purpose="receipt")
    return app, app.tracking_code


def _tracking_url(request: Request, code: str) -> str:
    base = request.app.state.runtime.settings.public_base_url.rstrip("/")
    return f"{base}/progress/{code}"


@router.get("/{application_id}/receipt")
async def receipt(
    application_id: str, principal: Reader, session: SessionDep, request: Request, runtime: RuntimeDep
) -> dict[str, Any]:
    """The acceptance receipt (受理回执) as data."""
    app, tracking_code = await _accepted(session, principal, application_id, runtime=runtime)
    return await views.receipt_view(session, app=app, tracking_url=_tracking_url(request, tracking_code))


@router.get("/{application_id}/receipt.html", response_class=HTMLResponse)
async def receipt_html(
    application_id: str, principal: Reader, session: SessionDep, request: Request, runtime: RuntimeDep
) -> HTMLResponse:
    """The printable receipt with its tracking QR code."""
    app, tracking_code = await _accepted(session, principal, application_id, runtime=runtime)
    data = await views.receipt_view(session, app=app, tracking_url=_tracking_url(request, tracking_code))
    return HTMLResponse(documents.receipt_html(data))


@router.get("/{application_id}/receipt/qr.svg", response_class=Response)
async def receipt_qr(application_id: str, principal: Reader, session: SessionDep, request: Request) -> Response:
    """The tracking QR code alone (SVG), for receipt printers."""
    _, tracking_code = await _accepted(session, principal, application_id)
    return Response(documents.qr_svg(_tracking_url(request, tracking_code)), media_type="image/svg+xml")


@router.get("/{application_id}/notice.html", response_class=HTMLResponse)
async def notice_html(
    application_id: str, principal: Reader, session: SessionDep, runtime: RuntimeDep
) -> HTMLResponse:
    """The printable one-time notice (一次性告知书)."""
    app = await access.load(session, application_id=application_id)
    access.check(principal, app)
    if app.notice is None:
        raise NotFound("no one-time notice was issued for this application")
    await access.record_view(session, outbox=runtime.outbox, principal=principal, app=app, purpose="notice")
    return HTMLResponse(documents.notice_html(app))


@router.get("/{application_id}/refusal.html", response_class=HTMLResponse)
async def refusal_html(
    application_id: str, principal: Reader, session: SessionDep, runtime: RuntimeDep
) -> HTMLResponse:
    """The printable refusal notice (不予受理通知书)."""
    app = await access.load(session, application_id=application_id)
    access.check(principal, app)
    if app.status != "refused":
        raise NotFound("this application was not refused")
    await access.record_view(session, outbox=runtime.outbox, principal=principal, app=app, purpose="refusal")
    return HTMLResponse(documents.refusal_html(app))


@progress_router.get(
    "/progress/{tracking_code}", response_model=ProgressView, dependencies=[public()],
    name="progress",  # the route's name (and OpenAPI operation id) from before the module of that name
)
async def public_progress(tracking_code: str, session: SessionDep) -> ProgressView:
    """Public progress by the tracking code on the receipt: statuses and dates, no personal data."""
    app = await progress.by_tracking_code(session, tracking_code=tracking_code)
    return await views.progress_view(session, app=app)


@progress_router.get("/accepted-events", tags=["read-your-writes"])
async def accepted_events(
    principal: Annotated[Principal, require(Role.SERVICE, Role.APPROVER, Role.LIAISON, Role.ISSUANCE_CLERK)],
    session: SessionDep,
    application_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    tracking_code: Annotated[str | None, Query(min_length=8, max_length=64)] = None,
) -> list[dict[str, Any]]:
    """The ``application.accepted`` envelope(s) acceptance staged for an application (by id or tracking
    code), straight from its outbox: approval and issuance read them through when a person acts before
    the broker delivered them (docs/acceptance.md, "Read-your-writes"). Approvers and liaison officers
    see applications with an item of their departments, issuance clerks those collected in their halls;
    anything else is 404."""
    if (application_id is None) == (tracking_code is None):
        raise Unprocessable("name the application by exactly one of application_id, tracking_code",
                            errors=[FieldError(field="application_id", message="give it or tracking_code")])
    app = (
        await repo.get_application(session, application_id=application_id)
        if application_id is not None
        else await repo.get_by_tracking_code(session, tracking_code=tracking_code or "")
    )
    if app is None:
        raise NotFound("no such accepted application")
    found = await readthrough.staged(session, backbone.outbox_table, key=app.id, types=["application.accepted"])
    by_receipt = tracking_code is not None
    visible = [e for e in found if _may_read_accepted(principal, e.payload, by_receipt=by_receipt)]
    if not visible:
        raise NotFound("no such accepted application")
    return [e.model_dump(mode="json") for e in visible]


def _may_read_accepted(principal: Principal, payload: dict[str, Any], *, by_receipt: bool) -> bool:
    """Services read every application; approvers those with an item of their departments (the task shows
    the same values); issuance clerks only by the tracking code of a receipt in front of them (an
    unguessable code), in their halls, so the window cannot look applications up by id."""
    if principal.has(Role.SERVICE):
        return True
    if principal.has(Role.APPROVER, Role.LIAISON) and any(
        principal.may_act_for_department(i.get("department")) for i in payload.get("items", [])
    ):
        return True
    return by_receipt and principal.has(Role.ISSUANCE_CLERK) and (
        principal.may_act_in_hall(payload.get("collect_hall")) or principal.may_act_in_hall(payload.get("hall"))
    )


# ---- pre-check questions (预审咨询) ----------------------------------------------------------------------

DepartmentReader = Annotated[Principal, require(Role.APPROVER, Role.AUDITOR)]
Approver = Annotated[Principal, require(Role.APPROVER)]


@router.post("/{application_id}/questions", status_code=201, response_model=QuestionView)
async def ask_question(
    application_id: str, body: QuestionIn, principal: Clerk, session: SessionDep
) -> QuestionView:
    """Ask a department's approver about a draft (预审咨询); the draft as it stands (personal data masked)
    goes with the question. 422 for a department none of the draft's matters belongs to."""
    row = await questions.ask(
        session, principal=principal, application_id=application_id, department=body.department,
        question=body.question, now=utcnow(),
    )
    return QuestionView.model_validate(row, from_attributes=True)


@questions_router.get("", response_model=list[QuestionView])
async def list_questions(
    principal: DepartmentReader,
    session: SessionDep,
    department: Annotated[str | None, Query(max_length=40)] = None,
    status: Literal["open", "answered"] | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**6)] = 0,
) -> list[QuestionView]:
    """Pre-check questions to the caller's departments, oldest first (403 for another department)."""
    rows = await questions.visible(
        session, principal=principal, department=department, status=status, limit=limit, offset=offset
    )
    return [QuestionView.model_validate(q, from_attributes=True) for q in rows]


@questions_router.post("/{question_id}/answer", response_model=QuestionView)
async def answer_question(question_id: str, body: AnswerIn, principal: Approver, session: SessionDep) -> QuestionView:
    """Answer a pre-check question of one's department, once (409 the second time); it shows on the draft."""
    row = await questions.answer(session, principal=principal, question_id=question_id, text=body.answer, now=utcnow())
    return QuestionView.model_validate(row, from_attributes=True)
