"""Following the back office: item and application statuses from approval, licence and delivery events,
and public progress by tracking code.

Events reach acceptance in an order of their own: streams are ordered per key, not across topics
(a licence can overtake the decision that produced it), and a replay can bring an old event late.
So the history is kept by when things happened (the event's ``occurred_at``), and statuses move by
the rules below, never by arrival:

- an item moves to a step of higher rank, never to a lower one (a decision arriving after its
  licence, or a task_opened after the decision, only adds to the history);
- between steps of equal rank, the one that happened later wins: a supplement request (补正) and
  the resumed approval legitimately alternate, in the order they happened;
- revoked (a failed post-check) ranks highest: nothing comes after it;
- the application, before acceptance or when refused, moves only by the front desk; once accepted it
  is revoked when every item is (even after collection: the legal state wins over the delivery),
  else at the furthest delivery stage issuance reached (results ready < collected), else the roll-up
  of its items (a supplement request on any item shows: the applicant must act).
"""

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.acceptance import repository as repo
from services.acceptance import rules
from services.acceptance.models import Application, ApplicationItem
from shared.problems import NotFound

DONE_ITEM = ("approved", "denied", "licence_issued", "revoked")
ITEM_RANK = {
    "accepted": 0,
    "in_approval": 1,
    "supplement_requested": 1,
    "approved": 2,
    "denied": 2,
    "licence_issued": 3,
    "revoked": 4,
}
DELIVERY_RANK = {"result_ready": 1, "collected": 2}


def _following(app: Application) -> bool:
    """Whether the back office moves this application (accepted, not refused)."""
    return app.status != "refused" and app.status not in rules.BEFORE_ACCEPTANCE


def advance_item(item: ApplicationItem, *, status: str, at: datetime) -> bool:
    """Move an item to ``status`` (which happened at ``at``) if the rules allow; True if it moved."""
    new, current = ITEM_RANK.get(status, 0), ITEM_RANK.get(item.status, 0)
    if new > current or (new == current and (item.status_at is None or at >= item.status_at)):
        item.status, item.status_at = status, at
        return True
    return False


def roll_up(app: Application, items: list[ApplicationItem], *, delivered: str | None = None) -> None:
    """One application status from its items' statuses (bundles decide in parallel) and the delivery
    stage (``delivered``: a result_ready / collected event)."""
    if not _following(app):
        return
    statuses = [i.status for i in items]
    if statuses and all(s == "revoked" for s in statuses):
        app.status = "revoked"
        return
    stages = [s for s in (app.status, delivered) if s in DELIVERY_RANK]
    if stages:
        app.status = max(stages, key=DELIVERY_RANK.__getitem__)
        return
    if any(s == "supplement_requested" for s in statuses):
        app.status = "supplement_requested"
    elif all(s in DONE_ITEM for s in statuses):
        if all(s in ("denied", "revoked") for s in statuses):
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
    history_status: str | None = None,
) -> bool:
    """Apply a back-office step that happened at ``at`` (the event's occurred_at) to an application we
    accepted; False if it is not ours. ``status`` is the item's new step, ``app_status`` a delivery
    stage, ``history_status`` what the history shows for an event that moves no status."""
    if not application_id:
        return False
    found = await repo.lock_with_items(session, application_id=application_id)
    if found is None:
        return False
    app, items = found
    item = next((i for i in items if i.id == item_id), None)
    if item is not None:
        if task_id:
            item.task_id = task_id
        if licence_no and licence_no not in item.licence_nos:
            item.licence_nos = [*item.licence_nos, licence_no]
        if status is not None and _following(app):
            advance_item(item, status=status, at=at)
    roll_up(app, items, delivered=app_status)
    await repo.add_history(
        session,
        application_id=app.id,
        item_id=item_id,
        status=status or app_status or history_status or app.status,
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
