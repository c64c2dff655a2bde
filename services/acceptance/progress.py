"""Following the back office: item and application statuses from approval, licence and delivery events,
and public progress by tracking code."""

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.acceptance import repository as repo
from services.acceptance import rules
from services.acceptance.models import Application, ApplicationItem
from shared.problems import NotFound

DONE_ITEM = ("approved", "denied", "licence_issued", "revoked")
_RANK = {
    "accepted": 0,
    "in_approval": 1,
    "supplement_requested": 1,
    "approved": 2,
    "denied": 2,
    "licence_issued": 3,
    "revoked": 4,
}


def roll_up(app: Application, items: list[ApplicationItem]) -> None:
    """One application status from its items' statuses (bundles decide in parallel)."""
    if app.status in ("result_ready", "collected", "refused") or app.status in rules.BEFORE_ACCEPTANCE:
        return
    statuses = [i.status for i in items]
    if any(s == "supplement_requested" for s in statuses):
        app.status = "supplement_requested"
    elif all(s in DONE_ITEM for s in statuses):
        if all(s == "revoked" for s in statuses):
            app.status = "revoked"
        elif all(s in ("denied", "revoked") for s in statuses):
            app.status = "denied"
        elif all(s in ("approved", "licence_issued") for s in statuses):
            app.status = "approved"
        else:
            app.status = "partly_approved"
    elif any(s in ("in_approval", "supplemented") for s in statuses) or any(s in DONE_ITEM for s in statuses):
        app.status = "in_approval"


async def follow(
    session: AsyncSession,
    *,
    application_id: str | None,
    item_id: str | None,
    status: str | None,
    source: str,
    at: datetime,
    note: str | None = None,
    task_id: str | None = None,
    licence_no: str | None = None,
    app_status: str | None = None,
) -> bool:
    """Apply a back-office step to an application we accepted; False if it is not ours."""
    if not application_id:
        return False
    app = await repo.get_application(session, application_id=application_id, lock=True)
    if app is None:
        return False
    items = await repo.get_items(session, application_id=app.id)
    item = next((i for i in items if i.id == item_id), None)
    if item is not None:
        if task_id:
            item.task_id = task_id
        if licence_no and licence_no not in item.licence_nos:
            item.licence_nos = [*item.licence_nos, licence_no]
        if status is not None and _RANK.get(status, 0) >= _RANK.get(item.status, 0):
            item.status = status  # never backwards: streams are ordered per key, not across topics
    if app_status is not None:
        app.status = app_status
    else:
        roll_up(app, items)
    await repo.add_history(
        session,
        application_id=app.id,
        item_id=item_id,
        status=status or app_status or app.status,
        at=at,
        source=source,
        note=note,
    )
    await session.flush()
    return True


async def by_tracking_code(session: AsyncSession, *, tracking_code: str) -> Application:
    """The application a receipt's tracking code names, or 404 (codes of implausible length are not looked up)."""
    app = None
    if 16 <= len(tracking_code) <= 64:
        app = await repo.get_by_tracking_code(session, tracking_code=tracking_code)
    if app is None:
        raise NotFound("unknown tracking code")
    return app
