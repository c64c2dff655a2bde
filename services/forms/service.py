"""Forms rules: catalogue drafts and publishing, applicant profiles, prefill, validation, audit."""

import time
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from services.forms import repository
from services.forms.catalog import (
    KEY_PATTERN,
    Compiled,
    Form,
    applicant_type_of,
    check_catalog,
    compile_catalog,
    identity_values,
    is_empty,
    validate_values,
)
from services.forms.models import CatalogVersion
from services.forms.schemas import (
    AccessLog,
    AccessLogEntry,
    CatalogFile,
    LicenceOut,
    PrefillRequest,
    ProfileOut,
    ProfilePage,
    ProfileSummary,
    ProfileValueOut,
    Provenance,
    ValidateRequest,
    ValidateResponse,
    VerificationRequest,
)
from shared.auth import Principal, Role
from shared.events.applications import ApplicationAccepted
from shared.events.catalog import BundlePublished, CatalogVersionPublished, MatterPublished
from shared.events.licences import LicenceIssued, LicenceRevoked
from shared.observability import get_logger
from shared.outbox import Outbox
from shared.privacy import mask_id_number, mask_mobile
from shared.problems import Conflict, FieldError, Forbidden, NotFound, Unprocessable
from shared.validators import check_credit_code, check_id_number

log = get_logger(__name__)
SHANGHAI = ZoneInfo("Asia/Shanghai")
DECLARED, DEPARTMENT, LICENCE, IDENTITY = "applicant_declared", "department_verified", "licence_issued", "identity"
STAFF_READERS = (Role.CLERK, Role.SERVICE)
MAX_LEARNT_KEYS = 500

_published: dict[int, Compiled] = {}  # published versions never change: safe to cache per process
LATEST_TTL_SECONDS = 2.0  # how long a replica may keep answering with the previous latest version
_latest: tuple[float, int] | None = None


# ---- catalogue ---------------------------------------------------------------------------------


def _checked(content: CatalogFile) -> dict[str, Any]:
    data = content.model_dump(mode="json")
    errors = check_catalog(data)
    if errors:
        raise Unprocessable(f"the catalogue has {len(errors)} error(s)", errors=errors[:200])
    return data


async def create_draft(session: AsyncSession, *, content: CatalogFile, by: str | None = None) -> CatalogVersion:
    """A new draft version holding a checked catalogue file."""
    data = _checked(content)
    await repository.lock_versions(session)
    version = CatalogVersion(version=await repository.next_version(session), status="draft", content=data, created_by=by)
    session.add(version)
    await session.flush()
    return version


async def replace_draft(session: AsyncSession, *, version: int, content: CatalogFile) -> CatalogVersion:
    """Replace the content of a draft (published versions never change)."""
    data = _checked(content)
    row = await session.get(CatalogVersion, version, with_for_update=True)
    if row is None:
        raise NotFound(f"catalogue version {version} does not exist")
    if row.status != "draft":
        raise Conflict(f"catalogue version {version} is published and cannot change")
    row.content = data
    await session.flush()
    return row


async def list_versions(session: AsyncSession) -> list[CatalogVersion]:
    """Every catalogue version, oldest first."""
    return list(await repository.list_versions(session))


async def get_version(session: AsyncSession, *, version: int) -> CatalogVersion:
    """One catalogue version (draft or published)."""
    row = await session.get(CatalogVersion, version)
    if row is None:
        raise NotFound(f"catalogue version {version} does not exist")
    return row


async def latest_version(session: AsyncSession) -> int:
    """The newest published version (remembered for a couple of seconds: publishing is rare)."""
    global _latest
    if _latest is not None and time.monotonic() - _latest[0] < LATEST_TTL_SECONDS:
        return _latest[1]
    version = await repository.latest_published(session)
    if version is None:
        raise NotFound("no catalogue version is published yet")
    _latest = (time.monotonic(), version)
    return version


async def compiled(session: AsyncSession, *, version: int | None = None, allow_draft: bool = False) -> Compiled:
    """A compiled catalogue version: ``version``, or the newest published one."""
    if version is None:
        version = await latest_version(session)
    if version in _published:
        return _published[version]
    row = await session.get(CatalogVersion, version)
    if row is None or (row.status != "published" and not allow_draft):
        raise NotFound(f"catalogue version {version} is not published")
    result = compile_catalog(row.version, row.content)
    if row.status == "published":
        _published[version] = result
    return result


async def publish(session: AsyncSession, *, version: int, outbox: Outbox, by: str | None = None) -> CatalogVersion:
    """Publish a draft; every matter and bundle becomes a catalog.* event, then catalog.version_published."""
    await repository.lock_versions(session)
    row = await session.get(CatalogVersion, version, with_for_update=True)
    if row is None:
        raise NotFound(f"catalogue version {version} does not exist")
    if row.status == "published":
        raise Conflict(f"catalogue version {version} is already published")
    latest = await repository.latest_published(session)
    if latest is not None and latest > version:
        raise Conflict(f"version {latest} is already published; a newer draft is needed")
    now = datetime.now(UTC)
    content = row.content
    cat = compile_catalog(version, content)
    zone_of = {dep: z["code"] for z in content.get("zones", []) for dep in z.get("departments", [])}
    for matter in content["matters"]:
        form = cat.forms[f"matter:{matter['code']}"]
        await outbox.add(
            session,
            MatterPublished(
                catalog_version=version,
                code=matter["code"],
                name=matter["name"],
                department=matter["department"],
                department_name=cat.departments.get(matter["department"], ""),
                category=matter["category"],
                zone=zone_of.get(matter["department"], "A"),
                applicant_type=matter["applicant_type"],
                materials=[
                    {
                        "code": m.code,
                        "name": m.name,
                        "required": m.required,
                        "tolerable_missing": m.tolerable_missing,
                        "satisfied_by_licence_type": m.licence_type,
                    }
                    for m in form.materials
                ],
                fields=[f.key for f in form.fields],
                legal_limit_working_days=matter["legal_limit_working_days"],
                promised_limit_working_days=matter["promised_limit_working_days"],
                on_the_spot=matter["on_the_spot"],
                notify_commit_approval=matter["notify_commit_approval"],
                result_licence_type=matter.get("result_licence_type"),
                avg_handling_minutes=matter["avg_handling_minutes"],
                daily_share_weight=matter["daily_share_weight"],
                steps=["decision"] if matter["on_the_spot"] else ["review", "decision"],
                published_at=now,
            ),
        )
    for bundle in content.get("bundles", []):
        await outbox.add(
            session,
            BundlePublished(
                catalog_version=version,
                code=bundle["code"],
                name=bundle["name"],
                lead_department=bundle["lead_department"],
                matters=bundle["matters"],
                published_at=now,
            ),
        )
    await outbox.add(
        session,
        CatalogVersionPublished(
            catalog_version=version,
            matters=[m["code"] for m in content["matters"]],
            bundles=[b["code"] for b in content.get("bundles", [])],
            published_at=now,
        ),
    )
    row.status, row.published_at, row.published_by = "published", now, by
    await session.flush()
    return row


def form_of(cat: Compiled, *, matter: str | None, bundle: str | None) -> Form:
    """The form of a matter or bundle of ``cat``; 404 if it has none."""
    form = cat.form(matter=matter, bundle=bundle)
    if form is None:
        what = f"matter {matter}" if matter is not None else f"bundle {bundle}"
        raise NotFound(f"{what} is not in catalogue version {cat.version}")
    return form


# ---- who may read whose data --------------------------------------------------------------------


def check_applicant_access(principal: Principal, applicant_id: str, *, staff: tuple[str, ...] = STAFF_READERS) -> None:
    """Staff in ``staff`` roles may read anyone; an applicant only their own data."""
    if principal.has(*staff):
        return
    if principal.applicant_id is None or principal.applicant_id != applicant_id:
        raise Forbidden("an applicant may only read their own data")


def check_applicant_id(applicant_id: str, *, field: str = "applicant_id") -> str:
    """The applicant's type, or a field-level 422 for an identifier that is neither kind."""
    if check_id_number(applicant_id) is None:
        return "natural_person"
    if check_credit_code(applicant_id) is None:
        return "legal_person"
    raise Unprocessable(
        "applicant_id is not a valid identifier",
        errors=[
            FieldError(
                field=field,
                message="must be a resident ID number (GB 11643) or a unified social credit code (GB 32100)",
            )
        ],
    )


async def _audit(
    session: AsyncSession,
    *,
    principal: Principal,
    applicant_id: str,
    purpose: str,
    application_ref: str | None,
    subject: str | None,
) -> None:
    await repository.add_read(
        session,
        applicant_id=applicant_id,
        reader=principal.sub,
        roles=sorted(principal.roles),
        purpose=purpose,
        application_ref=application_ref,
        subject=subject,
    )


def _provenance(row: Any) -> Provenance:
    return Provenance.model_construct(
        source=row.source,
        verified=row.verified,
        application_ref=row.application_ref,
        licence_no=row.licence_no,
        matter_code=row.matter_code,
        department=row.department,
        at=row.observed_at,
    )


def today() -> date:
    return datetime.now(SHANGHAI).date()


# ---- prefill -----------------------------------------------------------------------------------


async def prefill(
    session: AsyncSession, *, principal: Principal, request: PrefillRequest, purpose: str = "prefill"
) -> dict[str, Any]:
    """The form of a matter or bundle filled from the applicant's profile, with provenance; audited.

    Returns the JSON-ready shape of ``PrefillResponse`` as plain dicts (the hot path: no model per field).
    """
    check_applicant_access(principal, request.applicant_id)
    applicant_type = check_applicant_id(request.applicant_id)
    cat = await compiled(session, version=request.catalog_version)
    form = form_of(cat, matter=request.matter, bundle=request.bundle)
    # a profile holds at most a few hundred keys: reading all of it beats a 50-item IN list
    stored = await repository.current_values(session, applicant_id=request.applicant_id)
    identity = identity_values(request.applicant_id, applicant_type)
    licences = await repository.valid_licences(session, holder_id=request.applicant_id, on=today())
    await _audit(
        session,
        principal=principal,
        applicant_id=request.applicant_id,
        purpose=purpose,
        application_ref=request.application_ref,
        subject=form.code,
    )
    fields: list[dict[str, Any]] = []
    missing: list[str] = []
    for tf in form.fields:
        d = tf.definition
        out: dict[str, Any] = {"key": d.key, "label_zh": d.label_zh, "label_en": d.label_en, "type": d.type,
                               "required": tf.required}
        if d.key in identity:
            out |= {"value": identity[d.key], "source": IDENTITY, "verified": True, "editable": False,
                    "provenance": _provenance_dict(None)}
        elif (row := stored.get(d.key)) is not None:
            out |= {"value": row.value, "source": row.source, "verified": row.verified,
                    "editable": not row.verified, "provenance": _provenance_dict(row)}
        else:
            out |= {"value": None, "source": None, "verified": False, "editable": True, "provenance": None}
            if tf.required:
                missing.append(d.key)
        fields.append(out)
    materials = []
    for m in form.materials:
        licence = licences.get(m.licence_type) if m.licence_type else None
        materials.append(
            {
                "code": m.code,
                "name": m.name,
                "required": m.required,
                "tolerable_missing": m.tolerable_missing,
                "satisfied": licence is not None,
                "licence_no": licence.licence_no if licence else None,
                "licence_type": m.licence_type,
            }
        )
    return {
        "applicant_id": request.applicant_id,
        "matter": request.matter,
        "bundle": request.bundle,
        "catalog_version": cat.version,
        "fields": fields,
        "missing_fields": missing,
        "materials": materials,
    }


def _provenance_dict(row: Any) -> dict[str, Any]:
    if row is None:
        return {"source": IDENTITY, "verified": True, "application_ref": None, "licence_no": None,
                "matter_code": None, "department": None, "at": None}
    return {
        "source": row.source,
        "verified": row.verified,
        "application_ref": row.application_ref,
        "licence_no": row.licence_no,
        "matter_code": row.matter_code,
        "department": row.department,
        "at": row.observed_at.isoformat().replace("+00:00", "Z"),
    }


# ---- validation --------------------------------------------------------------------------------


def _same(a: Any, b: Any) -> bool:
    if a == b:
        return True
    try:
        return Decimal(str(a)) == Decimal(str(b))
    except (InvalidOperation, ValueError):
        return False


async def locked_values(session: AsyncSession, *, applicant_id: str, keys: list[str]) -> dict[str, tuple[Any, str]]:
    """Values a verified source supplied (or the identifier itself): key -> (value, why locked)."""
    locked: dict[str, tuple[Any, str]] = {}
    applicant_type = applicant_type_of(applicant_id)
    for key, value in identity_values(applicant_id, applicant_type).items():
        locked[key] = (value, "it is the applicant's own identifier")
    for key, row in (await repository.current_values(session, applicant_id=applicant_id, keys=keys)).items():
        if row.verified and key not in locked:
            why = f"licence {row.licence_no}" if row.licence_no else f"department {row.department}"
            locked[key] = (row.value, f"verified by {why}")
    return locked


async def validate(
    session: AsyncSession, *, principal: Principal, request: ValidateRequest
) -> tuple[ValidateResponse, list[FieldError]]:
    """Field-level checks of submitted values; with an applicant, values verified sources supplied are locked.

    Returns the errors rather than raising them, so the audit of the profile read commits either way.
    """
    cat = await compiled(session, version=request.catalog_version)
    form = form_of(cat, matter=request.matter, bundle=request.bundle)
    errors = validate_values(form, request.values, partial=request.partial)
    if request.applicant_id is not None:
        check_applicant_access(principal, request.applicant_id)
        check_applicant_id(request.applicant_id)
        keys = [f.key for f in form.fields]
        await _audit(
            session,
            principal=principal,
            applicant_id=request.applicant_id,
            purpose="validate",
            application_ref=request.application_ref,
            subject=form.code,
        )
        locked = await locked_values(session, applicant_id=request.applicant_id, keys=keys)
        for key, value in request.values.items():
            if key in locked and not is_empty(value) and not _same(value, locked[key][0]):
                errors.append(
                    FieldError(
                        field=f"values.{key}",
                        message=f"is locked: {locked[key][1]}; it cannot be changed at the desk",
                        type="locked",
                    )
                )
    result = ValidateResponse(valid=not errors, matter=request.matter, bundle=request.bundle, catalog_version=cat.version)
    return result, errors


# ---- printable form ----------------------------------------------------------------------------


async def printable(
    session: AsyncSession,
    *,
    principal: Principal,
    code: str,
    applicant_id: str,
    application_ref: str | None,
    catalog_version: int | None,
) -> tuple[Compiled, Form, dict[str, Any]]:
    """The filled form of a matter (or bundle) for signature; audited as a read."""
    cat = await compiled(session, version=catalog_version)
    is_bundle = cat.form(matter=code) is None and cat.form(bundle=code) is not None
    filled = await prefill(
        session,
        principal=principal,
        request=PrefillRequest(
            applicant_id=applicant_id,
            matter=None if is_bundle else code,
            bundle=code if is_bundle else None,
            application_ref=application_ref,
            catalog_version=cat.version,
        ),
        purpose="print",
    )
    form = form_of(cat, matter=None if is_bundle else code, bundle=code if is_bundle else None)
    return cat, form, filled


# ---- learning: applications, licences, department verification ---------------------------------


def _holder_type(raw: str | None, holder_id: str) -> str:
    if raw in ("natural_person", "legal_person"):
        return raw
    if raw and any(word in raw.lower() for word in ("legal", "entity", "company", "org")):
        return "legal_person"
    if raw and any(word in raw.lower() for word in ("natural", "person", "individual")):
        return "natural_person"
    return applicant_type_of(holder_id)


def _valid_identifier(value: str) -> bool:
    return check_id_number(value) is None or check_credit_code(value) is None


def _rows(values: dict[str, Any], *, skip: set[str], **provenance: Any) -> list[dict[str, Any]]:
    rows = []
    for key, value in list(values.items())[:MAX_LEARNT_KEYS]:
        if key in skip or is_empty(value) or not isinstance(key, str) or not KEY_PATTERN.match(key) or len(key) > 100:
            continue
        rows.append({"field_key": key, "value": value} | provenance)
    return rows


async def learn_from_application(session: AsyncSession, *, event: ApplicationAccepted) -> None:
    """The values of an accepted application become applicant-declared profile values."""
    applicant = event.applicant
    if not _valid_identifier(applicant.id_number):
        log.warning("application not learnt: applicant identifier is not valid", application_id=event.application_id)
        return
    applicant_type = _holder_type(applicant.type, applicant.id_number)
    await repository.ensure_profile(session, applicant_id=applicant.id_number, applicant_type=applicant_type)
    values = dict(event.values)
    if applicant_type == "natural_person":
        values.setdefault("person.name", applicant.name)
        values.setdefault("person.mobile", applicant.mobile)
    else:
        values.setdefault("entity.name", applicant.name)
    matter = event.bundle_code or ",".join(i.matter_code for i in event.items)[:64] or None
    await repository.record_values(
        session,
        applicant_id=applicant.id_number,
        rows=_rows(
            values,
            skip=set(identity_values(applicant.id_number, applicant_type)),
            source=DECLARED,
            verified=False,
            application_ref=event.application_id,
            licence_no=None,
            matter_code=matter,
            department=None,
            observed_at=event.accepted_at,
        ),
    )


async def learn_from_licence(session: AsyncSession, *, event: LicenceIssued) -> None:
    """An issued licence is a satisfied material from now on, and its data verified profile values."""
    if not _valid_identifier(event.holder_id):
        log.warning("licence not learnt: holder identifier is not valid", licence_no=event.licence_no)
        return
    holder_type = _holder_type(event.holder_type, event.holder_id)
    await repository.upsert_licence(
        session,
        values={
            "licence_no": event.licence_no,
            "licence_type": event.licence_type,
            "holder_id": event.holder_id,
            "holder_type": holder_type,
            "issuing_department": event.issuing_department,
            "valid_from": event.valid_from,
            "valid_until": event.valid_until,
            "status": "valid",
            "application_id": event.application_id,
            "matter_code": event.matter_code,
            "issued_at": event.issued_at,
        },
    )
    await repository.ensure_profile(session, applicant_id=event.holder_id, applicant_type=holder_type)
    values = dict(event.data)
    values.setdefault("entity.name" if holder_type == "legal_person" else "person.name", event.holder_name)
    await repository.record_values(
        session,
        applicant_id=event.holder_id,
        rows=_rows(
            values,
            skip=set(identity_values(event.holder_id, holder_type)),
            source=LICENCE,
            verified=True,
            application_ref=event.application_id,
            licence_no=event.licence_no,
            matter_code=event.matter_code,
            department=event.issuing_department,
            observed_at=event.issued_at,
        ),
    )


async def forget_licence(session: AsyncSession, *, event: LicenceRevoked) -> None:
    """A revoked licence satisfies nothing and vouches for no value any more."""
    await repository.revoke_licence(session, licence_no=event.licence_no, reason=event.reason, at=event.revoked_at)
    await repository.withdraw_licence_values(session, licence_no=event.licence_no)


async def verify_values(
    session: AsyncSession, *, principal: Principal, applicant_id: str, request: VerificationRequest
) -> int:
    """A department confirms values of an applicant; they become locked (department-verified)."""
    principal.check_department(request.department)
    applicant_type = check_applicant_id(applicant_id)
    cat = await compiled(session)
    errors = []
    for key, value in request.values.items():
        definition = cat.fields.get(key)
        if definition is None:
            errors.append(FieldError(field=f"values.{key}", message="is not in the field dictionary", type="unknown_field"))
        elif is_empty(value):
            errors.append(FieldError(field=f"values.{key}", message="is empty", type="missing"))
        elif problem := definition.check(value):
            errors.append(FieldError(field=f"values.{key}", message=f"{definition.label_zh}: {problem}", type="invalid"))
        elif key in identity_values(applicant_id, applicant_type):
            errors.append(FieldError(field=f"values.{key}", message="is the applicant's identifier", type="locked"))
    if errors:
        raise Unprocessable(f"{len(errors)} value(s) are not acceptable", errors=errors)
    await repository.ensure_profile(session, applicant_id=applicant_id, applicant_type=applicant_type)
    rows = _rows(
        request.values,
        skip=set(),
        source=DEPARTMENT,
        verified=True,
        application_ref=request.application_ref,
        licence_no=None,
        matter_code=None,
        department=request.department,
        observed_at=datetime.now(UTC),
    )
    await repository.record_values(session, applicant_id=applicant_id, rows=rows)
    return len(rows)


# ---- profile and its access log ------------------------------------------------------------------


def _masked(value: Any, sensitivity: str) -> Any:
    if sensitivity == "public" or not isinstance(value, str):
        return value if sensitivity == "public" else "***"
    if check_id_number(value) is None:
        return mask_id_number(value)
    if value.isdigit() and len(value) == 11:
        return mask_mobile(value)
    return value[:1] + "*" * max(len(value) - 1, 2)


async def profile(session: AsyncSession, *, principal: Principal, applicant_id: str, application_ref: str | None) -> ProfileOut:
    """An applicant's profile with provenance; audited; masked unless the applicant reads their own."""
    check_applicant_access(principal, applicant_id, staff=(Role.CLERK, Role.AUDITOR))
    row = await repository.get_profile(session, applicant_id)
    if row is None:
        raise NotFound("no profile for this applicant")
    await _audit(
        session, principal=principal, applicant_id=applicant_id, purpose="profile", application_ref=application_ref, subject=None
    )
    own = principal.applicant_id == applicant_id
    cat = await compiled(session)
    values = []
    for key, value in sorted((await repository.current_values(session, applicant_id=applicant_id)).items()):
        definition = cat.fields.get(key)
        sensitivity = definition.sensitivity if definition else "personal"
        values.append(
            ProfileValueOut(
                key=key,
                value=value.value if own else _masked(value.value, sensitivity),
                source=value.source,
                verified=value.verified,
                provenance=_provenance(value),
            )
        )
    licences = [
        LicenceOut(
            licence_no=lic.licence_no,
            licence_type=lic.licence_type,
            status=lic.status,
            valid_from=lic.valid_from,
            valid_until=lic.valid_until,
            matter_code=lic.matter_code,
        )
        for lic in await repository.holder_licences(session, holder_id=applicant_id)
    ]
    return ProfileOut(
        applicant_id=applicant_id if own else (mask_id_number(applicant_id) or ""),
        applicant_type=row.applicant_type,
        values=values,
        licences=licences,
    )


def mask_identifier(applicant_id: str) -> str:
    """An ID number or credit code masked for lists: 6 leading and 4 trailing characters."""
    return mask_id_number(applicant_id) or ""


async def list_profiles(
    session: AsyncSession, *, applicant_type: str | None, limit: int, offset: int
) -> ProfilePage:
    """Profiles for auditors: identifiers masked, no values."""
    rows = await repository.list_profiles(session, applicant_type=applicant_type, limit=limit, offset=offset)
    return ProfilePage(
        items=[
            ProfileSummary(
                applicant_id=mask_identifier(r.applicant_id),
                applicant_type=r.applicant_type,
                values=r.values,
                verified=r.verified,
                updated_at=r.updated_at,
            )
            for r in rows
        ],
        limit=limit,
        offset=offset,
    )


async def access_log(
    session: AsyncSession, *, principal: Principal, applicant_id: str, limit: int, offset: int
) -> AccessLog:
    """Who read an applicant's data: for the applicant themselves and auditors."""
    check_applicant_access(principal, applicant_id, staff=(Role.AUDITOR,))
    rows = await repository.reads(session, applicant_id=applicant_id, limit=limit, offset=offset)
    own = principal.applicant_id == applicant_id
    return AccessLog(
        applicant_id=applicant_id if own else (mask_id_number(applicant_id) or ""),
        items=[
            AccessLogEntry(
                reader=r.reader,
                roles=[x for x in r.roles.split(",") if x],
                purpose=r.purpose,
                application_ref=r.application_ref,
                subject=r.subject,
                at=r.at,
            )
            for r in rows
        ],
    )
