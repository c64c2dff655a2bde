"""Issuance rules: releasing results, signing licences, pickup and mail, revocation, verification.

Service functions flush, never commit; every event goes through the outbox in the caller's
transaction. Events about an application carry the correlation id stored with it, so the whole
flow from ticket to collected licence shares one id even when a clerk's request starts a new one.
"""

import hmac
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from services.issuance import numbers, repository
from services.issuance.config import IssuanceSettings
from services.issuance.models import Application, Licence, Result
from services.issuance.notify import Sender, masked_recipient
from services.issuance.signing import LicenceSigner, canonical_json
from shared.auth import Principal
from shared.events.applications import ApplicationAccepted
from shared.events.approvals import ApprovalDecided, DecisionRevoked
from shared.events.envelope import Event
from shared.events.licences import (
    LicenceIssued,
    LicenceRevoked,
    NotificationRequested,
    ResultCollected,
    ResultReady,
    ResultTransferred,
)
from shared.observability import get_logger
from shared.outbox import Outbox
from shared.privacy import mask_id_number, mask_name
from shared.problems import Conflict, DomainError, FieldError, Forbidden, NotFound, Unprocessable

log = get_logger(__name__)

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


class NotReady(DomainError):
    status, code, title = 409, "not_ready", "Results are not ready"


class AlreadyCollected(DomainError):
    status, code, title = 409, "already_collected", "Results were already handed over"


class AlreadyRevoked(DomainError):
    status, code, title = 409, "already_revoked", "The licence is already revoked"


class WrongHall(DomainError):
    status, code, title = 409, "wrong_hall", "Not the collection hall"


@dataclass
class IssuanceDeps:
    """What issuance rules need besides the session: the outbox, the signing key and the settings."""

    outbox: Outbox
    signer: LicenceSigner
    settings: IssuanceSettings

    def today(self) -> date:
        return datetime.now(ZoneInfo(self.settings.timezone)).date()


async def _emit(
    deps: IssuanceDeps, session: AsyncSession, event: Event, app: Application | None, **kw: Any
) -> None:
    """Stage ``event`` with the application's correlation id (when known)."""
    await deps.outbox.add(session, event, correlation_id=app.correlation_id if app else None, **kw)


# ---- consuming: accepted applications and decisions ----------------------------------------------


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
    if inserted:
        await maybe_release(session, application_id=event.application_id, deps=deps)


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
    for result in results:
        if result.decision == "approved" and result.result_licence_type:
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
        await _emit(deps, session, _issued_event(licence, app), app, hall=app.collect_hall)
    await _emit(
        deps,
        session,
        ResultReady(
            application_id=app.application_id,
            application_no=app.application_no,
            collect_hall=app.collect_hall,
            item_ids=[r.item_id for r in results],
            licence_nos=[lic.licence_no for lic in licences],
            notice_nos=notice_nos,
            denied_item_ids=denied,
            on_the_spot=app.on_the_spot,
            at=now,
        ),
        app,
        hall=app.collect_hall,
    )
    await _notify(
        deps,
        session,
        app,
        template="result_ready",
        params={
            "application_no": app.application_no,
            "collect_hall": app.collect_hall,
            "results": len(results),
            "denied": len(denied),
            "on_the_spot": app.on_the_spot,
        },
        now=now,
    )
    return True


def _licence_data(result: Result) -> dict[str, Any]:
    data = {
        key: value
        for key, value in sorted(result.values.items())
        if key.startswith(_LICENCE_FIELD_PREFIXES) and not any(word in key for word in _NEVER_ON_LICENCE)
    }
    data["matter_name"] = result.matter_name
    return data


def _years_later(start: date, years: int) -> date:
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
    valid_until = _years_later(today, years) - timedelta(days=1) if years else None
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
        "data": _licence_data(result),
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


async def _notify(
    deps: IssuanceDeps,
    session: AsyncSession,
    app: Application,
    *,
    template: str,
    params: dict[str, Any],
    now: datetime,
) -> None:
    """Ask for an SMS (mobile known) or an app message (to the applicant's account)."""
    channel, recipient = ("sms", app.applicant_mobile) if app.applicant_mobile else ("app", app.applicant_id)
    await _emit(
        deps,
        session,
        NotificationRequested(
            notification_id=str(uuid.uuid4()),
            channel=channel,
            recipient=recipient,
            template=template,
            params=params,
            application_id=app.application_id,
            at=now,
        ),
        app,
    )


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
    await _emit(
        deps,
        session,
        LicenceRevoked(
            licence_no=licence.licence_no,
            licence_type=licence.licence_type,
            holder_id=licence.holder_id,
            application_id=licence.application_id,
            reason=reason,
            revoked_at=at,
        ),
        None,
    )
    if app is not None:
        await _notify(
            deps,
            session,
            app,
            template="licence_revoked",
            params={"licence_no": licence.licence_no, "licence_type": licence.licence_type_name},
            now=at,
        )


async def revoke_licence(
    session: AsyncSession, *, licence_no: str, reason: str, principal: Principal, deps: IssuanceDeps
) -> Licence:
    """Revocation by the issuing department (e.g. a post-check outside the approval flow)."""
    formatted = _checked_no(licence_no)
    licence = await repository.get_licence(session, formatted, lock=True)
    if licence is None:
        raise NotFound("no licence with this number in the library")
    principal.check_department(licence.issuing_department)
    if licence.status == "revoked":
        raise AlreadyRevoked(f"licence {licence.licence_no} was revoked on {licence.revoked_at:%Y-%m-%d}")
    await _revoke(session, licence=licence, reason=reason, at=datetime.now(UTC), deps=deps)
    return licence


# ---- notifications -----------------------------------------------------------------------------


async def deliver_notification(
    session: AsyncSession, *, notification: NotificationRequested, sender: Sender
) -> None:
    """Send once per notification id and record it (masked); a sender error makes the bus retry."""
    first = await repository.log_notification(
        session,
        values={
            "notification_id": notification.notification_id,
            "application_id": notification.application_id,
            "channel": notification.channel,
            "recipient_masked": masked_recipient(notification)[:40],
            "template": notification.template,
        },
    )
    if first:
        await sender.send(notification)


# ---- pickup and mail ---------------------------------------------------------------------------


async def find_for_pickup(
    session: AsyncSession, *, tracking_code: str, hall: str, principal: Principal
) -> Application:
    """The application behind a scanned receipt, for a clerk working in ``hall``."""
    principal.check_hall(hall)
    app = await repository.by_tracking_code(session, tracking_code)
    if app is None:
        raise NotFound("no application with this tracking code")
    return app


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
    await _emit(
        deps,
        session,
        ResultCollected(
            application_id=app.application_id,
            method="pickup",
            hall=hall,
            at=now,
            item_ids=[r.item_id for r in results],
            licence_nos=[r.document_no for r in results if r.kind == "licence" and r.document_no],
        ),
        app,
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
    await _emit(
        deps,
        session,
        ResultTransferred(application_id=app.application_id, from_hall=from_hall, to_hall=to_hall, at=now),
        app,
        hall=to_hall,
    )
    if app.status == "ready":
        await _notify(
            deps,
            session,
            app,
            template="result_transferred",
            params={"application_no": app.application_no, "collect_hall": to_hall},
            now=now,
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
    await _emit(
        deps,
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
        app,
        hall=hall,
    )
    await _notify(
        deps,
        session,
        app,
        template="result_mailed",
        params={"application_no": app.application_no, "carrier": carrier, "tracking_no": tracking_no.upper()},
        now=now,
    )
    await session.refresh(app)
    return app


# ---- licence library and verification -----------------------------------------------------------


def _checked_no(text: str) -> str:
    formatted, error = numbers.check_licence_no(text)
    if formatted is None:
        raise Unprocessable(
            f"not a valid licence number: {error}",
            errors=[FieldError(field="licence_no", message=error or "")],
        )
    return formatted


def effective_status(licence: Licence, today: date) -> str:
    """valid | revoked | expired (expiry is a matter of the date, not a stored state)."""
    if licence.status == "revoked":
        return "revoked"
    if licence.valid_until is not None and licence.valid_until < today:
        return "expired"
    return "valid"


def signature_ok(licence: Licence, deps: IssuanceDeps) -> bool | None:
    """Re-check the stored signature with the key that made it; None if that key is not known here."""
    return deps.signer.verify(licence.canonical.encode("utf-8"), licence.signature, kid=licence.key_id)


async def licence_for_verification(session: AsyncSession, *, licence_no: str) -> Licence:
    """A licence by (checked) number: 422 for a malformed or forged number, 404 for an unknown one."""
    licence = await repository.get_licence(session, _checked_no(licence_no))
    if licence is None:
        raise NotFound("no licence with this number in the library")
    return licence


async def licence_for_reader(session: AsyncSession, *, licence_no: str, principal: Principal) -> Licence:
    """The full licence for its holder, its issuing department, issuance clerks and auditors."""
    licence = await licence_for_verification(session, licence_no=licence_no)
    allowed = (
        principal.has("issuance_clerk", "auditor")
        or (principal.applicant_id is not None and principal.applicant_id == licence.holder_id)
        or (principal.has("approver") and principal.may_act_for_department(licence.issuing_department))
    )
    if not allowed:
        raise NotFound("no licence with this number in the library")  # do not confirm it exists
    log.info(
        "licence read", licence_no=licence.licence_no, reader=principal.sub, roles=sorted(principal.roles)
    )
    return licence


async def check_document(
    session: AsyncSession, *, canonical: str, signature: str, deps: IssuanceDeps
) -> dict[str, Any]:
    """Verify a licence file (canonical text + signature) and, if known, report its library status."""
    raw = canonical.encode("utf-8")
    try:
        parsed = json.loads(canonical)
    except ValueError:
        parsed = None
    canonical_form = isinstance(parsed, dict) and canonical_json(parsed) == raw
    kid = parsed.get("key_id") if isinstance(parsed, dict) and isinstance(parsed.get("key_id"), str) else None
    valid = bool(deps.signer.verify(raw, signature, kid=kid))
    out: dict[str, Any] = {"signature_valid": valid, "canonical_form": canonical_form}
    if valid and isinstance(parsed, dict) and isinstance(parsed.get("licence_no"), str):
        licence = await repository.get_licence(session, parsed["licence_no"])
        out["licence_no"] = parsed["licence_no"]
        out["status"] = effective_status(licence, deps.today()) if licence else None
    return out


def verification_view(licence: Licence, deps: IssuanceDeps) -> dict[str, Any]:
    """Only what a verifier needs: type, masked holder, issuer, validity, status, signature check."""
    person = licence.holder_type == "natural_person"
    return {
        "licence_no": licence.licence_no,
        "licence_type": licence.licence_type,
        "licence_type_name": licence.licence_type_name,
        "holder_type": licence.holder_type,
        # an organisation's registered name is public; a person's is not
        "holder_name": mask_name(licence.holder_name) if person else licence.holder_name,
        "holder_id": mask_id_number(licence.holder_id),
        "issuing_department": licence.issuing_department,
        "valid_from": licence.valid_from,
        "valid_until": licence.valid_until,
        "status": effective_status(licence, deps.today()),
        "revoked_at": licence.revoked_at,
        "revocation_reason": licence.revocation_reason,
        "signature_valid": signature_ok(licence, deps),
        "key_id": licence.key_id,
    }


def qr_payload(licence: Licence, deps: IssuanceDeps) -> str:
    """What the licence's QR code encodes: the public verification URL."""
    return f"{deps.settings.public_base_url.rstrip('/')}/verify/{licence.licence_no}"
