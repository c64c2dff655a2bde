"""What callers see: the full application (staff, its applicant), list rows (masked), public progress."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.acceptance import questions, rules
from services.acceptance import repository as repo
from services.acceptance.models import Application
from services.acceptance.schemas import (
    ApplicationSummary,
    ApplicationView,
    FieldView,
    HistoryView,
    ItemView,
    MaterialView,
    ProgressView,
    QuestionView,
)
from shared.privacy import mask_id_number, mask_mobile, mask_name

# Steps of the desk's own work the public progress page does not show.
_INTERNAL_STEPS = ("draft", "precheck_asked", "precheck_answered")


async def application_view(session: AsyncSession, *, app: Application) -> ApplicationView:
    """The whole application: form with provenance, materials per item, notice, history, pre-check questions."""
    items = await repo.get_items(session, application_id=app.id)
    history = await repo.get_history(session, application_id=app.id)
    # a question is asked with its history entry (questions.ask): no entry, no question to read
    asked = (await questions.of_application(session, application_id=app.id)
             if any(h.status == "precheck_asked" for h in history) else [])
    hints = app.prefill.get("fields", {})
    return ApplicationView(
        id=app.id,
        application_no=app.application_no,
        tracking_code=app.tracking_code,
        status=app.status,
        channel=app.channel,
        hall=app.hall,
        collect_hall=app.collect_hall,
        ticket_id=app.ticket_id,
        matter_code=app.matter_code,
        bundle_code=app.bundle_code,
        title=app.title,
        catalog_version=app.catalog_version,
        applicant={"type": app.applicant_type, "id_number": app.applicant_id, "name": app.applicant_name,
                   "mobile": app.applicant_mobile},
        degraded=app.degraded,
        prefill_note=app.prefill.get("reason"),
        fields=[
            FieldView(key=k, value=app.values.get(k), source=hints.get(k, {}).get("source"),
                      verified=bool(hints.get(k, {}).get("verified")), locked=k in app.locked)
            for k in app.field_keys
        ],
        missing_fields=rules.missing_fields(app),
        items=[
            ItemView(item_id=i.id, matter_code=i.matter_code, matter_name=i.matter_name, department=i.department,
                     status=i.status, promised_date=i.promised_date,
                     materials=[MaterialView(**m) for m in i.materials],
                     commitment={k: v for k, v in i.commitment.items() if k != "signature"} if i.commitment else None,
                     task_id=i.task_id, licence_nos=i.licence_nos)
            for i in items
        ],
        notice=app.notice,
        refusal_reason=app.refusal_reason,
        promised_date=app.promised_date,
        **rules.due_dates_marks(app, items),
        accepted_at=app.accepted_at,
        correlation_id=app.correlation_id,
        history=[HistoryView(status=h.status, at=h.at, item_id=h.item_id, note=h.note) for h in history],
        questions=[QuestionView.model_validate(q, from_attributes=True) for q in asked],
    )


def summary(app: Application) -> ApplicationSummary:
    """A list row with the applicant's name and identifiers masked."""
    masked_id = mask_id_number(app.applicant_id) if app.applicant_type == "natural_person" else app.applicant_id
    return ApplicationSummary(
        id=app.id,
        application_no=app.application_no,
        status=app.status,
        title=app.title,
        hall=app.hall,
        collect_hall=app.collect_hall,
        applicant_name=mask_name(app.applicant_name) if app.applicant_type == "natural_person" else app.applicant_name,
        applicant_id=masked_id,
        promised_date=app.promised_date,
        created_at=app.created_at,
        correlation_id=app.correlation_id,
    )


async def progress_view(session: AsyncSession, *, app: Application) -> ProgressView:
    """Public progress: statuses, matters, dates; never names, identifiers, values or free-text reasons."""
    items = await repo.get_items(session, application_id=app.id)
    history = await repo.get_history(session, application_id=app.id)
    return ProgressView(
        application_no=app.application_no,
        status=app.status,
        title=app.title,
        hall=app.hall,
        collect_hall=app.collect_hall,
        accepted_at=app.accepted_at,
        promised_date=app.promised_date,
        items=[
            {"matter_code": i.matter_code, "matter_name": i.matter_name, "department": i.department,
             "status": i.status, "promised_date": i.promised_date}
            for i in items
        ],
        history=[HistoryView(status=h.status, at=h.at, item_id=h.item_id) for h in history
                 if h.status not in _INTERNAL_STEPS],
    )


async def receipt_view(session: AsyncSession, *, app: Application, tracking_url: str) -> dict[str, Any]:
    """The receipt of an accepted application, with its items."""
    items = await repo.get_items(session, application_id=app.id)
    return receipt(app, items, tracking_url=tracking_url)


def receipt(app: Application, items: list[Any], *, tracking_url: str) -> dict[str, Any]:
    """The acceptance receipt (受理回执) as data; the HTML and QR render it."""
    return {
        "application_no": app.application_no,
        "tracking_code": app.tracking_code,
        "tracking_url": tracking_url,
        "title": app.title,
        "hall": app.hall,
        "collect_hall": app.collect_hall,
        "accepted_at": app.accepted_at.isoformat() if app.accepted_at else None,
        "promised_date": app.promised_date.isoformat() if app.promised_date else None,
        **rules.due_dates_marks(app, items),
        "applicant": {"name": app.applicant_name, "id_number": mask_id_number(app.applicant_id),
                      "mobile": mask_mobile(app.applicant_mobile)},
        "items": [
            {
                "item_id": i.id,
                "matter_code": i.matter_code,
                "matter_name": i.matter_name,
                "department": i.department,
                "promised_date": i.promised_date.isoformat() if i.promised_date else None,
                "materials": [{"code": m["code"], "name": m["name"], "status": m["status"]} for m in i.materials],
                "commitment": {"materials": i.commitment["materials"], "deadline": i.commitment["deadline"]}
                if i.commitment else None,
            }
            for i in items
        ],
    }
