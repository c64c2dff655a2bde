"""Results: accepted applications and decisions in, every result released at once, licences signed."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.issuance import notify, numbers, repository
from services.issuance.deps import IssuanceDeps, emit
from services.issuance.models import Application, Licence, Result
from services.issuance.signing import canonical_json
from shared.events.applications import ApplicationAccepted
from shared.events.approvals import ApprovalDecided
from shared.events.licences import LicenceIssued, ResultReady

LICENCE_FORMAT = "onewindow-licence/1"
# Form fields that may appear on a licence; personal contact data and ID numbers never do.
_LICENCE_FIELD_PREFIXES = (
    "entity.",
    "premises.",
    "food.",
    "hygiene.",
    "fire.",
    "sport.",
    "seal.",
    "project.",
    "property.",
    "elder.",
    "transport.",
    "env.",
    "water.",
)
_NEVER_ON_LICENCE = ("id_number", "mobile", "email", "account", "uscc")


async def record_accepted(
    session: AsyncSession, *, event: ApplicationAccepted, correlation_id: str, deps: IssuanceDeps
) -> None:
    """Remember who collects what where (tracking code, applicant, items); release if all is decided."""
    applicant = event.applicant
    await repository.upsert_accepted(
        session,
        values={
            "application_id": event.application_id,
            "application_no": event.application_no,
            "tracking_code": event.tracking_code,
            "accepted": True,
            "hall": event.hall,
            "collect_hall": event.collect_hall,
            "bundle_code": event.bundle_code,
            "applicant_type": applicant.type,
            "applicant_id": applicant.id_number,
            "applicant_name": applicant.name,
            "applicant_mobile": applicant.mobile,
            "item_ids": [item.item_id for item in event.items],
            "on_the_spot": bool(event.items) and all(item.on_the_spot for item in event.items),
            "correlation_id": correlation_id,
            "status": "pending",
        },
    )
    await maybe_release(session, application_id=event.application_id, deps=deps)


async def record_decision(
    session: AsyncSession, *, event: ApprovalDecided, correlation_id: str, deps: IssuanceDeps
) -> None:
    """Keep one decision per item (duplicates change nothing); release when every item is decided."""
    applicant = event.applicant
    await repository.insert_application_stub(
        session,
        values={
            "application_id": event.application_id,
            "accepted": False,
            "collect_hall": event.collect_hall,
            "bundle_code": event.bundle_code,
            "applicant_type": applicant.type,
            "applicant_id": applicant.id_number,
            "applicant_name": applicant.name,
            "applicant_mobile": applicant.mobile,
            "item_ids": event.bundle_item_ids or [event.item_id],
            "on_the_spot": event.on_the_spot,
            "correlation_id": correlation_id,
            "status": "pending",
        },
    )
    inserted = await repository.insert_result(
        session,
        values={
            "application_id": event.application_id,
            "item_id": event.item_id,
            "task_id": event.task_id,
            "matter_code": event.matter_code,
            "matter_name": event.matter_name,
            "department": event.department,
            "decision": "approved" if event.decision == "approved" else "denied",
            "reason": event.reason,
            "decided_at": event.decided_at,
            "result_licence_type": event.result_licence_type,
            "values": event.values,
        },
    )
    if inserted and event.decision == "approved" and event.result_licence_type and event.awaited_by:
        await issue_for_bundle(session, event=event, deps=deps)
    if inserted:
        await maybe_release(session, application_id=event.application_id, deps=deps)


async def issue_for_bundle(session: AsyncSession, *, event: ApprovalDecided, deps: IssuanceDeps) -> None:
    """A licence later members of the same bundle wait for (``awaited_by``) is issued at once, not with the
    bundle's other results: their approval starts from it (licence.issued). It is handed out with the rest."""
    app = await repository.lock_application(session, event.application_id)
    result = await repository.get_result(session, event.application_id, event.item_id)
    if app is None or result is None or result.document_no:
        return
    now, today = datetime.now(UTC), deps.today()
    licence = await _issue_licence(session, app=app, result=result, deps=deps, now=now, today=today)
    result.kind, result.document_no = "licence", licence.licence_no
    await session.flush()
    await emit(session, _issued_event(licence, app), app=app, deps=deps, hall=app.collect_hall)


async def maybe_release(session: AsyncSession, *, application_id: str, deps: IssuanceDeps) -> bool:
    """Produce every result of the application at once when all its items are decided."""
    app = await repository.lock_application(session, application_id)
    if app is None or not app.accepted or app.status != "pending" or not app.item_ids:
        return False
    results = await repository.results_of(session, application_id)
    if not set(app.item_ids) <= {r.item_id for r in results}:
        return False
    now, today = datetime.now(UTC), deps.today()
    licences: list[Licence] = []
    notice_nos: list[str] = []
    denied: list[str] = []
    early: list[str] = []  # licences already issued for bundle members waiting on them (issue_for_bundle)
    for result in results:
        if result.kind == "licence" and result.document_no:
            early.append(result.document_no)
        elif result.decision == "approved" and result.result_licence_type:
            licence = await _issue_licence(session, app=app, result=result, deps=deps, now=now, today=today)
            licences.append(licence)
            result.kind, result.document_no = "licence", licence.licence_no
        elif result.decision == "approved":
            result.kind, result.document_no = "approval_notice", numbers.new_notice_no("ZY", today.year)
            notice_nos.append(result.document_no)
        else:
            result.kind, result.document_no = "denial_notice", numbers.new_notice_no("BY", today.year)
            notice_nos.append(result.document_no)
            denied.append(result.item_id)
        result.released_at = now
    app.status, app.ready_at = "ready", now
    await session.flush()
    for licence in licences:
        await emit(session, _issued_event(licence, app), app=app, deps=deps, hall=app.collect_hall)
    await emit(
        session,
        ResultReady(
            application_id=app.application_id,
            application_no=app.application_no,
            collect_hall=app.collect_hall,
            item_ids=[r.item_id for r in results],
            licence_nos=early + [lic.licence_no for lic in licences],
            notice_nos=notice_nos,
            denied_item_ids=denied,
            on_the_spot=app.on_the_spot,
            at=now,
        ),
        app=app,
        deps=deps,
        hall=app.collect_hall,
    )
    await notify.request(
        session,
        app=app,
        template="result_ready",
        params={
            "application_no": app.application_no,
            "collect_hall": app.collect_hall,
            "results": len(results),
            "denied": len(denied),
            "on_the_spot": app.on_the_spot,
        },
        now=now,
        deps=deps,
    )
    return True


def licence_data(result: Result) -> dict[str, Any]:
    """The form values that go on the result's licence (its subject's fields, never personal contacts)."""
    data = {
        key: value
        for key, value in sorted(result.values.items())
        if key.startswith(_LICENCE_FIELD_PREFIXES) and not any(word in key for word in _NEVER_ON_LICENCE)
    }
    data["matter_name"] = result.matter_name
    return data


def years_later(start: date, years: int) -> date:
    """The same day ``years`` later; 29 February becomes 28 February in a common year."""
    try:
        return start.replace(year=start.year + years)
    except ValueError:  # 29 February
        return start.replace(year=start.year + years, day=28)


async def _issue_licence(
    session: AsyncSession, *, app: Application, result: Result, deps: IssuanceDeps, now: datetime, today: date
) -> Licence:
    """Sign and store one licence of the result's licence type."""
    licence_type = result.result_licence_type or ""
    years = deps.settings.licence_validity_years.get(licence_type)
    valid_until = years_later(today, years) - timedelta(days=1) if years else None
    licence_no = numbers.new_licence_no(today.year)
    type_name = deps.settings.licence_type_names.get(licence_type, licence_type)
    document = {
        "format": LICENCE_FORMAT,
        "licence_no": licence_no,
        "licence_type": licence_type,
        "licence_type_name": type_name,
        "holder": {"type": app.applicant_type, "id": app.applicant_id, "name": app.applicant_name},
        "issuing_department": result.department,
        "matter_code": result.matter_code,
        "valid_from": today.isoformat(),
        "valid_until": valid_until.isoformat() if valid_until else None,
        "data": licence_data(result),
        "issued_at": now.isoformat(),
        "key_id": deps.signer.kid,
    }
    canonical = canonical_json(document)
    licence = Licence(
        licence_no=licence_no,
        licence_type=licence_type,
        licence_type_name=type_name,
        holder_type=app.applicant_type,
        holder_id=app.applicant_id,
        holder_name=app.applicant_name,
        issuing_department=result.department,
        valid_from=today,
        valid_until=valid_until,
        data=document["data"],
        application_id=app.application_id,
        item_id=result.item_id,
        matter_code=result.matter_code,
        issued_at=now,
        status="valid",
        canonical=canonical.decode("utf-8"),
        signature=deps.signer.sign(canonical),
        key_id=deps.signer.kid,
        correlation_id=app.correlation_id,
    )
    session.add(licence)
    return licence


def _issued_event(licence: Licence, app: Application) -> LicenceIssued:
    return LicenceIssued(
        licence_no=licence.licence_no,
        licence_type=licence.licence_type,
        holder_type=licence.holder_type,
        holder_id=licence.holder_id,
        holder_name=licence.holder_name,
        issuing_department=licence.issuing_department,
        valid_from=licence.valid_from,
        valid_until=licence.valid_until,
        data=licence.data,
        application_id=licence.application_id,
        item_id=licence.item_id,
        matter_code=licence.matter_code,
        issued_at=licence.issued_at,
        application_no=app.application_no,
        key_id=licence.key_id,
        signature=licence.signature,
    )
