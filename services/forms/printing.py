"""The printable form (表单自动套打): a matter's or bundle's form filled for signature (render.py draws it)."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.forms import prefill, publishing
from services.forms.catalog import Compiled, Form
from services.forms.schemas import PrefillRequest
from shared.auth import Principal


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
    cat = await publishing.compiled(session, version=catalog_version)
    is_bundle = cat.form(matter=code) is None and cat.form(bundle=code) is not None
    filled = await prefill.prefill(
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
    form = publishing.form_of(cat, matter=None if is_bundle else code, bundle=code if is_bundle else None)
    return cat, form, filled
