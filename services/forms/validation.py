"""Validation of submitted values: field-level checks, and values verified sources supplied kept locked."""

from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.forms import access, publishing, repository
from services.forms.catalog import applicant_type_of, identity_values, is_empty, validate_values
from services.forms.schemas import ValidateRequest, ValidateResponse
from shared.auth import Principal
from shared.problems import FieldError


def _same(a: Any, b: Any) -> bool:
    if a == b:
        return True
    try:
        return Decimal(str(a)) == Decimal(str(b))
    except (InvalidOperation, ValueError):
        return False


async def locked_values(
    session: AsyncSession, *, applicant_id: str, keys: list[str]
) -> dict[str, tuple[Any, str]]:
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
    cat = await publishing.compiled(session, version=request.catalog_version)
    form = publishing.form_of(cat, matter=request.matter, bundle=request.bundle)
    errors = validate_values(form, request.values, partial=request.partial)
    if request.applicant_id is not None:
        access.check_applicant_access(principal, request.applicant_id)
        access.check_applicant_id(request.applicant_id)
        keys = [f.key for f in form.fields]
        await access.record_read(
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
    result = ValidateResponse(
        valid=not errors, matter=request.matter, bundle=request.bundle, catalog_version=cat.version
    )
    return result, errors
