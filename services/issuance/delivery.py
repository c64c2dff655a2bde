"""Delivery: scanning the receipt, hand-over at an issuance window, transfer between halls, posting by mail.

Only the windows of the hall where the results wait may read, hand over or post them (for on-the-spot
matters also the accepting hall); a transfer is asked for by the holder or by that hall; the collector
proves who they are with something the pickup screen never shows: the full ID number (typed or read
from the ID card) or a one-time pickup code sent to the holder (docs/issuance.md, "Identity at hand-over").
"""

import asyncio
import hashlib
import hmac
import math
import re
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.issuance import notify, repository
from services.issuance.deps import IssuanceDeps, emit
from services.issuance.models import Application, PickupCheck, Result
from shared.auth import Principal, Role
from shared.events.licences import ResultCollected, ResultTransferred
from shared.privacy import mask_mobile
from shared.problems import Conflict, DomainError, FieldError, NotFound, Unprocessable

PICKUP_CODE_DIGITS = 6
_SCRYPT = {"n": 2**12, "r": 8, "p": 1, "dklen": 32}  # a 6-digit code lives 10 minutes: cheap but not free


class NotReady(DomainError):
    status, code, title = 409, "not_ready", "Results are not ready"


class AlreadyCollected(DomainError):
    status, code, title = 409, "already_collected", "Results were already handed over"


class WrongHall(DomainError):
    status, code, title = 403, "wrong_hall", "Not the collection hall"


class TooManyChecks(DomainError):
    status, code, title = 429, "too_many_checks", "Too many identity checks"


class TooManyPickupCodes(DomainError):
    status, code, title = 429, "too_many_pickup_codes", "Too many pickup codes"


async def find_for_pickup(
    session: AsyncSession, *, tracking_code: str, hall: str, principal: Principal, lock: bool = False
) -> Application:
    """The application behind a scanned receipt, for a clerk at a window of ``hall``: only where its
    results may be handed over; elsewhere 403 ``wrong_hall`` naming the collection hall and nothing else.
    ``lock``: row-locked for the rest of the transaction (identity checks of one pickup run one at a time)."""
    principal.check_hall(hall)
    app = await repository.by_tracking_code(session, tracking_code)
    if app is None:
        raise NotFound("no application with this tracking code")
    if hall not in pickup_halls(app):
        raise WrongHall(
            f"the results wait at hall {app.collect_hall}: only its issuance windows may read, hand over or "
            "post them; the holder or that hall may transfer them here",
            collect_hall=app.collect_hall,
        )
    if lock:
        locked = await repository.lock_application(session, app.application_id)
        assert locked is not None
        return locked
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


def pickup_halls(app: Application) -> tuple[str, ...]:
    """Where results may be handed over: the collection hall; for on-the-spot matters also where accepted."""
    return (app.collect_hall, app.hall) if app.on_the_spot and app.hall else (app.collect_hall,)


def _check_deliverable(app: Application) -> None:
    if app.status in ("collected", "mailed"):
        raise AlreadyCollected(
            f"the results were already {'handed over' if app.status == 'collected' else 'mailed'}",
            collected_at=app.collected_at.isoformat() if app.collected_at else None,
        )
    if app.status != "ready":
        raise NotReady("the results are not ready yet: some items are still being decided")


def pickup_code_hash(code: str, *, salt: str, application_id: str) -> str:
    """The stored form of a pickup code: hex scrypt(code, salt + application id)."""
    digest = hashlib.scrypt(code.encode(), salt=(salt + application_id).encode(), **_SCRYPT)
    return digest.hex()


class IdentityCheckFailed(Unprocessable):
    """A failed identity check at hand-over: what the request wrote (the failed check, the spent try) is
    kept, the request's transaction commits with this 422 (``keeps_writes``)."""

    keeps_writes = True


async def _record_failure(session: AsyncSession, *, values: dict[str, object], spend_code_try: bool) -> None:
    """Write a failed check (and count a wrong try of the pickup code) in the request's transaction, which
    commits although the answer is a 422 (``IdentityCheckFailed.keeps_writes``). The application's row lock is held,
    so checks of one pickup never overlap and the lock-out cannot be raced."""
    await repository.add_pickup_check(session, values=values)
    if spend_code_try:
        await repository.spend_pickup_code_try(session, application_id=str(values["application_id"]))


async def _over_budget(
    session: AsyncSession, *, app: Application, methods: tuple[str, ...], outcome: str, window: timedelta,
    limit: int, now: datetime,
) -> tuple[int, int | None]:
    """How many pickup checks of ``methods`` with ``outcome`` fell in the last ``window``, and, when that is
    ``limit`` or more, the seconds until the oldest of them leaves it (else None)."""
    count, oldest = await repository.count_pickup_checks(
        session, application_id=app.application_id, since=now - window, methods=methods, outcome=outcome
    )
    if count < limit or oldest is None:
        return count, None
    return count, max(1, math.ceil((oldest + window - now).total_seconds()))


async def _check_lockout(session: AsyncSession, *, app: Application, now: datetime, deps: IssuanceDeps) -> None:
    settings = deps.settings
    failed, wait = await _over_budget(
        session, app=app, methods=("id_number", "pickup_code"), outcome="failed",
        window=timedelta(seconds=settings.pickup_check_window_seconds), limit=settings.pickup_check_max_failures,
        now=now,
    )
    if wait is not None:
        raise TooManyChecks(
            f"{failed} identity checks of this pickup failed in the last "
            f"{settings.pickup_check_window_seconds // 60} minutes; hand-over is blocked for now",
            retry_after=wait,
        )


async def _check_identity(
    session: AsyncSession,
    *,
    app: Application,
    hall: str,
    id_number: str | None,
    pickup_code: str | None,
    principal: Principal,
    now: datetime,
    deps: IssuanceDeps,
) -> None:
    """The collector is the holder: the full ID number / credit code, or the live pickup code (a wrong
    try counted). A failure is recorded (``_record_failure``) and is a 422 on the field; after
    ``pickup_check_max_failures`` within the window, 429 with Retry-After. Passing is recorded here."""
    await _check_lockout(session, app=app, now=now, deps=deps)
    method = "id_number" if id_number is not None else "pickup_code"
    check = {"application_id": app.application_id, "method": method, "hall": hall, "clerk": principal.sub, "at": now}
    if id_number is not None:
        if not hmac.compare_digest(id_number.upper().encode(), app.applicant_id.upper().encode()):
            await _record_failure(session, values=check | {"outcome": "failed"}, spend_code_try=False)
            raise IdentityCheckFailed(
                "the identity document does not match the holder",
                errors=[FieldError(field="id_number", message="does not match the holder's ID number or credit code")],
            )
    else:
        assert pickup_code is not None
        code = await repository.get_pickup_code(session, app.application_id)
        if (
            code is None or code.used_at is not None or code.expires_at <= now
            or code.tries >= deps.settings.pickup_code_max_tries
        ):
            await _record_failure(session, values=check | {"outcome": "failed"}, spend_code_try=False)
            raise IdentityCheckFailed(
                "no valid pickup code for these results: send a new one",
                errors=[FieldError(field="pickup_code", message="expired, used, tried out or never sent")],
            )
        expected = await asyncio.to_thread(pickup_code_hash, pickup_code, salt=code.salt,
                                           application_id=app.application_id)  # scrypt: off the event loop
        if not hmac.compare_digest(expected, code.code_hash):
            await _record_failure(session, values=check | {"outcome": "failed"}, spend_code_try=True)
            left = deps.settings.pickup_code_max_tries - code.tries - 1
            raise IdentityCheckFailed(
                "the pickup code is wrong",
                errors=[FieldError(field="pickup_code", message=f"wrong code; {max(0, left)} tries left")],
            )
        await repository.use_pickup_code(session, application_id=app.application_id, now=now)
    await repository.add_pickup_check(session, values=check | {"outcome": "passed"})


async def send_pickup_code(
    session: AsyncSession, *, tracking_code: str, hall: str, principal: Principal, deps: IssuanceDeps
) -> tuple[Application, str, str, datetime]:
    """Send the holder a one-time pickup code (SMS to the known mobile, else a message to their account):
    ``(application, channel, masked recipient, expires_at)``. The code itself is never answered or logged;
    a new one replaces the last; at most ``pickup_code_requests_per_hour`` per application (429)."""
    app = await find_for_pickup(session, tracking_code=tracking_code, hall=hall, principal=principal, lock=True)
    _check_deliverable(app)
    settings, now = deps.settings, datetime.now(UTC)
    sent, wait = await _over_budget(
        session, app=app, methods=("code_request",), outcome="sent", window=timedelta(hours=1),
        limit=settings.pickup_code_requests_per_hour, now=now,
    )
    if wait is not None:
        raise TooManyPickupCodes(f"{sent} pickup codes were sent for these results in the last hour",
                                 retry_after=wait)
    code = f"{secrets.randbelow(10**PICKUP_CODE_DIGITS):0{PICKUP_CODE_DIGITS}d}"
    salt = secrets.token_hex(16)
    expires_at = now + timedelta(seconds=settings.pickup_code_ttl_seconds)
    code_hash = await asyncio.to_thread(pickup_code_hash, code, salt=salt, application_id=app.application_id)
    await repository.put_pickup_code(session, values={
        "application_id": app.application_id, "code_hash": code_hash,
        "salt": salt, "created_at": now, "expires_at": expires_at, "tries": 0, "used_at": None,
        "requested_by": principal.sub,
    })
    await repository.add_pickup_check(session, values={
        "application_id": app.application_id, "method": "code_request", "outcome": "sent", "hall": hall,
        "clerk": principal.sub, "at": now,
    })
    await notify.request(
        session, app=app, template="pickup_code",
        params={"application_no": app.application_no, "code": code, "minutes": settings.pickup_code_ttl_seconds // 60,
                "collect_hall": hall},
        now=now, deps=deps,
    )
    if app.applicant_mobile:
        return app, "sms", mask_mobile(app.applicant_mobile) or "", expires_at
    return app, "app", "", expires_at


async def pickup_checks(session: AsyncSession, *, application_id: str) -> list[PickupCheck]:
    """The pickup's identity checks and code requests, oldest first (who, where, when, outcome)."""
    return await repository.pickup_checks_of(session, application_id)


async def hand_over(
    session: AsyncSession,
    *,
    tracking_code: str,
    hall: str,
    id_number: str | None,
    pickup_code: str | None,
    window: str | None,
    principal: Principal,
    deps: IssuanceDeps,
) -> Application:
    """Hand the results over at an issuance window of the hall where they wait, once, after checking
    the collector's identity; a concurrent second pickup gets 409."""
    app = await find_for_pickup(session, tracking_code=tracking_code, hall=hall, principal=principal, lock=True)
    _check_deliverable(app)
    now = datetime.now(UTC)
    await _check_identity(session, app=app, hall=hall, id_number=id_number, pickup_code=pickup_code,
                          principal=principal, now=now, deps=deps)
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
    """Move the results to another hall's issuance window, at the request of the holder (their own
    applicant token) or of a clerk of the hall where they wait now; the target must be a hall ticketing
    published and has not closed down (422 on ``to_hall``)."""
    app = await repository.by_tracking_code(session, tracking_code)
    if app is None:
        raise NotFound("no application with this tracking code")
    if principal.has(Role.ISSUANCE_CLERK) and principal.may_act_in_hall(app.collect_hall):
        requested_by = "collect_hall"
    elif principal.applicant_id is not None and hmac.compare_digest(principal.applicant_id, app.applicant_id):
        requested_by = "holder"
    elif principal.applicant_id is not None:
        raise NotFound("no application with this tracking code")  # someone else's: not even that it exists
    else:
        raise WrongHall(
            f"the results wait at hall {app.collect_hall}: only the holder or that hall may transfer them",
            collect_hall=app.collect_hall,
        )
    target = await repository.get_hall(session, to_hall)
    if target is None or target.status != "open":
        reason = "unknown hall" if target is None else "the hall has closed down (已撤并)"
        raise Unprocessable(f"results cannot be transferred to {to_hall}: {reason}",
                            errors=[FieldError(field="to_hall", message=reason)])
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
        ResultTransferred(application_id=app.application_id, from_hall=from_hall, to_hall=to_hall, at=now,
                          requested_by=requested_by),
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
