"""The desk's conclusion: the material check at submission (accepted, or a one-time notice), commitments,
supplements and refusals."""

import secrets
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from services.acceptance import access, editing, progress, rules
from services.acceptance import repository as repo
from services.acceptance.models import Application, ApplicationItem
from services.acceptance.schemas import CommitmentIn, RefuseIn, SubmitIn, SupplementIn
from shared.auth import Principal
from shared.events.applications import (
    AcceptedItem,
    Applicant,
    ApplicationAccepted,
    ApplicationRefused,
    ApplicationSupplemented,
    Awaited,
    Commitment,
    MaterialState,
)
from shared.ids import approval_task_id
from shared.outbox import Outbox
from shared.problems import Conflict, FieldError, Forbidden, Unprocessable
from shared.workdays import default_calendar


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
    app, items = await access.load_with_items(session, application_id=application_id)
    access.check(principal, app, write=True)
    if app.status not in rules.EDITABLE:
        raise Conflict(f"application is {app.status}; it was already submitted")
    editing.apply_changes(
        app, values=body.values, presented=body.presented, all_codes=editing.material_codes(items)
    )
    empty = rules.missing_fields(app)
    if empty:
        errors = [FieldError(field=f"values.{k}", message="is required", type="missing") for k in empty]
        raise rules.InvalidForm(f"{len(empty)} required field(s) have no value", errors=errors)
    editing.recheck(app, items, committed=set())
    if body.commitment is not None:
        errors = _commitment_errors(body.commitment, items, max_days=max_commitment_days)
        if errors:
            raise Unprocessable("the commitment cannot cover these materials", errors=errors)
    if access.is_applicant(principal):
        app.status = "submitted"
        await repo.add_history(
            session,
            application_id=app.id,
            status="submitted",
            at=now,
            source="acceptance",
            note="submitted online; waiting for the hall's check",
        )
        await session.flush()
        return app
    return await _check_and_conclude(
        session,
        outbox=outbox,
        app=app,
        items=items,
        commitment=body.commitment,
        principal=principal,
        now=now,
        tz=tz,
    )


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
    editing.recheck(app, items, committed=committed)
    missing = [(item, m) for item in items for m in item.materials if m["status"] == "missing"]
    if missing:
        if app.notice is None:  # one-time: the first notice lists everything; it is never re-issued
            app.notice = _notice(app, items, now=now, tz=tz, clerk=principal.sub)
        app.status = "pending_supplement"
        await repo.add_history(
            session,
            application_id=app.id,
            status="pending_supplement",
            at=now,
            source="acceptance",
            note=f"one-time notice: {len(app.notice['materials'])} material(s)",
        )
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


def _notice(
    app: Application, items: list[ApplicationItem], *, now: datetime, tz: ZoneInfo, clerk: str
) -> dict[str, Any]:
    """The one-time notice (一次性告知): every missing material of every matter, at once."""
    by_code: dict[str, dict[str, Any]] = {}
    for item in items:
        for m in item.materials:
            if m["status"] == "missing":
                entry = by_code.setdefault(
                    m["code"],
                    {
                        "code": m["code"],
                        "name": m["name"],
                        "matters": [],
                        "may_commit": m["tolerable_missing"],
                    },
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
    session: AsyncSession,
    *,
    outbox: Outbox,
    app: Application,
    items: list[ApplicationItem],
    now: datetime,
    today: date,
) -> None:
    """Number, tracking code, promised dates, status, history and application.accepted — one transaction."""
    seq = await repo.next_number(session, hall=app.hall, day=today)
    app.application_no = f"{app.hall}-{today:%Y%m%d}-{seq:05d}"
    app.tracking_code = secrets.token_urlsafe(16)  # 128 random bits
    app.accepted_at = now
    app.status = "accepted"
    for item in items:
        item.status, item.status_at = "accepted", now
        item.task_id = approval_task_id(item.id)  # approval opens it under this id: usable at once
        item.promised_date = rules.promised_date(
            accepted_on=today, working_days=item.matter["promised_limit_working_days"]
        )
    app.promised_date = max(i.promised_date for i in items if i.promised_date)
    bundle = await repo.get_bundle(session, code=app.bundle_code) if app.bundle_code else None
    item_of = {item.matter_code: item.id for item in items}
    await repo.add_history(
        session,
        application_id=app.id,
        status="accepted",
        at=now,
        source="acceptance",
        note="accepted with commitment" if any(i.commitment for i in items) else None,
    )
    event = ApplicationAccepted(
        application_id=app.id,
        application_no=app.application_no,
        tracking_code=app.tracking_code,
        hall=app.hall,
        collect_hall=app.collect_hall,
        channel=app.channel,
        ticket_id=app.ticket_id,
        bundle_code=app.bundle_code,
        lead_department=bundle.lead_department if bundle else None,
        catalog_version=app.catalog_version,
        applicant=Applicant(
            type=app.applicant_type,
            id_number=app.applicant_id,
            name=app.applicant_name,
            mobile=app.applicant_mobile,
        ),
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
                materials=[
                    MaterialState(code=m["code"], status=m["status"], licence_no=m.get("licence_no"))
                    for m in item.materials
                    if m["status"] != "not_provided"
                ],
                commitment=Commitment(
                    materials=item.commitment["materials"],
                    deadline=date.fromisoformat(item.commitment["deadline"]),
                    signed_at=datetime.fromisoformat(item.commitment["signed_at"]),
                    signatory=item.commitment.get("signatory"),
                )
                if item.commitment
                else None,
                awaits=_awaits(item, item_of),
                parallel=bool(item.matter.get("parallel")) and bool(_awaits(item, item_of)),
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


def _awaits(item: ApplicationItem, item_of: dict[str, str]) -> list[Awaited]:
    """What the item waits for: its materials an earlier member of the bundle produces (from_bundle)."""
    needs = {n["material"]: n for n in item.matter.get("bundle_needs") or []}
    return [
        Awaited(
            material=m["code"],
            from_item_id=item_of[needs[m["code"]]["from_matter"]],
            from_matter=needs[m["code"]]["from_matter"],
            licence_type=needs[m["code"]]["licence_type"],
        )
        for m in item.materials
        if m["status"] == "from_bundle" and m["code"] in needs and needs[m["code"]]["from_matter"] in item_of
    ]


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
    app, items = await access.load_with_items(session, application_id=application_id)
    access.check(principal, app, write=not access.is_applicant(principal))
    codes = editing.material_codes(items)
    if body.item_id is not None and body.item_id not in {i.id for i in items}:
        raise Unprocessable(
            "unknown item", errors=[FieldError(field="item_id", message="is not an item of this application")]
        )
    presented = sorted(set(app.presented) | set(body.materials))
    if app.status == "pending_supplement":
        editing.apply_changes(app, values=body.values, presented=presented, all_codes=codes)
        commitment = body.commitment
        editing.recheck(app, items, committed=set())
        if commitment is not None:
            errors = _commitment_errors(commitment, items, max_days=max_commitment_days)
            if errors:
                raise Unprocessable("the commitment cannot cover these materials", errors=errors)
        await repo.add_history(
            session, application_id=app.id, status="supplemented", at=now, source="acceptance"
        )
        return await _check_and_conclude(
            session,
            outbox=outbox,
            app=app,
            items=items,
            commitment=commitment,
            principal=principal,
            now=now,
            tz=tz,
        )
    if app.status not in rules.AFTER_ACCEPTANCE:
        raise Conflict(f"application is {app.status}; nothing to supplement")
    if body.commitment is not None:
        raise Unprocessable(
            "a commitment is signed before acceptance",
            errors=[FieldError(field="commitment", message="not allowed after acceptance")],
        )
    editing.apply_changes(app, values=body.values, presented=presented, all_codes=codes)
    targets = [i for i in items if body.item_id in (None, i.id)]
    for item in targets:
        if item.commitment:
            fulfilled = sorted(
                set(item.commitment.get("fulfilled", []))
                | (set(body.materials) & set(item.commitment["materials"]))
            )
            item.commitment = {**item.commitment, "fulfilled": fulfilled}
        if item.status == "supplement_requested":
            progress.advance_item(item, status="in_approval", at=now)  # later than the request: it applies
        await repo.add_history(
            session,
            application_id=app.id,
            item_id=item.id,
            status="supplemented",
            at=now,
            source="acceptance",
        )
    progress.roll_up(app, items)
    await outbox.add(
        session,
        ApplicationSupplemented(
            application_id=app.id,
            item_id=body.item_id,
            materials=sorted(set(body.materials)),
            values=body.values,
            at=now,
        ),
        hall=app.hall,
        correlation_id=app.correlation_id,
    )
    await session.flush()
    return app


async def refuse(
    session: AsyncSession,
    *,
    principal: Principal,
    outbox: Outbox,
    application_id: str,
    body: RefuseIn,
    now: datetime,
) -> Application:
    """Refuse to accept (不予受理): the reason is recorded, printable, and application.refused published."""
    if access.is_applicant(principal):
        raise Forbidden("only the hall refuses")
    app = await access.load(session, application_id=application_id, lock=True)
    access.check(principal, app, write=True)
    if app.status not in rules.BEFORE_ACCEPTANCE:
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
        ApplicationRefused(
            application_id=app.id,
            hall=app.hall,
            matter_code=app.matter_code,
            bundle_code=app.bundle_code,
            reason=body.reason,
            at=now,
        ),
        hall=app.hall,
        correlation_id=app.correlation_id,
    )
    await session.flush()
    return app


def _commitment_errors(
    commitment: CommitmentIn, items: list[ApplicationItem], *, max_days: int
) -> list[FieldError]:
    errors = []
    committable = {m["code"] for item in items for m in item.materials if m["tolerable_missing"]}
    missing = {m["code"] for item in items for m in item.materials if m["status"] == "missing"}
    for i, code in enumerate(commitment.materials):
        if code not in missing:
            errors.append(
                FieldError(
                    field=f"commitment.materials.{i}", message=f"{code} is not missing", type="not_missing"
                )
            )
        elif code not in committable:
            errors.append(
                FieldError(
                    field=f"commitment.materials.{i}",
                    message=f"{code} may not be missing on commitment (the catalogue does not allow it)",
                    type="not_tolerable",
                )
            )
    if commitment.deadline_working_days > max_days:
        errors.append(
            FieldError(
                field="commitment.deadline_working_days",
                message=f"must be at most {max_days} working days",
                type="too_long",
            )
        )
    return errors
