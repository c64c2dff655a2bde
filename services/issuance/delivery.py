"""Delivery: scanning the receipt, hand-over at an issuance window, transfer between halls, posting by mail."""

import hmac
import re
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.issuance import notify, repository
from services.issuance.deps import IssuanceDeps, emit
from services.issuance.models import Application, Result
from shared.auth import Principal
from shared.events.licences import ResultCollected, ResultTransferred
from shared.problems import Conflict, DomainError, FieldError, Forbidden, NotFound, Unprocessable


class NotReady(DomainError):
    status, code, title = 409, "not_ready", "Results are not ready"


class AlreadyCollected(DomainError):
    status, code, title = 409, "already_collected", "Results were already handed over"


class WrongHall(DomainError):
    status, code, title = 409, "wrong_hall", "Not the collection hall"


async def find_for_pickup(
    session: AsyncSession, *, tracking_code: str, hall: str, principal: Principal
) -> Application:
    """The application behind a scanned receipt, for a clerk working in ``hall``."""
    principal.check_hall(hall)
    app = await repository.by_tracking_code(session, tracking_code)
    if app is None:
        raise NotFound("no application with this tracking code")
    return app


async def results_of(session: AsyncSession, *, application_id: str) -> list[Result]:
    """The application's results (one per item, in item order), as the issuance window shows them."""
    return await repository.results_of(session, application_id)


_TRACKING_CODE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def tracking_code_from_qr(qr: str) -> str:
    """The tracking code in a scanned receipt QR (``https://…/progress/<code>`` or the bare code)."""
    code = qr.strip().split("?", 1)[0].split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    if not _TRACKING_CODE.match(code):
        raise Unprocessable(
            "the scanned code is not a receipt QR",
            errors=[FieldError(field="qr", message="no tracking code in the scanned text")],
        )
    return code


def _pickup_halls(app: Application) -> set[str]:
    """Where results may be handed over: the collection hall; for on-the-spot matters also where accepted."""
    halls = {app.collect_hall}
    if app.on_the_spot and app.hall:
        halls.add(app.hall)
    return halls


def _check_deliverable(app: Application) -> None:
    if app.status in ("collected", "mailed"):
        raise AlreadyCollected(
            f"the results were already {'handed over' if app.status == 'collected' else 'mailed'}",
            collected_at=app.collected_at.isoformat() if app.collected_at else None,
        )
    if app.status != "ready":
        raise NotReady("the results are not ready yet: some items are still being decided")


def _check_identity(app: Application, id_check: str) -> None:
    given, holder = id_check.upper(), app.applicant_id.upper()
    ok = hmac.compare_digest(given, holder) if len(given) >= len(holder) else holder.endswith(given)
    if not ok:
        raise Unprocessable(
            "the identity document does not match the holder",
            errors=[
                FieldError(field="id_check", message="does not match the holder's ID number or credit code")
            ],
        )


async def hand_over(
    session: AsyncSession,
    *,
    tracking_code: str,
    hall: str,
    id_check: str,
    window: str | None,
    principal: Principal,
    deps: IssuanceDeps,
) -> Application:
    """Hand the results over at an issuance window, once; a concurrent second pickup gets 409."""
    app = await find_for_pickup(session, tracking_code=tracking_code, hall=hall, principal=principal)
    _check_deliverable(app)
    if hall not in _pickup_halls(app):
        raise WrongHall(
            f"the results wait at hall {app.collect_hall}; transfer them first to collect here",
            collect_hall=app.collect_hall,
        )
    _check_identity(app, id_check)
    now = datetime.now(UTC)
    claimed = await repository.claim_for_delivery(
        session,
        application_id=app.application_id,
        values={
            "status": "collected",
            "collected_at": now,
            "collected_hall": hall,
            "collected_by": principal.sub,
            "collected_window": window,
            "delivery_method": "pickup",
        },
    )
    if not claimed:
        raise AlreadyCollected("the results were just handed over at another window")
    results = await repository.results_of(session, app.application_id)
    await emit(
        session,
        ResultCollected(
            application_id=app.application_id,
            method="pickup",
            hall=hall,
            at=now,
            item_ids=[r.item_id for r in results],
            licence_nos=[r.document_no for r in results if r.kind == "licence" and r.document_no],
        ),
        app=app,
        deps=deps,
        hall=hall,
    )
    await session.refresh(app)
    return app


async def transfer(
    session: AsyncSession, *, tracking_code: str, to_hall: str, principal: Principal, deps: IssuanceDeps
) -> Application:
    """Move the results to another hall's issuance window (clerk of either hall)."""
    app = await repository.by_tracking_code(session, tracking_code)
    if app is None:
        raise NotFound("no application with this tracking code")
    if not (principal.may_act_in_hall(app.collect_hall) or principal.may_act_in_hall(to_hall)):
        raise Forbidden(f"not allowed in hall {app.collect_hall} or {to_hall}")
    app = await repository.lock_application(session, app.application_id)
    assert app is not None
    if app.status in ("collected", "mailed"):
        raise AlreadyCollected("the results were already handed over")
    if to_hall == app.collect_hall:
        raise Conflict(f"the results already wait at hall {to_hall}")
    from_hall, now = app.collect_hall, datetime.now(UTC)
    app.transferred_from, app.collect_hall = from_hall, to_hall
    await session.flush()
    await emit(
        session,
        ResultTransferred(application_id=app.application_id, from_hall=from_hall, to_hall=to_hall, at=now),
        app=app,
        deps=deps,
        hall=to_hall,
    )
    if app.status == "ready":
        await notify.request(
            session,
            app=app,
            template="result_transferred",
            params={"application_no": app.application_no, "collect_hall": to_hall},
            now=now,
            deps=deps,
        )
    return app


async def mail(
    session: AsyncSession,
    *,
    tracking_code: str,
    hall: str,
    carrier: str,
    tracking_no: str,
    address: str | None,
    principal: Principal,
    deps: IssuanceDeps,
) -> Application:
    """Post the results from the collection hall with a tracking number, once."""
    app = await find_for_pickup(session, tracking_code=tracking_code, hall=hall, principal=principal)
    _check_deliverable(app)
    if hall != app.collect_hall:
        raise WrongHall(f"the results wait at hall {app.collect_hall}", collect_hall=app.collect_hall)
    now = datetime.now(UTC)
    claimed = await repository.claim_for_delivery(
        session,
        application_id=app.application_id,
        values={
            "status": "mailed",
            "collected_at": now,
            "collected_hall": hall,
            "collected_by": principal.sub,
            "delivery_method": "mail",
            "carrier": carrier,
            "mail_tracking_no": tracking_no.upper(),
            "mail_address": address,
        },
    )
    if not claimed:
        raise AlreadyCollected("the results were just handed over or mailed")
    results = await repository.results_of(session, app.application_id)
    await emit(
        session,
        ResultCollected(
            application_id=app.application_id,
            method="mail",
            hall=hall,
            tracking_no=tracking_no.upper(),
            carrier=carrier,
            at=now,
            item_ids=[r.item_id for r in results],
            licence_nos=[r.document_no for r in results if r.kind == "licence" and r.document_no],
        ),
        app=app,
        deps=deps,
        hall=hall,
    )
    await notify.request(
        session,
        app=app,
        template="result_mailed",
        params={"application_no": app.application_no, "carrier": carrier, "tracking_no": tracking_no.upper()},
        now=now,
        deps=deps,
    )
    await session.refresh(app)
    return app
