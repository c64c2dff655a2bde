"""Read-your-writes: the tasks of an application acceptance has accepted but whose application.accepted
the broker has not delivered yet. Approval fetches the envelope from acceptance's outbox and handles it
through its own consumer (same handler, same inbox row), so the first try right after submit shows the
tasks and the later broker delivery is a deduplicated no-op (docs/approval.md, "Read-your-writes")."""

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.approval import repository
from services.approval.models import backbone
from shared import readthrough
from shared.auth import Principal, Role
from shared.events.envelope import Envelope
from shared.problems import NotFound


async def ensure_application(session: AsyncSession, *, request: Request, application_id: str) -> None:
    """Open the application's tasks now if approval has not heard of it and acceptance accepted it (the
    caller's token: acceptance shows applications with an item of the caller's departments)."""
    if await repository.get_application(session, application_id=application_id) is not None:
        return
    await readthrough.read_through(
        request.app.state.runtime, session, client=request.app.state.acceptance_client, group="approval",
        path="/accepted-events", params={"application_id": application_id},
        authorization=request.headers.get("authorization"),
    )


async def decided_events(session: AsyncSession, *, principal: Principal, application_id: str) -> list[Envelope]:
    """The approval.decided envelopes approval staged for an application (its outbox), for issuance to read
    through when the issuance window scans a receipt before the broker delivered them. Services read every
    application, issuance clerks those accepted or collected in their halls; anything else is 404."""
    application = await repository.get_application(session, application_id=application_id)
    if application is None or not (
        principal.has(Role.SERVICE)
        or principal.may_act_in_hall(application.collect_hall)
        or principal.may_act_in_hall(application.hall)
    ):
        raise NotFound(f"application {application_id} is not known here")
    return await readthrough.staged(session, backbone.outbox_table, key=application_id, types=["approval.decided"])
