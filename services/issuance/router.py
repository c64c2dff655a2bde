"""Issuance HTTP endpoints (thin; rules live in results, delivery, library and revocation)."""

import io
from typing import Annotated, Any

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
    PickupCheckView,
    PickupCodeRequest,
    PickupCodeSent,
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


async def get_deps(request: Request) -> IssuanceDeps:
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


WRONG_HALL: dict[int | str, dict[str, Any]] = {403: {"description": "Not an issuance window of the hall where the results wait (``wrong_hall``, "
                            "with ``collect_hall``), or the clerk does not work in ``hall``"}}


@pickups.get("/{tracking_code}", dependencies=[require(Role.ISSUANCE_CLERK)], responses=WRONG_HALL)
async def scan(
    tracking_code: TrackingCode,
    session: SessionDep,
    principal: PrincipalDep,
    request: Request,
    hall: Annotated[str, Query(pattern=HALL, description="The clerk's hall.")],
) -> PickupView:
    """Scan a receipt QR at an issuance window of the hall where the results wait (for on-the-spot
    matters also the accepting hall): status and results of the application (holder masked); any other
    hall gets 403 ``wrong_hall`` naming the collection hall. Right after the decision the results are
    there on the first scan: what issuance has not received yet is read through from acceptance and
    approval (503 ``dependency_unavailable`` + Retry-After if they cannot answer then)."""
    principal.check_hall(hall)
    await readthrough.catch_up(session, request=request, tracking_code=tracking_code)
    app = await delivery.find_for_pickup(session, tracking_code=tracking_code, hall=hall, principal=principal)
    return await _pickup_view(session, app)


@pickups.post("/scan", dependencies=[require(Role.ISSUANCE_CLERK)], responses=WRONG_HALL)
async def scan_qr(body: ScanRequest, session: SessionDep, principal: PrincipalDep, request: Request) -> PickupView:
    """Scan a receipt QR as the scanner reads it (the progress URL or the bare tracking code); read
    through and limited to the collection hall like ``GET /pickups/{tracking_code}``."""
    code = delivery.tracking_code_from_qr(body.qr)
    principal.check_hall(body.hall)
    await readthrough.catch_up(session, request=request, tracking_code=code)
    app = await delivery.find_for_pickup(session, tracking_code=code, hall=body.hall, principal=principal)
    return await _pickup_view(session, app)


@pickups.post("/{tracking_code}/pickup-code", status_code=202, dependencies=[require(Role.ISSUANCE_CLERK)],
              responses=WRONG_HALL | {429: {"description": "Too many codes sent for these results in an hour"}})
async def send_pickup_code(
    tracking_code: TrackingCode, body: PickupCodeRequest, session: SessionDep, principal: PrincipalDep,
    deps: DepsDep,
) -> PickupCodeSent:
    """Send the holder a one-time 6-digit pickup code (SMS to the mobile given at acceptance, else a
    message to their account), valid ``ISSUANCE_PICKUP_CODE_TTL_SECONDS`` (10 min) and
    ``ISSUANCE_PICKUP_CODE_MAX_TRIES`` (5) wrong tries; a new code replaces the last. The answer says
    where it went (masked), never the code."""
    app, channel, recipient, expires_at = await delivery.send_pickup_code(
        session, tracking_code=tracking_code, hall=body.hall, principal=principal, deps=deps
    )
    return PickupCodeSent(application_id=app.application_id, channel=channel, recipient=recipient,
                          expires_at=expires_at)


@pickups.get("/{tracking_code}/checks", dependencies=[require(Role.ISSUANCE_CLERK, Role.AUDITOR)],
             responses=WRONG_HALL)
async def pickup_checks(
    tracking_code: TrackingCode, session: SessionDep, principal: PrincipalDep,
    hall: Annotated[str, Query(pattern=HALL, description="The clerk's hall.")],
) -> list[PickupCheckView]:
    """The pickup's identity checks and code requests: who tried what, where and when, and the outcome."""
    app = await delivery.find_for_pickup(session, tracking_code=tracking_code, hall=hall, principal=principal)
    return [PickupCheckView(method=c.method, outcome=c.outcome, hall=c.hall, clerk=c.clerk, at=c.at)
            for c in await delivery.pickup_checks(session, application_id=app.application_id)]


@pickups.post("/{tracking_code}/handover", dependencies=[require(Role.ISSUANCE_CLERK)],
              responses=WRONG_HALL | {429: {"description": "Too many failed identity checks; see Retry-After"}})
async def hand_over(
    tracking_code: TrackingCode,
    body: HandoverRequest,
    session: SessionDep,
    principal: PrincipalDep,
    deps: DepsDep,
) -> PickupView:
    """Hand the results over at the hall where they wait after checking who collects: the holder's full
    ID number / credit code, or the pickup code sent to them; exactly once (409 afterwards). A wrong one
    is a 422 on its field and is recorded; after ``ISSUANCE_PICKUP_CHECK_MAX_FAILURES`` (5) within
    ``ISSUANCE_PICKUP_CHECK_WINDOW_SECONDS`` (15 min) hand-over is 429 with Retry-After."""
    app = await delivery.hand_over(
        session,
        tracking_code=tracking_code,
        hall=body.hall,
        id_number=body.id_number,
        pickup_code=body.pickup_code,
        window=body.window,
        principal=principal,
        deps=deps,
    )
    return await _pickup_view(session, app)


@pickups.post("/{tracking_code}/transfer", dependencies=[require(Role.ISSUANCE_CLERK, Role.APPLICANT)],
              responses=WRONG_HALL)
async def transfer(
    tracking_code: TrackingCode,
    body: TransferRequest,
    session: SessionDep,
    principal: PrincipalDep,
    deps: DepsDep,
) -> PickupView:
    """Move the results to another hall's issuance window: asked for by the holder (applicant token) or
    by a clerk of the hall where they wait now (403 ``wrong_hall`` for other halls; someone else's
    results are 404 to an applicant). The target must be a known, open hall (422 on ``to_hall``)."""
    app = await delivery.transfer(
        session, tracking_code=tracking_code, to_hall=body.to_hall, principal=principal, deps=deps
    )
    return await _pickup_view(session, app)


@pickups.post("/{tracking_code}/mail", dependencies=[require(Role.ISSUANCE_CLERK)], responses=WRONG_HALL)
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
    """The full licence with its canonical text and signature: for the holder, the issuing department's
    approvers, auditors, and issuance clerks of the hall where its results wait (or were handed over);
    anyone else 404. Each read is in the holder's access log (``licence.viewed``)."""
    licence = await library.licence_for_reader(session, licence_no=licence_no, principal=principal,
                                               outbox=deps.outbox)
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
