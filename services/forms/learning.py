"""Learning profile values: from accepted applications, issued and revoked licences, department verification."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.forms import access, publishing, repository
from services.forms.catalog import KEY_PATTERN, applicant_type_of, identity_values, is_empty
from services.forms.provenance import DECLARED, DEPARTMENT, LICENCE
from services.forms.schemas import VerificationRequest
from shared.auth import Principal
from shared.events.applications import ApplicationAccepted
from shared.events.licences import LicenceIssued, LicenceRevoked
from shared.observability import get_logger
from shared.problems import FieldError, Unprocessable
from shared.validators import check_credit_code, check_id_number

log = get_logger(__name__)
MAX_LEARNT_KEYS = 500


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
        if (
            key in skip
            or is_empty(value)
            or not isinstance(key, str)
            or not KEY_PATTERN.match(key)
            or len(key) > 100
        ):
            continue
        rows.append({"field_key": key, "value": value} | provenance)
    return rows


async def learn_from_application(session: AsyncSession, *, event: ApplicationAccepted) -> None:
    """The values of an accepted application become applicant-declared profile values."""
    applicant = event.applicant
    if not _valid_identifier(applicant.id_number):
        log.warning(
            "application not learnt: applicant identifier is not valid", application_id=event.application_id
        )
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
    await repository.revoke_licence(
        session, licence_no=event.licence_no, reason=event.reason, at=event.revoked_at
    )
    await repository.withdraw_licence_values(session, licence_no=event.licence_no)


async def verify_values(
    session: AsyncSession, *, principal: Principal, applicant_id: str, request: VerificationRequest
) -> int:
    """A department confirms values of an applicant; they become locked (department-verified)."""
    principal.check_department(request.department)
    applicant_type = access.check_applicant_id(applicant_id)
    cat = await publishing.compiled(session)
    errors = []
    for key, value in request.values.items():
        definition = cat.fields.get(key)
        if definition is None:
            errors.append(
                FieldError(
                    field=f"values.{key}", message="is not in the field dictionary", type="unknown_field"
                )
            )
        elif is_empty(value):
            errors.append(FieldError(field=f"values.{key}", message="is empty", type="missing"))
        elif problem := definition.check(value):
            errors.append(
                FieldError(field=f"values.{key}", message=f"{definition.label_zh}: {problem}", type="invalid")
            )
        elif key in identity_values(applicant_id, applicant_type):
            errors.append(
                FieldError(field=f"values.{key}", message="is the applicant's identifier", type="locked")
            )
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
