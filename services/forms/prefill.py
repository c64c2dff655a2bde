"""Prefill: the form of a matter or bundle filled from the applicant's profile, with provenance; audited."""

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from services.forms import access, provenance, publishing, repository
from services.forms.catalog import identity_values
from services.forms.schemas import PrefillRequest
from shared.auth import Principal

SHANGHAI = ZoneInfo("Asia/Shanghai")


def today() -> date:
    """Today in the halls' time zone (a licence is valid by the calendar date there)."""
    return datetime.now(SHANGHAI).date()


async def prefill(
    session: AsyncSession, *, principal: Principal, request: PrefillRequest, purpose: str = "prefill"
) -> dict[str, Any]:
    """The form of a matter or bundle filled from the applicant's profile, with provenance; audited.

    Returns the JSON-ready shape of ``PrefillResponse`` as plain dicts (the hot path: no model per field).
    """
    access.check_applicant_access(principal, request.applicant_id)
    applicant_type = access.check_applicant_id(request.applicant_id)
    cat = await publishing.compiled(session, version=request.catalog_version)
    form = publishing.form_of(cat, matter=request.matter, bundle=request.bundle)
    # a profile holds at most a few hundred keys: reading all of it beats a 50-item IN list
    stored = await repository.current_values(session, applicant_id=request.applicant_id)
    identity = identity_values(request.applicant_id, applicant_type)
    licences = await repository.valid_licences(session, holder_id=request.applicant_id, on=today())
    await access.record_read(
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
        out: dict[str, Any] = {
            "key": d.key,
            "label_zh": d.label_zh,
            "label_en": d.label_en,
            "type": d.type,
            "required": tf.required,
        }
        if d.key in identity:
            out |= {
                "value": identity[d.key],
                "source": provenance.IDENTITY,
                "verified": True,
                "editable": False,
                "provenance": provenance.to_dict(None),
            }
        elif (row := stored.get(d.key)) is not None:
            out |= {
                "value": row.value,
                "source": row.source,
                "verified": row.verified,
                "editable": not row.verified,
                "provenance": provenance.to_dict(row),
            }
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
