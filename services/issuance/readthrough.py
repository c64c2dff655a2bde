"""Read-your-writes at the issuance window: a receipt scanned right after submit or right after the
decision shows what acceptance and approval already did, even before the broker delivered it.

Issuance fetches the staged envelopes (application.accepted from acceptance by tracking code, then
approval.decided from approval) and handles them through its own consumer group (same handlers, same
inbox rows): the results are released and the licence numbers are there on the first scan, and the
later broker deliveries are deduplicated no-ops (docs/issuance.md, "Read-your-writes")."""

from urllib.parse import quote

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.issuance import repository
from shared import readthrough
from shared.observability import get_logger
from shared.problems import DependencyUnavailable

log = get_logger(__name__)

GROUP = "issuance"  # the consumer group whose handlers and inbox apply what is read through


async def catch_up(session: AsyncSession, *, request: Request, tracking_code: str) -> None:
    """Before a scan: read through what issuance has not received about the application (the caller's
    token: acceptance and approval show applications of the clerk's halls). A tracking code issuance does
    not know while acceptance cannot answer is 503 + Retry-After; a pending application while approval
    cannot answer is shown as issuance knows it; released results need neither."""
    runtime, authorization = request.app.state.runtime, request.headers.get("authorization")
    app = await repository.by_tracking_code(session, tracking_code)
    if app is None:
        await readthrough.read_through(
            runtime, session, client=request.app.state.acceptance_client, group=GROUP, path="/accepted-events",
            params={"tracking_code": tracking_code}, authorization=authorization,
        )
        app = await repository.by_tracking_code(session, tracking_code)
    if app is None or app.status != "pending":
        return
    try:
        await readthrough.read_through(
            runtime, session, client=request.app.state.approval_client, group=GROUP,
            path=f"/applications/{quote(app.application_id, safe='')}/decided-events", params={},
            authorization=authorization,
        )
    except DependencyUnavailable:  # "pending" is still true as far as issuance knows: the window sees it
        log.warning("approval unavailable; the scan shows what issuance knows")
