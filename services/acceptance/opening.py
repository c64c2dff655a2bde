"""Opening drafts for a matter, a bundle or a called ticket, prefilled from forms (and prefilled again later)."""

from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.acceptance import access, editing, read_models, rules
from services.acceptance import repository as repo
from services.acceptance.clients import Prefill, TicketingClient, TicketingUnavailable
from services.acceptance.models import Application, ApplicationItem, CalledTicket
from services.acceptance.schemas import ApplicationOpen
from shared.auth import Principal
from shared.events.envelope import uuid7
from shared.problems import Conflict, DomainError, FieldError, Forbidden, Unprocessable
from shared.validators import VALIDATORS


class ServiceUnavailable(DomainError):
    """A dependency (forms) is unavailable; the caller may retry later or go on by hand."""

    status, code, title = 503, "dependency_unavailable", "Dependency unavailable"


TICKETING_RETRY_AFTER = 2  # seconds: ticketing restarts or its short outage passes; the event may arrive meanwhile


async def already_opened(
    session: AsyncSession, *, principal: Principal, idempotency_key: str
) -> Application | None:
    """The draft this caller already opened with this ``Idempotency-Key`` (access checked), if any."""
    existing = await repo.get_by_idempotency_key(session, created_by=principal.sub, key=idempotency_key)
    if existing is not None:
        access.check(principal, existing)
    return existing


async def resolve_target(
    session: AsyncSession,
    *,
    principal: Principal,
    body: ApplicationOpen,
    tickets: TicketingClient | None = None,
    authorization: str | None = None,
) -> tuple[str | None, str | None, str | None]:
    """Check who may open what, and the applicant's identifier; returns (matter, bundle, ticket correlation id).

    A ticket acceptance has not heard called yet is read through from ticketing (``tickets``, with the
    caller's ``authorization``), so the clerk's first try right after call-next works."""
    if access.is_applicant(principal):
        if body.channel != "web" or body.ticket_id:
            raise Forbidden("applicants apply online (channel web), without a ticket")
        if body.applicant.id_number != principal.applicant_id:
            raise Forbidden("applicants apply for themselves only")
    else:
        principal.check_hall(body.hall)
    _check_applicant(body)  # before forms is asked about this identifier
    matter, bundle, correlation = body.matter, body.bundle, None
    if body.ticket_id:
        ticket = await repo.get_ticket(session, ticket_id=body.ticket_id)
        if ticket is None and tickets is not None:
            ticket = await _read_through_ticket(
                session, tickets=tickets, authorization=authorization, ticket_id=body.ticket_id
            )
        if ticket is None:
            raise Unprocessable(
                "the ticket has not been called",
                errors=[FieldError(field="ticket_id", message="no called ticket")],
            )
        if ticket.hall != body.hall:
            raise Unprocessable(
                "the ticket belongs to another hall",
                errors=[FieldError(field="ticket_id", message=f"was called in hall {ticket.hall}")],
            )
        correlation = ticket.correlation_id
        if not (matter or bundle):
            matter = ticket.matter_code
    await _check_target(session, body=body, matter=matter, bundle=bundle)  # before forms is asked
    return matter, bundle, correlation


async def _read_through_ticket(
    session: AsyncSession, *, tickets: TicketingClient, authorization: str | None, ticket_id: str
) -> CalledTicket | None:
    """Ask ticketing about a ticket whose ``ticket.called`` has not arrived; record a called one exactly as
    the event will (the same upsert, so the event changes nothing later). 503 + Retry-After if ticketing
    cannot answer; None if it was not called (or is not the caller's to see)."""
    try:
        call = await tickets.called_ticket(authorization=authorization, ticket_id=ticket_id)
    except TicketingUnavailable as exc:
        raise ServiceUnavailable(
            f"cannot check the ticket with ticketing: {exc}; retry shortly", retry_after=TICKETING_RETRY_AFTER
        ) from exc
    if call is None:
        return None
    await read_models.record_called_ticket(session, event=call.event, correlation_id=call.correlation_id)
    return await repo.get_ticket(session, ticket_id=ticket_id)


async def open_application(
    session: AsyncSession,
    *,
    principal: Principal,
    body: ApplicationOpen,
    application_id: str,
    matter_code: str | None,
    bundle_code: str | None,
    prefill: Prefill,
    correlation_id: str | None,
    now: datetime,
    idempotency_key: str | None = None,
) -> Application:
    """A draft with the prefilled form, licence-satisfied materials checked off and verified values locked
    (``PREFILL_PENDING``: an empty form that ``fill_opened`` fills once the draft is committed).

    ``correlation_id`` names the flow: the called ticket's, or the caller's own; else the application id.
    """
    bundle = None
    if bundle_code:
        bundle = await repo.get_bundle(session, code=bundle_code)
        if bundle is None:
            raise Unprocessable(
                "unknown bundle", errors=[FieldError(field="bundle", message="is not in the catalogue")]
            )
        codes = list(bundle.matters)
    else:
        codes = [matter_code or ""]
    matters = await repo.get_matters(session, codes=codes)
    unknown = [c for c in codes if c not in matters]
    if unknown:
        field = "bundle" if bundle else "matter"
        raise Unprocessable(
            f"unknown matter {', '.join(unknown)}",
            errors=[FieldError(field=field, message=f"matter {', '.join(unknown)} is not in the catalogue")],
        )
    field_keys: list[str] = []
    for code in codes:
        field_keys += [k for k in matters[code].fields if k not in field_keys]
    values, locked, hints, licences = _from_prefill(prefill, field_keys=field_keys)
    app = Application(
        id=application_id,
        status="draft",
        channel=body.channel,
        hall=body.hall,
        collect_hall=body.collect_hall or body.hall,
        ticket_id=body.ticket_id,
        matter_code=None if bundle else codes[0],
        bundle_code=bundle.code if bundle else None,
        title=bundle.name if bundle else matters[codes[0]].name,
        catalog_version=max(
            [bundle.catalog_version if bundle else 0] + [matters[c].catalog_version for c in codes]
        ),
        applicant_type=body.applicant.type,
        applicant_id=body.applicant.id_number,
        applicant_name=body.applicant.name,
        applicant_mobile=body.applicant.mobile,
        field_keys=field_keys,
        values=values,
        locked=locked,
        prefill={
            "degraded": prefill.degraded,
            "reason": prefill.reason,
            "fields": hints,
            "catalog_version": prefill.catalog_version,
        },
        degraded=prefill.degraded,
        presented=[],
        licences=licences,
        created_by=principal.sub,
        idempotency_key=idempotency_key,
        correlation_id=correlation_id or application_id,
    )
    session.add(app)
    try:
        await session.flush()
    except IntegrityError as exc:  # the same Idempotency-Key raced in from another request
        raise Conflict("a request with this Idempotency-Key is already being handled; retry") from exc
    if body.ticket_id and (ticket := await repo.get_ticket(session, ticket_id=body.ticket_id)) is not None:
        ticket.application_id = app.id  # the latest application opened from this ticket
    needs = rules.bundle_needs(codes, members=list(bundle.members or []), matters=matters) if bundle else {}
    for position, code in enumerate(codes):
        snapshot = rules.matter_snapshot(matters[code])
        if code in needs:  # what this member takes from an earlier member of the bundle (never asked for)
            snapshot["bundle_needs"] = needs[code]["needs"]
            snapshot["parallel"] = needs[code]["parallel"]
        session.add(
            ApplicationItem(
                id=str(uuid7()),
                application_id=app.id,
                position=position,
                matter_code=code,
                matter_name=snapshot["name"],
                department=snapshot["department"],
                matter=snapshot,
                status="draft",
                materials=rules.check_materials(
                    snapshot, presented=set(), licences=licences, committed=set()
                ),
                licence_nos=[],
            )
        )
    note = "degraded: form filled by hand" if prefill.degraded and prefill is not PREFILL_PENDING else None
    await repo.add_history(
        session, application_id=app.id, status="draft", at=now, source="acceptance", note=note
    )
    await session.flush()
    return app


# The prefill of a draft being opened: forms is asked once the draft is committed (fill_opened).
PREFILL_PENDING = Prefill(degraded=True, reason="prefill pending")


async def fill_opened(session: AsyncSession, *, application_id: str, prefill: Prefill) -> Application:
    """Second step of opening: the draft, committed first so that forms could check it as the clerk's
    reason to read the applicant's profile (docs/acceptance.md, "Opening"), gets what forms answered; a
    degraded answer leaves it to be typed by hand (and prefilled again later)."""
    app = await access.load(session, application_id=application_id, lock=True)
    values, locked, hints, licences = _from_prefill(prefill, field_keys=app.field_keys)
    app.values, app.locked, app.licences = values, locked, licences
    app.prefill = {
        "degraded": prefill.degraded,
        "reason": prefill.reason,
        "fields": hints,
        "catalog_version": prefill.catalog_version,
    }
    app.degraded = prefill.degraded
    items = await repo.get_items(session, application_id=app.id)
    editing.recheck(app, items, committed=set())
    if prefill.degraded:  # the opening's own history entry says so (as when it was one transaction)
        await repo.note_history(session, application_id=app.id, status="draft", note="degraded: form filled by hand")
    await session.flush()
    return app


def _from_prefill(
    prefill: Prefill, *, field_keys: list[str]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, dict[str, Any]], dict[str, str]]:
    """Values, locked (verified, not editable) values, field hints and licence-satisfied materials."""
    values: dict[str, Any] = {}
    locked: dict[str, Any] = {}
    hints: dict[str, dict[str, Any]] = {}
    for f in prefill.fields:
        key = f["key"]
        if key not in field_keys:
            continue
        hints[key] = {
            "source": f.get("source"),
            "verified": bool(f.get("verified")),
            "type": f.get("type"),
            "validator": f.get("validator"),
            "required": f.get("required") if isinstance(f.get("required"), bool) else True,
        }
        if f.get("value") not in (None, "", []):
            values[key] = f["value"]
            if f.get("verified") and f.get("editable") is not True:
                locked[key] = f["value"]
    licences = {m["code"]: str(m.get("licence_no") or "") for m in prefill.materials if m.get("satisfied")}
    return values, locked, hints, licences


async def refresh_prefill(
    session: AsyncSession, *, principal: Principal, application_id: str, prefill: Prefill, now: datetime
) -> Application:
    """Prefill a draft again (forms is back): verified values replace typed ones and lock; typed values
    stay where forms knows nothing better; licences check off their materials."""
    app = await access.load(session, application_id=application_id, lock=True)
    access.check(principal, app, write=True)
    if app.status not in rules.EDITABLE:
        raise Conflict(f"application is {app.status}; only drafts are prefilled")
    if prefill.degraded:
        raise ServiceUnavailable(f"forms is still unavailable: {prefill.reason}")
    values, locked, hints, licences = _from_prefill(prefill, field_keys=app.field_keys)
    merged = dict(app.values)
    for key, value in values.items():
        if key in locked or merged.get(key) in (None, "", []):
            merged[key] = value
    app.values, app.locked, app.licences = merged, locked, licences
    app.prefill = {
        **app.prefill,
        "degraded": False,
        "reason": None,
        "fields": hints,
        "catalog_version": prefill.catalog_version,
    }
    app.degraded = False
    items = await repo.get_items(session, application_id=app.id)
    editing.recheck(app, items, committed=set())
    await repo.add_history(session, application_id=app.id, status="prefilled", at=now, source="acceptance")
    await session.flush()
    return app


# What the catalogue's applicant_type values mean; any other value (none today) restricts nobody.
APPLICANT_TYPES = {"natural_person": "自然人", "legal_person": "法人或其他组织"}


async def _check_target(
    session: AsyncSession, *, body: ApplicationOpen, matter: str | None, bundle: str | None
) -> None:
    """The matter (every member of a bundle) accepts this type of applicant, and the halls are usable;
    one 422 with every error, before anything is stored or forms is asked about the applicant."""
    errors = await _applicant_type_errors(session, applicant_type=body.applicant.type, matter=matter, bundle=bundle)
    errors += await read_models.collect_hall_errors(session, hall=body.hall, collect_hall=body.collect_hall)
    if errors:
        raise Unprocessable("; ".join(e.message for e in errors)[:1000], errors=errors)


async def _applicant_type_errors(
    session: AsyncSession, *, applicant_type: str, matter: str | None, bundle: str | None
) -> list[FieldError]:
    """One error per matter that does not accept ``applicant_type`` (a company cannot open 失业登记).
    Unknown codes are left to ``open_application``, which names them."""
    title = ""
    codes = [matter] if matter else []
    members: list[dict[str, Any]] = []
    if bundle:
        row = await repo.get_bundle(session, code=bundle)
        if row is None:
            return []
        title, codes, members = f"{row.name} ({row.code}) 中的", list(row.matters), list(row.members or [])
    matters = await repo.get_matters(session, codes=codes)
    # In a bundle, a member that needs an earlier member's result (the business licence of the shop being
    # set up) is applied for by what that member creates: 开办美容院 is opened by a person, and its health
    # permit is the new 个体工商户's. Only the members that stand on their own are checked.
    on_behalf = (
        {c for c, need in rules.bundle_needs(codes, members=members, matters=matters).items() if need["needs"]}
        if bundle and all(c in matters for c in codes)
        else set()
    )
    errors = []
    for code in codes:
        found = matters.get(code)
        if found is None or found.applicant_type not in APPLICANT_TYPES or found.applicant_type == applicant_type:
            continue
        if code in on_behalf:
            continue
        errors.append(FieldError(
            field="applicant.type",
            message=f"{title}{found.name} ({found.code}) 仅受理{APPLICANT_TYPES[found.applicant_type]}申请",
            type="applicant_type_not_accepted",
        ))
    return errors


def _check_applicant(body: ApplicationOpen) -> None:
    applicant = body.applicant
    check = VALIDATORS["GB11643"] if applicant.type == "natural_person" else VALIDATORS["GB32100"]
    errors = []
    if problem := check(applicant.id_number):
        errors.append(FieldError(field="applicant.id_number", message=problem, type="invalid_identifier"))
    if applicant.mobile and (problem := VALIDATORS["CN_MOBILE"](applicant.mobile)):
        errors.append(FieldError(field="applicant.mobile", message=problem, type="CN_MOBILE"))
    if errors:
        raise rules.InvalidForm("the applicant's identity is invalid", errors=errors)
