"""Licence library: reading licences, their status, and verifying them (by number, QR or signed file)."""

import json
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.issuance import delivery, numbers, repository
from services.issuance.deps import IssuanceDeps
from services.issuance.models import Licence
from services.issuance.signing import canonical_json
from shared.access_log import publish_view
from shared.auth import Principal, Role
from shared.events.licences import LicenceViewed
from shared.observability import get_logger
from shared.outbox import Outbox
from shared.privacy import mask_id_number, mask_name
from shared.problems import FieldError, NotFound, Unprocessable

log = get_logger(__name__)



def checked_licence_no(text: str) -> str:
    """The formatted licence number in ``text``; 422 on ``licence_no`` for a malformed or forged one."""
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
    licence = await repository.get_licence(session, checked_licence_no(licence_no))
    if licence is None:
        raise NotFound("no licence with this number in the library")
    return licence


async def licence_for_reader(
    session: AsyncSession, *, licence_no: str, principal: Principal, outbox: Outbox
) -> Licence:
    """The full licence for its holder, its issuing department, auditors, and issuance clerks of the hall
    where its results wait (or were handed over or posted); anyone else 404 (the public check stays).
    Every read is published (``licence.viewed``) for the holder's access log."""
    licence = await licence_for_verification(session, licence_no=licence_no)
    hall = None
    allowed = (
        principal.has(Role.AUDITOR)
        or (principal.applicant_id is not None and principal.applicant_id == licence.holder_id)
        or (principal.has(Role.APPROVER) and principal.may_act_for_department(licence.issuing_department))
    )
    if not allowed and principal.has(Role.ISSUANCE_CLERK):
        app = await repository.get_application(session, licence.application_id)
        halls = [] if app is None else [*delivery.pickup_halls(app), app.collected_hall]
        hall = next((h for h in halls if h and principal.may_act_in_hall(h)), None)
        allowed = hall is not None
    if not allowed:
        raise NotFound("no licence with this number in the library")  # do not confirm it exists
    log.info(
        "licence read", licence_no=licence.licence_no, reader=principal.sub, roles=sorted(principal.roles)
    )
    await publish_view(
        session, outbox, LicenceViewed, principal=principal, applicant_id=licence.holder_id, purpose="licence",
        application_ref=licence.application_id, subject=licence.licence_no, hall=hall,
        department=licence.issuing_department if principal.has(Role.APPROVER) else None,
        correlation_id=licence.correlation_id,
    )
    return licence


async def licences_of_holder(
    session: AsyncSession, *, holder_id: str | None, principal: Principal
) -> list[Licence]:
    """Licences of one holder: an applicant gets their own; staff must name the holder (422 if not)."""
    if principal.applicant_id is not None and not principal.has(Role.ISSUANCE_CLERK, Role.AUDITOR):
        holder_id = principal.applicant_id
    if holder_id is None:
        raise Unprocessable(
            "holder_id is required", errors=[FieldError(field="holder_id", message="required for staff")]
        )
    return await repository.licences_of_holder(session, holder_id.upper())


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
