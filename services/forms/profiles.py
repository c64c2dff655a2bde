"""Applicant profiles as people read them: one profile (masked for staff), the auditors' list, the access log."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.forms import access, provenance, publishing, repository
from services.forms.schemas import (
    AccessLog,
    AccessLogEntry,
    LicenceOut,
    ProfileOut,
    ProfilePage,
    ProfileSummary,
    ProfileValueOut,
)
from shared.auth import Principal, Role
from shared.privacy import mask_id_number, mask_mobile
from shared.problems import NotFound
from shared.validators import check_id_number


def _masked(value: Any, sensitivity: str) -> Any:
    if sensitivity == "public" or not isinstance(value, str):
        return value if sensitivity == "public" else "***"
    if check_id_number(value) is None:
        return mask_id_number(value)
    if value.isdigit() and len(value) == 11:
        return mask_mobile(value)
    return value[:1] + "*" * max(len(value) - 1, 2)


async def profile(
    session: AsyncSession, *, principal: Principal, applicant_id: str, application_ref: str | None
) -> ProfileOut:
    """An applicant's profile with provenance; audited; masked unless the applicant reads their own."""
    access.check_applicant_access(principal, applicant_id, staff=(Role.CLERK, Role.AUDITOR))
    row = await repository.get_profile(session, applicant_id)
    if row is None:
        raise NotFound("no profile for this applicant")
    await access.record_read(
        session,
        principal=principal,
        applicant_id=applicant_id,
        purpose="profile",
        application_ref=application_ref,
        subject=None,
    )
    own = principal.applicant_id == applicant_id
    cat = await publishing.compiled(session)
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
                provenance=provenance.to_model(value),
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
    access.check_applicant_access(principal, applicant_id, staff=(Role.AUDITOR,))
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
                outcome=r.outcome,
                hall=r.hall,
                department=r.department,
                service=r.service,
                at=r.at,
            )
            for r in rows
        ],
    )
