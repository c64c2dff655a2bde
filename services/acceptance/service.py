"""Acceptance rules: open (with prefill), check materials, accept / notify / commit / refuse, follow status.

Service functions flush, never commit; events go through the outbox in the caller's transaction.
"""

import secrets
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.acceptance import repository as repo
from services.acceptance.clients import Prefill
from services.acceptance.models import Application, ApplicationItem, Matter
from services.acceptance.schemas import (
    ApplicationOpen,
    ApplicationUpdate,
    CommitmentIn,
    RefuseIn,
    SubmitIn,
    SupplementIn,
)
from shared import context
from shared.auth import Principal, Role
from shared.events.applications import (
    AcceptedItem,
    Applicant,
    ApplicationAccepted,
    ApplicationRefused,
    ApplicationSupplemented,
    Commitment,
    MaterialState,
)
from shared.events.envelope import uuid7
from shared.outbox import Outbox
from shared.problems import Conflict, DomainError, FieldError, Forbidden, NotFound, Unprocessable
from shared.validators import VALIDATORS
from shared.workdays import WorkCalendar, default_calendar

EDITABLE = ("draft", "submitted")
BEFORE_ACCEPTANCE = ("draft", "submitted", "pending_supplement")
AFTER_ACCEPTANCE = ("accepted", "in_approval", "supplement_requested", "approved", "partly_approved")
DONE_ITEM = ("approved", "denied", "licence_issued", "revoked")
_RANK = {"accepted": 0, "in_approval": 1, "supplement_requested": 1, "approved": 2, "denied": 2,
         "licence_issued": 3, "revoked": 4}


class InvalidForm(DomainError):
    """Form values that fail validation: one error per field; nothing is stored."""

    status, code, title = 422, "invalid_form", "Invalid form values"


# ---- pure rules -----------------------------------------------------------------------------


def promised_date(*, accepted_on: date, working_days: int, calendar: WorkCalendar | None = None) -> date:
    """Promised completion: ``working_days`` working days after acceptance; 0 = the acceptance day
    itself (or the next working day when accepted on a day off)."""
    return (calendar or default_calendar()).add_working_days(accepted_on, working_days)


def validator_for(key: str, hints: dict[str, str]) -> str | None:
    """The validator of a field: what forms said about it, else inferred from well-known keys."""
    if hints.get(key):
        return hints[key]
    leaf = key.rsplit(".", 1)[-1]
    if leaf.endswith("id_number"):
        return "GB11643"
    if leaf in ("uscc", "credit_code") or leaf.endswith("_uscc"):
        return "GB32100"
    if leaf.endswith("mobile"):
        return "CN_MOBILE"
    if leaf.endswith("email"):
        return "EMAIL"
    if leaf.endswith("_date"):
        return "date"
    return None


def check_type(value: Any, type_: str | None) -> str | None:
    """Check a value against a field-dictionary type (string, text, integer, decimal, date, enum:, multi:)."""
    if type_ is None or value is None:
        return None
    if type_ in ("string", "text"):
        return None if isinstance(value, str) and len(value) <= 4000 else "must be text (at most 4000 characters)"
    if type_ == "integer":
        ok = (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, str) and value.isdigit())
        return None if ok else "must be a whole number"
    if type_ == "decimal":
        try:
            float(value)
        except (TypeError, ValueError):
            return "must be a number"
        return None if not isinstance(value, bool) else "must be a number"
    if type_ == "date":
        return VALIDATORS["date"](value)
    if type_.startswith("enum:"):
        options = type_[5:].split(",")
        return None if value in options else f"must be one of: {', '.join(options)}"
    if type_.startswith("multi:"):
        options = type_[6:].split(",")
        if not isinstance(value, list) or any(v not in options for v in value):
            return f"must be a list of: {', '.join(options)}"
    return None


def validate_values(
    values: dict[str, Any], *, field_keys: list[str], hints: dict[str, dict[str, Any]], locked: dict[str, Any]
) -> list[FieldError]:
    """Field-level errors of ``values``: unknown keys, locked (verified) values changed, bad values."""
    errors: list[FieldError] = []
    known = set(field_keys)
    validators = {k: h.get("validator") for k, h in hints.items() if h.get("validator")}
    for key, value in values.items():
        where = f"values.{key}"
        if key not in known:
            errors.append(FieldError(field=where, message="is not a field of this application", type="unknown_field"))
            continue
        if key in locked and value != locked[key]:
            errors.append(
                FieldError(field=where, message="is verified from a licence or registry and cannot be changed",
                           type="locked_field")
            )
            continue
        if value is None or value == "" or value == []:
            continue
        if not isinstance(value, (str, int, float, bool, list)):
            errors.append(FieldError(field=where, message="must be text, a number or a list", type="type_error"))
            continue
        problem = check_type(value, hints.get(key, {}).get("type"))
        name = validator_for(key, validators)
        if problem is None and name in VALIDATORS:
            problem = VALIDATORS[name](value if name == "date" else str(value))
        if problem:
            errors.append(FieldError(field=where, message=problem, type=name or "value_error"))
    return errors


def missing_fields(app: Application) -> list[str]:
    """Required fields of the application's matters that have no value yet (all, unless forms said otherwise)."""
    hints = app.prefill.get("fields", {})
    return [
        k for k in app.field_keys
        if app.values.get(k) in (None, "", []) and hints.get(k, {}).get("required", True)
    ]


def check_materials(
    matter: dict[str, Any], *, presented: set[str], licences: dict[str, str], committed: set[str]
) -> list[dict[str, Any]]:
    """The state of each material of one matter: present, licence, committed, missing or not_provided."""
    states = []
    for m in matter.get("materials", []):
        code = m["code"]
        committable = bool(m.get("tolerable_missing")) or bool(matter.get("notify_commit_approval"))
        if code in presented:
            status = "present"
        elif code in licences:
            status = "licence"
        elif code in committed and committable:
            status = "committed"
        else:
            status = "missing" if m.get("required", True) else "not_provided"
        states.append(
            {
                "code": code,
                "name": m.get("name", code),
                "required": m.get("required", True),
                "tolerable_missing": committable,
                "status": status,
                "licence_no": licences.get(code) if status == "licence" else None,
            }
        )
    return states


def matter_snapshot(matter: Matter) -> dict[str, Any]:
    """The matter as stored with an item: the application keeps its catalogue version's rules."""
    return {
        "code": matter.code,
        "name": matter.name,
        "department": matter.department,
        "department_name": matter.department_name,
        "catalog_version": matter.catalog_version,
        "materials": matter.materials,
        "fields": matter.fields,
        "legal_limit_working_days": matter.legal_limit_working_days,
        "promised_limit_working_days": matter.promised_limit_working_days,
        "on_the_spot": matter.on_the_spot,
        "notify_commit_approval": matter.notify_commit_approval,
        "result_licence_type": matter.result_licence_type,
        "steps": matter.steps,
    }


# ---- access ---------------------------------------------------------------------------------


def check_access(principal: Principal, app: Application, *, write: bool = False) -> None:
    """Staff act in the accepting or collecting hall; applicants only on their own applications."""
    if principal.applicant_id is not None and not principal.has(Role.CLERK, Role.HALL_ADMIN, Role.ISSUANCE_CLERK):
        if principal.applicant_id != app.applicant_id:
            raise Forbidden("this application belongs to another applicant")
        if write and app.channel != "web":
            raise Forbidden("applications opened at a window are changed at the window")
        return
    halls = [app.hall] if write else [app.hall, app.collect_hall]
    if not any(principal.may_act_in_hall(h) for h in halls):
        raise Forbidden(f"not allowed in hall {app.hall}")


def _is_applicant(principal: Principal) -> bool:
    return principal.applicant_id is not None and not principal.has(Role.CLERK)


# ---- opening --------------------------------------------------------------------------------


async def resolve_target(
    session: AsyncSession, *, principal: Principal, body: ApplicationOpen
) -> tuple[str | None, str | None, str | None]:
    """Check who may open what, and the applicant's identifier; returns (matter, bundle, ticket correlation id)."""
    if _is_applicant(principal):
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
        if ticket is None:
            raise Unprocessable(
                "the ticket has not been called", errors=[FieldError(field="ticket_id", message="no called ticket")]
            )
        if ticket.hall != body.hall:
            raise Unprocessable(
                "the ticket belongs to another hall",
                errors=[FieldError(field="ticket_id", message=f"was called in hall {ticket.hall}")],
            )
        correlation = ticket.correlation_id
        if not (matter or bundle):
            matter = ticket.matter_code
    return matter, bundle, correlation


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
    """A draft with the prefilled form, licence-satisfied materials checked off and verified values locked."""
    bundle = None
    if bundle_code:
        bundle = await repo.get_bundle(session, code=bundle_code)
        if bundle is None:
            raise Unprocessable("unknown bundle", errors=[FieldError(field="bundle", message="is not in the catalogue")])
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
        catalog_version=max([bundle.catalog_version if bundle else 0] + [matters[c].catalog_version for c in codes]),
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
        correlation_id=correlation_id or context.correlation_id.get() or application_id,
    )
    session.add(app)
    try:
        await session.flush()
    except IntegrityError as exc:  # the same Idempotency-Key raced in from another request
        raise Conflict("a request with this Idempotency-Key is already being handled; retry") from exc
    if body.ticket_id and (ticket := await repo.get_ticket(session, ticket_id=body.ticket_id)) is not None:
        ticket.application_id = app.id  # the latest application opened from this ticket
    for position, code in enumerate(codes):
        snapshot = matter_snapshot(matters[code])
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
                materials=check_materials(snapshot, presented=set(), licences=licences, committed=set()),
                licence_nos=[],
            )
        )
    note = "degraded: form filled by hand" if prefill.degraded else None
    await repo.add_history(session, application_id=app.id, status="draft", at=now, source="acceptance", note=note)
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
    app = await load(session, application_id=application_id, lock=True)
    check_access(principal, app, write=True)
    if app.status not in EDITABLE:
        raise Conflict(f"application is {app.status}; only drafts are prefilled")
    if prefill.degraded:
        raise ServiceUnavailable(f"forms is still unavailable: {prefill.reason}")
    values, locked, hints, licences = _from_prefill(prefill, field_keys=app.field_keys)
    merged = dict(app.values)
    for key, value in values.items():
        if key in locked or merged.get(key) in (None, "", []):
            merged[key] = value
    app.values, app.locked, app.licences = merged, locked, licences
    app.prefill = {**app.prefill, "degraded": False, "reason": None, "fields": hints,
                   "catalog_version": prefill.catalog_version}
    app.degraded = False
    items = await repo.get_items(session, application_id=app.id)
    _recheck(app, items, committed=set())
    await repo.add_history(session, application_id=app.id, status="prefilled", at=now, source="acceptance")
    await session.flush()
    return app


class ServiceUnavailable(DomainError):
    """A dependency (forms) is unavailable; the caller may retry later or go on by hand."""

    status, code, title = 503, "dependency_unavailable", "Dependency unavailable"


def _check_applicant(body: ApplicationOpen) -> None:
    applicant = body.applicant
    check = VALIDATORS["GB11643"] if applicant.type == "natural_person" else VALIDATORS["GB32100"]
    errors = []
    if problem := check(applicant.id_number):
        errors.append(FieldError(field="applicant.id_number", message=problem, type="invalid_identifier"))
    if applicant.mobile and (problem := VALIDATORS["CN_MOBILE"](applicant.mobile)):
        errors.append(FieldError(field="applicant.mobile", message=problem, type="CN_MOBILE"))
    if errors:
        raise InvalidForm("the applicant's identity is invalid", errors=errors)


# ---- editing and the material check ---------------------------------------------------------


async def load(session: AsyncSession, *, application_id: str, lock: bool = False) -> Application:
    """The application or 404."""
    app = await repo.get_application(session, application_id=application_id, lock=lock)
    if app is None:
        raise NotFound(f"application {application_id} does not exist")
    return app


def _apply_changes(app: Application, *, values: dict[str, Any], presented: list[str] | None,
                   all_codes: set[str]) -> None:
    """Validate then merge values and presented materials; raises before changing anything."""
    errors = validate_values(values, field_keys=app.field_keys, hints=app.prefill.get("fields", {}), locked=app.locked)
    if presented is not None:
        errors += [
            FieldError(field=f"presented.{i}", message=f"{code} is not a material of this application",
                       type="unknown_material")
            for i, code in enumerate(presented)
            if code not in all_codes
        ]
    if errors:
        raise InvalidForm("; ".join(f"{e.field}: {e.message}" for e in errors)[:1000], errors=errors)
    if values:
        app.values = {**app.values, **values}
    if presented is not None:
        app.presented = sorted(set(presented))


def _material_codes(items: list[ApplicationItem]) -> set[str]:
    return {m["code"] for item in items for m in item.matter.get("materials", [])}


async def update_draft(
    session: AsyncSession, *, principal: Principal, application_id: str, body: ApplicationUpdate
) -> Application:
    """Save values / presented materials / collect hall on a draft."""
    app = await load(session, application_id=application_id, lock=True)
    check_access(principal, app, write=True)
    if app.status not in EDITABLE:
        raise Conflict(f"application is {app.status}; only drafts are edited")
    items = await repo.get_items(session, application_id=app.id)
    _apply_changes(app, values=body.values, presented=body.presented, all_codes=_material_codes(items))
    if body.collect_hall:
        app.collect_hall = body.collect_hall
    _recheck(app, items, committed=set())
    await session.flush()
    return app


def _recheck(app: Application, items: list[ApplicationItem], *, committed: set[str]) -> None:
    presented = set(app.presented)
    for item in items:
        item.materials = check_materials(item.matter, presented=presented, licences=app.licences, committed=committed)


def _commitment_errors(commitment: CommitmentIn, items: list[ApplicationItem], *, max_days: int) -> list[FieldError]:
    errors = []
    committable = {m["code"] for item in items for m in item.materials if m["tolerable_missing"]}
    missing = {m["code"] for item in items for m in item.materials if m["status"] == "missing"}
    for i, code in enumerate(commitment.materials):
        if code not in missing:
            errors.append(FieldError(field=f"commitment.materials.{i}", message=f"{code} is not missing",
                                     type="not_missing"))
        elif code not in committable:
            errors.append(
                FieldError(field=f"commitment.materials.{i}",
                           message=f"{code} may not be missing on commitment (the catalogue does not allow it)",
                           type="not_tolerable")
            )
    if commitment.deadline_working_days > max_days:
        errors.append(FieldError(field="commitment.deadline_working_days",
                                 message=f"must be at most {max_days} working days", type="too_long"))
    return errors


async def submit(
    session: AsyncSession,
    *,
    principal: Principal,
    outbox: Outbox,
    application_id: str,
    body: SubmitIn,
    now: datetime,
    tz: ZoneInfo,
    max_commitment_days: int,
) -> Application:
    """Check the materials: complete (or covered by a commitment) -> accepted; else a one-time notice."""
    app = await load(session, application_id=application_id, lock=True)
    check_access(principal, app, write=True)
    if app.status not in EDITABLE:
        raise Conflict(f"application is {app.status}; it was already submitted")
    items = await repo.get_items(session, application_id=app.id)
    _apply_changes(app, values=body.values, presented=body.presented, all_codes=_material_codes(items))
    empty = missing_fields(app)
    if empty:
        errors = [FieldError(field=f"values.{k}", message="is required", type="missing") for k in empty]
        raise InvalidForm(f"{len(empty)} required field(s) have no value", errors=errors)
    _recheck(app, items, committed=set())
    if body.commitment is not None:
        errors = _commitment_errors(body.commitment, items, max_days=max_commitment_days)
        if errors:
            raise Unprocessable("the commitment cannot cover these materials", errors=errors)
    if _is_applicant(principal):
        app.status = "submitted"
        await repo.add_history(session, application_id=app.id, status="submitted", at=now, source="acceptance",
                               note="submitted online; waiting for the hall's check")
        await session.flush()
        return app
    return await _check_and_conclude(session, outbox=outbox, app=app, items=items, commitment=body.commitment,
                                     principal=principal, now=now, tz=tz)


async def _check_and_conclude(
    session: AsyncSession,
    *,
    outbox: Outbox,
    app: Application,
    items: list[ApplicationItem],
    commitment: CommitmentIn | None,
    principal: Principal,
    now: datetime,
    tz: ZoneInfo,
) -> Application:
    committed = set(commitment.materials) if commitment else set()
    _recheck(app, items, committed=committed)
    missing = [(item, m) for item in items for m in item.materials if m["status"] == "missing"]
    if missing:
        if app.notice is None:  # one-time: the first notice lists everything; it is never re-issued
            app.notice = _notice(app, items, now=now, tz=tz, clerk=principal.sub)
        app.status = "pending_supplement"
        await repo.add_history(session, application_id=app.id, status="pending_supplement", at=now,
                               source="acceptance", note=f"one-time notice: {len(app.notice['materials'])} material(s)")
        await session.flush()
        return app
    today = now.astimezone(tz).date()
    if commitment is not None:
        deadline = default_calendar().add_working_days(today, commitment.deadline_working_days)
        for item in items:
            covered = [m["code"] for m in item.materials if m["status"] == "committed"]
            if covered:
                item.commitment = {
                    "materials": covered,
                    "deadline": deadline.isoformat(),
                    "signed_at": now.isoformat(),
                    "signatory": commitment.signatory,
                    "signature": commitment.signature,
                    "fulfilled": [],
                }
    await _accept(session, outbox=outbox, app=app, items=items, now=now, today=today)
    return app


def _notice(app: Application, items: list[ApplicationItem], *, now: datetime, tz: ZoneInfo, clerk: str) -> dict[str, Any]:
    """The one-time notice (一次性告知): every missing material of every matter, at once."""
    by_code: dict[str, dict[str, Any]] = {}
    for item in items:
        for m in item.materials:
            if m["status"] == "missing":
                entry = by_code.setdefault(
                    m["code"],
                    {"code": m["code"], "name": m["name"], "matters": [], "may_commit": m["tolerable_missing"]},
                )
                entry["matters"].append(item.matter_code)
                entry["may_commit"] = entry["may_commit"] and m["tolerable_missing"]
    return {
        "notice_no": f"GZ-{app.hall}-{now.astimezone(tz):%Y%m%d}-{secrets.token_hex(3).upper()}",
        "issued_at": now.isoformat(),
        "hall": app.hall,
        "title": app.title,
        "materials": list(by_code.values()),
        "issued_by": clerk,
    }


async def _accept(
    session: AsyncSession, *, outbox: Outbox, app: Application, items: list[ApplicationItem], now: datetime,
    today: date,
) -> None:
    """Number, tracking code, promised dates, status, history and application.accepted — one transaction."""
    seq = await repo.next_number(session, hall=app.hall, day=today)
    app.application_no = f"{app.hall}-{today:%Y%m%d}-{seq:05d}"
    app.tracking_code = secrets.token_urlsafe(16)  # 128 random bits
    app.accepted_at = now
    app.status = "accepted"
    for item in items:
        item.status = "accepted"
        item.promised_date = promised_date(accepted_on=today, working_days=item.matter["promised_limit_working_days"])
    app.promised_date = max(i.promised_date for i in items if i.promised_date)
    await repo.add_history(session, application_id=app.id, status="accepted", at=now, source="acceptance",
                           note="accepted with commitment" if any(i.commitment for i in items) else None)
    event = ApplicationAccepted(
        application_id=app.id,
        application_no=app.application_no,
        tracking_code=app.tracking_code,
        hall=app.hall,
        collect_hall=app.collect_hall,
        channel=app.channel,
        ticket_id=app.ticket_id,
        bundle_code=app.bundle_code,
        catalog_version=app.catalog_version,
        applicant=Applicant(type=app.applicant_type, id_number=app.applicant_id, name=app.applicant_name,
                            mobile=app.applicant_mobile),
        values=app.values,
        items=[
            AcceptedItem(
                item_id=item.id,
                matter_code=item.matter_code,
                matter_name=item.matter_name,
                department=item.department,
                steps=item.matter.get("steps") or ["review", "decision"],
                on_the_spot=item.matter.get("on_the_spot", False),
                legal_limit_working_days=item.matter["legal_limit_working_days"],
                promised_limit_working_days=item.matter["promised_limit_working_days"],
                result_licence_type=item.matter.get("result_licence_type"),
                materials=[MaterialState(code=m["code"], status=m["status"], licence_no=m.get("licence_no"))
                           for m in item.materials if m["status"] != "not_provided"],
                commitment=Commitment(materials=item.commitment["materials"],
                                      deadline=date.fromisoformat(item.commitment["deadline"]),
                                      signed_at=datetime.fromisoformat(item.commitment["signed_at"]),
                                      signatory=item.commitment.get("signatory"))
                if item.commitment else None,
            )
            for item in items
        ],
        accepted_at=now,
        promised_date=app.promised_date,
        verified_fields=sorted(app.locked),
        prefill_degraded=app.degraded,
    )
    await outbox.add(session, event, hall=app.hall, correlation_id=app.correlation_id)
    await session.flush()


async def supplement(
    session: AsyncSession,
    *,
    principal: Principal,
    outbox: Outbox,
    application_id: str,
    body: SupplementIn,
    now: datetime,
    tz: ZoneInfo,
    max_commitment_days: int,
) -> Application:
    """Materials handed in later: completes a pending application, or fulfils a commitment / 补正 request."""
    app = await load(session, application_id=application_id, lock=True)
    check_access(principal, app, write=not _is_applicant(principal))
    items = await repo.get_items(session, application_id=app.id)
    codes = _material_codes(items)
    if body.item_id is not None and body.item_id not in {i.id for i in items}:
        raise Unprocessable("unknown item", errors=[FieldError(field="item_id", message="is not an item of this application")])
    presented = sorted(set(app.presented) | set(body.materials))
    if app.status == "pending_supplement":
        _apply_changes(app, values=body.values, presented=presented, all_codes=codes)
        commitment = body.commitment
        _recheck(app, items, committed=set())
        if commitment is not None:
            errors = _commitment_errors(commitment, items, max_days=max_commitment_days)
            if errors:
                raise Unprocessable("the commitment cannot cover these materials", errors=errors)
        await repo.add_history(session, application_id=app.id, status="supplemented", at=now, source="acceptance")
        return await _check_and_conclude(session, outbox=outbox, app=app, items=items, commitment=commitment,
                                         principal=principal, now=now, tz=tz)
    if app.status not in AFTER_ACCEPTANCE:
        raise Conflict(f"application is {app.status}; nothing to supplement")
    if body.commitment is not None:
        raise Unprocessable("a commitment is signed before acceptance",
                            errors=[FieldError(field="commitment", message="not allowed after acceptance")])
    _apply_changes(app, values=body.values, presented=presented, all_codes=codes)
    targets = [i for i in items if body.item_id in (None, i.id)]
    for item in targets:
        if item.commitment:
            fulfilled = sorted(set(item.commitment.get("fulfilled", [])) | (set(body.materials) & set(item.commitment["materials"])))
            item.commitment = {**item.commitment, "fulfilled": fulfilled}
        if item.status == "supplement_requested":
            item.status = "in_approval"
        await repo.add_history(session, application_id=app.id, item_id=item.id, status="supplemented", at=now,
                               source="acceptance")
    _roll_up(app, items)
    await outbox.add(
        session,
        ApplicationSupplemented(application_id=app.id, item_id=body.item_id, materials=sorted(set(body.materials)),
                                values=body.values, at=now),
        hall=app.hall,
        correlation_id=app.correlation_id,
    )
    await session.flush()
    return app


async def refuse(
    session: AsyncSession, *, principal: Principal, outbox: Outbox, application_id: str, body: RefuseIn, now: datetime
) -> Application:
    """Refuse to accept (不予受理): the reason is recorded, printable, and application.refused published."""
    if _is_applicant(principal):
        raise Forbidden("only the hall refuses")
    app = await load(session, application_id=application_id, lock=True)
    check_access(principal, app, write=True)
    if app.status not in BEFORE_ACCEPTANCE:
        raise Conflict(f"application is {app.status}; only applications not yet accepted can be refused")
    app.status = "refused"
    app.refusal_reason = body.reason
    app.refused_at = now
    items = await repo.get_items(session, application_id=app.id)
    for item in items:
        item.status = "refused"
    await repo.add_history(session, application_id=app.id, status="refused", at=now, source="acceptance")
    await outbox.add(
        session,
        ApplicationRefused(application_id=app.id, hall=app.hall, matter_code=app.matter_code,
                           bundle_code=app.bundle_code, reason=body.reason, at=now),
        hall=app.hall,
        correlation_id=app.correlation_id,
    )
    await session.flush()
    return app


# ---- following the back office --------------------------------------------------------------


def _roll_up(app: Application, items: list[ApplicationItem]) -> None:
    """One application status from its items' statuses (bundles decide in parallel)."""
    if app.status in ("result_ready", "collected", "refused") or app.status in BEFORE_ACCEPTANCE:
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
        _roll_up(app, items)
    await repo.add_history(session, application_id=app.id, item_id=item_id, status=status or app_status or app.status,
                           at=at, source=source, note=note)
    await session.flush()
    return True


# ---- read models from the catalogue and ticketing ---------------------------------------------


async def record_matter(session: AsyncSession, *, event: Any) -> None:
    """Upsert a published matter (newer catalogue versions win)."""
    await repo.upsert_matter(
        session,
        values={
            "code": event.code,
            "catalog_version": event.catalog_version,
            "name": event.name,
            "department": event.department,
            "department_name": event.department_name,
            "applicant_type": event.applicant_type,
            "materials": [m.model_dump() for m in event.materials],
            "fields": list(event.fields),
            "legal_limit_working_days": event.legal_limit_working_days,
            "promised_limit_working_days": event.promised_limit_working_days,
            "on_the_spot": event.on_the_spot,
            "notify_commit_approval": event.notify_commit_approval,
            "result_licence_type": event.result_licence_type,
            "steps": list(event.steps),
        },
    )


async def record_bundle(session: AsyncSession, *, event: Any) -> None:
    """Upsert a published bundle."""
    await repo.upsert_bundle(
        session,
        values={
            "code": event.code,
            "catalog_version": event.catalog_version,
            "name": event.name,
            "lead_department": event.lead_department,
            "matters": list(event.matters),
        },
    )


async def record_called_ticket(session: AsyncSession, *, event: Any, correlation_id: str) -> None:
    """Remember a called ticket so the clerk can open an application from it."""
    await repo.upsert_ticket(
        session,
        values={
            "ticket_id": event.ticket_id,
            "hall": event.hall,
            "number": event.number,
            "matter_code": event.matter_code,
            "window": event.window,
            "staff_id": event.staff_id,
            "called_at": event.called_at,
            "correlation_id": correlation_id,
        },
    )


def utcnow() -> datetime:
    return datetime.now(UTC)
