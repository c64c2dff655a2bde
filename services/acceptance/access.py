"""Who may see or change an application: loading it, hall and applicant checks, the lists a caller may read."""

from sqlalchemy.ext.asyncio import AsyncSession

from services.acceptance import repository as repo
from services.acceptance.models import Application, ApplicationItem
from shared.access_log import publish_view
from shared.auth import Principal, Role
from shared.events.applications import ApplicationViewed
from shared.outbox import Outbox
from shared.problems import Forbidden, NotFound


async def load(session: AsyncSession, *, application_id: str, lock: bool = False) -> Application:
    """The application or 404."""
    app = await repo.get_application(session, application_id=application_id, lock=lock)
    if app is None:
        raise NotFound(f"application {application_id} does not exist")
    return app


async def load_with_items(session: AsyncSession, *, application_id: str) -> tuple[Application, list[ApplicationItem]]:
    """The application locked for a change, with its items, or 404."""
    found = await repo.lock_with_items(session, application_id=application_id)
    if found is None:
        raise NotFound(f"application {application_id} does not exist")
    return found


def check(principal: Principal, app: Application, *, write: bool = False) -> None:
    """Staff act in the accepting or collecting hall; applicants only on their own applications."""
    if principal.applicant_id is not None and not principal.has(
        Role.CLERK, Role.HALL_ADMIN, Role.ISSUANCE_CLERK
    ):
        if principal.applicant_id != app.applicant_id:
            raise Forbidden("this application belongs to another applicant")
        if write and app.channel != "web":
            raise Forbidden("applications opened at a window are changed at the window")
        return
    halls = [app.hall] if write else [app.hall, app.collect_hall]
    if not any(principal.may_act_in_hall(h) for h in halls):
        raise Forbidden(f"not allowed in hall {app.hall}")


def is_applicant(principal: Principal) -> bool:
    """True for an applicant acting for themselves (not a clerk)."""
    return principal.applicant_id is not None and not principal.has(Role.CLERK)


async def visible_applications(
    session: AsyncSession,
    *,
    principal: Principal,
    applicant_id: str | None,
    hall: str | None,
    status: str | None,
    limit: int,
    offset: int,
) -> list[Application]:
    """Applications the caller may list: staff by applicant / hall within their halls; applicants their own."""
    halls: list[str] | None
    if principal.has(Role.CLERK, Role.HALL_ADMIN, Role.ISSUANCE_CLERK, Role.AUDITOR):
        if hall is not None:
            principal.check_hall(hall)
            halls = [hall]
        else:
            halls = None if "*" in principal.halls else sorted(principal.halls)
    else:
        applicant_id, halls = principal.applicant_id, None
    return await repo.list_applications(
        session, applicant_id=applicant_id, halls=halls, status=status, limit=limit, offset=offset
    )


async def record_view(
    session: AsyncSession, *, outbox: Outbox, principal: Principal, app: Application, purpose: str
) -> None:
    """Publish that ``principal`` read ``app`` with the applicant's data in full (``application.viewed``)."""
    await publish_view(
        session, outbox, ApplicationViewed, principal=principal, applicant_id=app.applicant_id, purpose=purpose,
        application_ref=app.id, subject=app.matter_code or app.bundle_code, correlation_id=app.correlation_id,
        hall=next((h for h in (app.hall, app.collect_hall) if h and principal.may_act_in_hall(h)), None),
    )
