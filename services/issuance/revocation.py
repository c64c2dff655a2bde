"""Revocation: licences revoked after a failed post-check (event) or by their issuing department (REST)."""

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.issuance import library, notify, repository
from services.issuance.deps import IssuanceDeps, emit
from services.issuance.models import Licence
from shared.auth import Principal
from shared.events.approvals import DecisionRevoked
from shared.events.licences import LicenceRevoked
from shared.problems import DomainError, NotFound


class AlreadyRevoked(DomainError):
    status, code, title = 409, "already_revoked", "The licence is already revoked"


async def revoke_decision(session: AsyncSession, *, event: DecisionRevoked, deps: IssuanceDeps) -> None:
    """A failed post-check revoked the approval: revoke the licence it produced (or the pending result)."""
    result = await repository.get_result(session, event.application_id, event.item_id)
    if result is None:
        return
    licence = await repository.licence_for_item(session, event.application_id, event.item_id)
    if licence is not None:
        if licence.status != "revoked":
            await _revoke(session, licence=licence, reason=event.reason, at=event.at, deps=deps)
        return
    result.decision, result.reason = "revoked", event.reason
    await session.flush()


async def _revoke(
    session: AsyncSession, *, licence: Licence, reason: str, at: datetime, deps: IssuanceDeps
) -> None:
    licence.status, licence.revoked_at, licence.revocation_reason = "revoked", at, reason
    await session.flush()
    app = await repository.get_application(session, licence.application_id)
    await emit(
        session,
        LicenceRevoked(
            licence_no=licence.licence_no,
            licence_type=licence.licence_type,
            holder_id=licence.holder_id,
            application_id=licence.application_id,
            reason=reason,
            revoked_at=at,
        ),
        app=app,  # the flow's id, also when a department's request or a post-check revokes
        deps=deps,
    )
    if app is not None:
        await notify.request(
            session,
            app=app,
            template="licence_revoked",
            params={"licence_no": licence.licence_no, "licence_type": licence.licence_type_name},
            now=at,
            deps=deps,
        )


async def revoke_licence(
    session: AsyncSession, *, licence_no: str, reason: str, principal: Principal, deps: IssuanceDeps
) -> Licence:
    """Revocation by the issuing department (e.g. a post-check outside the approval flow)."""
    formatted = library.checked_licence_no(licence_no)
    licence = await repository.get_licence(session, formatted, lock=True)
    if licence is None:
        raise NotFound("no licence with this number in the library")
    principal.check_department(licence.issuing_department)
    if licence.status == "revoked":
        raise AlreadyRevoked(f"licence {licence.licence_no} was revoked on {licence.revoked_at:%Y-%m-%d}")
    await _revoke(session, licence=licence, reason=reason, at=datetime.now(UTC), deps=deps)
    return licence
