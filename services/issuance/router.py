"""Issuance HTTP endpoints (thin; rules live in results, delivery, library and revocation)."""

import io
from typing import Annotated

import segno
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from services.issuance import delivery, library, readthrough, revocation
from services.issuance.config import IssuanceSettings
from services.issuance.deps import IssuanceDeps
from services.issuance.models import Application, Licence
from services.issuance.schemas import (
    HALL,
    DocumentCheck,
    DocumentCheckResult,
    HandoverRequest,
    LicenceSummary,
    LicenceView,
    MailRequest,
    PickupView,
    PublicKeyView,
    ResultItem,
    RevokeRequest,
    ScanRequest,
    TransferRequest,
    VerificationView,
)
from services.issuance.signing import CANONICALIZATION
from shared.auth import Principal, Role, current_principal, public, require
from shared.privacy import mask_id_number, mask_name
from shared.service_app import SessionDep


def get_deps(request: Request) -> IssuanceDeps:
    runtime = request.app.state.runtime
    settings: IssuanceSettings = runtime.settings
    return IssuanceDeps(outbox=runtime.outbox, signer=request.app.state.signer, settings=settings)


DepsDep = Annotated[IssuanceDeps, Depends(get_deps)]
PrincipalDep = Annotated[Principal, Depends(current_principal)]
TrackingCode = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{8,64}$", description="From the receipt QR.")]

router = APIRouter()
pickups = APIRouter(prefix="/pickups", tags=["pickup and delivery"])
licences = APIRouter(prefix="/licences", tags=["licence library"])
verify = APIRouter(prefix="/verify", tags=["public verification"])


async def _pickup_view(session: SessionDep, app: Application) -> PickupView:
    results = await delivery.results_of(session, application_id=app.application_id)
    person = app.applicant_type == "natural_person"
    return PickupView(
        application_id=app.application_id,
        application_no=app.application_no,
        status=app.status,
        collect_hall=app.collect_hall,
        accepting_hall=app.hall,
        on_the_spot=app.on_the_spot,
        holder_type=app.applicant_type,
        holder_name=mask_name(app.applicant_name) if person else app.applicant_name,
        holder_id=mask_id_number(app.applicant_id),
        items=[
            ResultItem(
                item_id=r.item_id,
                matter_code=r.matter_code,
                matter_name=r.matter_name,
                department=r.department,
                decision=r.decision,
                kind=r.kind,
                document_no=r.document_no,
                reason=r.reason if r.decision != "approved" else None,
            )
            for r in results
        ],
        ready_at=app.ready_at,
        collected_at=app.collected_at,
        collected_hall=app.collected_hall,
        delivery_method=app.delivery_method,
        mail_tracking_no=app.mail_tracking_no,
        correlation_id=app.correlation_id,
    )


@pickups.get("/{tracking_code}", dependencies=[require(Role.ISSUANCE_CLERK)])
async def scan(
    tracking_code: TrackingCode,
    session: SessionDep,
    principal: PrincipalDep,
    request: Request,
    hall: Annotated[str, Query(pattern=HALL, description="The clerk's hall.")],
) -> PickupView:
    """Scan a receipt QR at an issuance window: status and results of the application (holder masked).
    Right after the decision the results are there on the first scan: what issuance has not received yet
    is read through from acceptance and approval (503 ``dependency_unavailable`` + Retry-After if they
    cannot answer then)."""
    principal.check_hall(hall)
    await readthrough.catch_up(session, request=request, tracking_code=tracking_code)
    app = await delivery.find_for_pickup(session, tracking_code=tracking_code, hall=hall, principal=principal)
    return await _pickup_view(session, app)


@pickups.post("/scan", dependencies=[require(Role.ISSUANCE_CLERK)])
async def scan_qr(body: ScanRequest, session: SessionDep, principal: PrincipalDep, request: Request) -> PickupView:
    """Scan a receipt QR as the scanner reads it (the progress URL or the bare tracking code); read
    through like ``GET /pickups/{tracking_code}``."""
    code = delivery.tracking_code_from_qr(body.qr)
    principal.check_hall(body.hall)
    await readthrough.catch_up(session, request=request, tracking_code=code)
    app = await delivery.find_for_pickup(session, tracking_code=code, hall=body.hall, principal=principal)
    return await _pickup_view(session, app)


@pickups.post("/{tracking_code}/handover", dependencies=[require(Role.ISSUANCE_CLERK)])
async def hand_over(
    tracking_code: TrackingCode,
    body: HandoverRequest,
    session: SessionDep,
    principal: PrincipalDep,
    deps: DepsDep,
) -> PickupView:
    """Hand the results over after checking the collector's identity; exactly once (409 afterwards)."""
    app = await delivery.hand_over(
        session,
        tracking_code=tracking_code,
        hall=body.hall,
        id_check=body.id_check,
        window=body.window,
        principal=principal,
        deps=deps,
    )
    return await _pickup_view(session, app)


@pickups.post("/{tracking_code}/transfer", dependencies=[require(Role.ISSUANCE_CLERK)])
async def transfer(
    tracking_code: TrackingCode,
    body: TransferRequest,
    session: SessionDep,
    principal: PrincipalDep,
    deps: DepsDep,
) -> PickupView:
    """Move the results to another hall's issuance window (clerk of the current or the new hall)."""
    app = await delivery.transfer(
        session, tracking_code=tracking_code, to_hall=body.to_hall, principal=principal, deps=deps
    )
    return await _pickup_view(session, app)


@pickups.post("/{tracking_code}/mail", dependencies=[require(Role.ISSUANCE_CLERK)])
async def mail(
    tracking_code: TrackingCode,
    body: MailRequest,
    session: SessionDep,
    principal: PrincipalDep,
    deps: DepsDep,
) -> PickupView:
    """Post the results with a tracking number instead of a pickup; exactly once."""
    app = await delivery.mail(
        session,
        tracking_code=tracking_code,
        hall=body.hall,
        carrier=body.carrier,
        tracking_no=body.tracking_no,
        address=body.address,
        principal=principal,
        deps=deps,
    )
    return await _pickup_view(session, app)


@licences.get("/public-key", dependencies=[public(rate_limited=False)])
async def public_key(deps: DepsDep) -> PublicKeyView:
    """The Ed25519 public key licences are signed with, and how the signed bytes are formed."""
    signer = deps.signer
    return PublicKeyView(
        key_id=signer.kid,
        public_key_pem=signer.public_pem(),
        jwk=signer.jwk(),
        keys=signer.jwks(),
        canonicalization=CANONICALIZATION,
    )


def _licence_view(licence: Licence, deps: IssuanceDeps) -> LicenceView:
    return LicenceView(
        licence_no=licence.licence_no,
        licence_type=licence.licence_type,
        licence_type_name=licence.licence_type_name,
        holder_type=licence.holder_type,
        holder_id=licence.holder_id,
        holder_name=licence.holder_name,
        issuing_department=licence.issuing_department,
        valid_from=licence.valid_from,
        valid_until=licence.valid_until,
        data=licence.data,
        status=library.effective_status(licence, deps.today()),
        issued_at=licence.issued_at,
        revoked_at=licence.revoked_at,
        revocation_reason=licence.revocation_reason,
        canonical=licence.canonical,
        signature=licence.signature,
        key_id=licence.key_id,
        qr_payload=library.qr_payload(licence, deps),
        correlation_id=licence.correlation_id,
    )


@licences.get("", dependencies=[require(Role.APPLICANT, Role.ISSUANCE_CLERK, Role.AUDITOR)])
async def list_licences(
    session: SessionDep,
    principal: PrincipalDep,
    deps: DepsDep,
    holder_id: Annotated[str | None, Query(pattern=r"^[0-9A-Za-z]{15,18}$")] = None,
) -> list[LicenceSummary]:
    """Licences of one holder: applicants see their own; staff name the holder (masked in the list)."""
    held = await library.licences_of_holder(session, holder_id=holder_id, principal=principal)
    return [
        LicenceSummary(
            licence_no=lic.licence_no,
            licence_type=lic.licence_type,
            licence_type_name=lic.licence_type_name,
            holder_name=mask_name(lic.holder_name)
            if lic.holder_type == "natural_person"
            else lic.holder_name,
            holder_id=mask_id_number(lic.holder_id),
            status=library.effective_status(lic, deps.today()),
            valid_from=lic.valid_from,
            valid_until=lic.valid_until,
            correlation_id=lic.correlation_id,
        )
        for lic in held
    ]


@licences.get(
    "/{licence_no}", dependencies=[require(Role.APPLICANT, Role.ISSUANCE_CLERK, Role.AUDITOR, Role.APPROVER)]
)
async def get_licence(
    licence_no: str, session: SessionDep, principal: PrincipalDep, deps: DepsDep
) -> LicenceView:
    """The full licence with its canonical text and signature (holder, issuing department, staff)."""
    licence = await library.licence_for_reader(session, licence_no=licence_no, principal=principal)
    return _licence_view(licence, deps)


@licences.post("/{licence_no}/revoke", dependencies=[require(Role.APPROVER)])
async def revoke(
    licence_no: str, body: RevokeRequest, session: SessionDep, principal: PrincipalDep, deps: DepsDep
) -> LicenceView:
    """Revoke a licence of the caller's department with a reason (visible in verification)."""
    licence = await revocation.revoke_licence(
        session, licence_no=licence_no, reason=body.reason, principal=principal, deps=deps
    )
    return _licence_view(licence, deps)


@verify.get("/{licence_no}", dependencies=[public()])
async def verify_licence(licence_no: str, session: SessionDep, deps: DepsDep) -> VerificationView:
    """Public check by licence number (what the licence QR opens): status, masked holder, signature check."""
    licence = await library.licence_for_verification(session, licence_no=licence_no)
    return VerificationView(**library.verification_view(licence, deps))


@verify.get("/{licence_no}/qr.svg", dependencies=[public()], response_class=Response)
async def verify_qr(licence_no: str, session: SessionDep, deps: DepsDep) -> Response:
    """The QR code (SVG) printed on the licence: it encodes the public verification URL."""
    licence = await library.licence_for_verification(session, licence_no=licence_no)
    buffer = io.BytesIO()
    segno.make(library.qr_payload(licence, deps), error="m").save(buffer, kind="svg", scale=4)
    return Response(buffer.getvalue(), media_type="image/svg+xml")


@verify.post("/document", dependencies=[public()])
async def verify_document(body: DocumentCheck, session: SessionDep, deps: DepsDep) -> DocumentCheckResult:
    """Check a licence file (canonical text + signature) against the published key, and its status."""
    return DocumentCheckResult(
        **await library.check_document(session, canonical=body.canonical, signature=body.signature, deps=deps)
    )


router.include_router(pickups)
router.include_router(licences)
router.include_router(verify)
