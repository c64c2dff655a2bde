"""Identity HTTP endpoints: JWKS, OIDC discovery, staff login, applicant one-time codes, audit log."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from services.identity import applicants, audit_log, repository, staff
from services.identity.schemas import (
    CodeLogin,
    CodeRequest,
    CodeSent,
    Me,
    Revocations,
    SecurityEventPage,
    SecurityEventRead,
    StaffLogin,
    TokenResponse,
    TokensRevoked,
    Unlocked,
)
from shared.auth import Principal, Role, client_ip, public, require
from shared.problems import Problem, problem_response
from shared.service_app import SessionDep

router = APIRouter(tags=["identity"])

_REFUSED: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "Wrong credentials or code"},
    429: {"model": Problem, "description": "Locked out or throttled; see Retry-After"},
}


def _refused(request: Request, refusal: audit_log.Refusal) -> JSONResponse:
    headers = {"Retry-After": str(refusal.retry_after)} if refusal.retry_after else None
    if refusal.status == 401:
        headers = (headers or {}) | {"WWW-Authenticate": "Bearer"}
    request.state.audited = True  # the service wrote login_failed / login_locked itself
    return problem_response(
        Problem(
            title=refusal.detail, status=refusal.status, detail=refusal.detail, instance=request.url.path
        ),
        headers=headers,
    )


@router.get(
    "/.well-known/jwks.json", dependencies=[public(rate_limited=False)], summary="Public signing keys"
)
async def jwks(request: Request) -> dict[str, Any]:
    """The JSON Web Key Set every service verifies tokens against."""
    return request.app.state.issuer.key.jwks()


@router.get(
    "/.well-known/openid-configuration", dependencies=[public(rate_limited=False)], summary="OIDC discovery"
)
async def discovery(request: Request) -> dict[str, Any]:
    """OpenID Connect discovery document of the embedded issuer."""
    settings = request.app.state.runtime.settings
    base = str(request.base_url).rstrip("/")
    return {
        "issuer": settings.auth_issuer,
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "token_endpoint": f"{base}/auth/login",
        "userinfo_endpoint": f"{base}/auth/me",
        "response_types_supported": ["token"],
        "grant_types_supported": ["password", "urn:onewindow:grant-type:sms-otp"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "token_endpoint_auth_methods_supported": ["none"],
        "claims_supported": [
            "iss",
            "aud",
            "exp",
            "iat",
            "nbf",
            "sub",
            "jti",
            "name",
            "roles",
            "halls",
            "departments",
        ],
    }


@router.post(
    "/auth/login",
    dependencies=[public()],
    response_model=TokenResponse,
    responses=_REFUSED,
    summary="Staff login",
)
async def login(body: StaffLogin, request: Request, session: SessionDep) -> Any:
    """Staff and device accounts: username and password for a bearer token with roles, halls, departments."""
    result = await staff.login_staff(
        session,
        settings=request.app.state.runtime.settings,
        issuer=request.app.state.issuer,
        accounts=request.app.state.staff,
        username=body.username,
        password=body.password,
        client_ip=client_ip(request),
    )
    return _refused(request, result) if isinstance(result, audit_log.Refusal) else result


# a hall admin acting on a staff account (unlock, revoke its tokens)
StaffUsername = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._@-]+$")]
_ADMIN_REFUSALS: dict[int | str, dict[str, Any]] = {
    403: {"description": "Not an account of the admin's halls"}, 404: {"description": "No such account"},
}


@router.post(
    "/auth/staff/{username}/unlock",
    response_model=Unlocked,
    summary="Lift a staff account's lock-out",
    responses=_ADMIN_REFUSALS,
)
async def unlock_staff(
    username: StaffUsername,
    request: Request,
    session: SessionDep,
    principal: Annotated[Principal, require(Role.HALL_ADMIN)],
) -> Unlocked:
    """A hall admin lifts every lock-out of an account of their halls (all addresses): failed logins
    before now stop counting. Audited (``login_unlocked``, with the admin)."""
    account = await staff.unlock(session, accounts=request.app.state.staff, username=username, admin=principal,
                                 client_ip=client_ip(request))
    return Unlocked(username=account.username, unlocked_by=principal.sub)


@router.post(
    "/auth/staff/{username}/revoke-tokens",
    response_model=TokensRevoked,
    summary="Void every token of a staff account",
    responses=_ADMIN_REFUSALS,
)
async def revoke_staff_tokens(
    username: StaffUsername,
    request: Request,
    session: SessionDep,
    principal: Annotated[Principal, require(Role.HALL_ADMIN)],
) -> TokensRevoked:
    """A hall admin voids every token issued so far to an account of their halls (a lost pad, a staff
    member who left mid-shift); services refuse them within ``AUTH_REVOCATION_POLL_SECONDS``."""
    account, before = await staff.revoke_account_tokens(
        session, accounts=request.app.state.staff, username=username, admin=principal, client_ip=client_ip(request))
    return TokensRevoked(subject=account.username, revoked_before=before)


@router.post("/auth/logout", response_model=TokensRevoked, summary="Log out: void the caller's tokens")
async def logout(
    request: Request, session: SessionDep, principal: Annotated[Principal, require(*list(Role))]
) -> TokensRevoked:
    """Void every token of the caller issued so far (this one included), at every service."""
    before = await staff.revoke_tokens(session, sub=principal.sub, by=principal.sub, client_ip=client_ip(request),
                                       reason="logout")
    return TokensRevoked(subject=principal.sub, revoked_before=before)


@router.get("/auth/revocations", dependencies=[public(rate_limited=False)], response_model=Revocations,
            summary="Revoked tokens (for services)")
async def revocations(request: Request, session: SessionDep) -> Revocations:
    """Per subject (SHA-256 of the token's ``sub``), the unix time up to which its tokens are void; only
    revocations newer than the longest token lifetime. Services poll it like the JWKS."""
    settings = request.app.state.runtime.settings
    horizon = datetime.now(UTC) - timedelta(seconds=max(settings.staff_token_ttl_seconds, 24 * 3600))
    rows = await repository.revocations_since(session, horizon)
    return Revocations(subjects={r.subject_hash: int(r.revoked_before.timestamp()) for r in rows})


@router.post(
    "/auth/applicant/code",
    status_code=202,
    dependencies=[public()],
    response_model=CodeSent,
    responses={429: _REFUSED[429]},
    summary="Send a one-time code",
)
async def send_code(body: CodeRequest, request: Request, session: SessionDep) -> Any:
    """Sends a code by SMS if the mobile number was given on an accepted application of this applicant.

    The answer is the same whether or not a code was sent, so the endpoint cannot be used to find
    out which numbers belong to whom.
    """
    result = await applicants.request_code(
        session,
        settings=request.app.state.runtime.settings,
        issuer=request.app.state.issuer,
        sender=request.app.state.code_sender,
        id_number=body.id_number,
        mobile=body.mobile,
        client_ip=client_ip(request),
    )
    if isinstance(result, audit_log.Refusal):
        return _refused(request, result)
    return JSONResponse(result.model_dump(), status_code=202)


@router.post(
    "/auth/applicant/token",
    dependencies=[public()],
    response_model=TokenResponse,
    responses=_REFUSED,
    summary="Applicant login with a one-time code",
)
async def applicant_token(body: CodeLogin, request: Request, session: SessionDep) -> Any:
    """Exchange the code for an applicant token that sees only the applicant's own records."""
    result = await applicants.login_applicant(
        session,
        settings=request.app.state.runtime.settings,
        issuer=request.app.state.issuer,
        challenge_id=body.challenge_id,
        id_number=body.id_number,
        mobile=body.mobile,
        code=body.code,
        client_ip=client_ip(request),
    )
    return _refused(request, result) if isinstance(result, audit_log.Refusal) else result


@router.get("/auth/me", response_model=Me, summary="Who am I")
async def me(principal: Annotated[Principal, require(*list(Role))]) -> Me:
    """The verified claims of the caller's token."""
    return Me(
        sub=principal.sub,
        name=principal.name,
        staff_no=principal.staff_no,
        unit=principal.unit,
        roles=sorted(principal.roles),
        halls=sorted(principal.halls),
        departments=sorted(principal.departments),
    )


@router.get(
    "/auth/security-events",
    response_model=SecurityEventPage,
    dependencies=[require(Role.AUDITOR)],
    summary="Security audit log",
)
async def security_events(
    session: SessionDep,
    action: Annotated[str | None, Query(max_length=40)] = None,
    before_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> SecurityEventPage:
    """Logins, failed logins, lock-outs and codes sent, newest first (subjects masked)."""
    rows, next_before = await audit_log.list_events(session, action=action, before_id=before_id, limit=limit)
    return SecurityEventPage(
        items=[SecurityEventRead.model_validate(r, from_attributes=True) for r in rows],
        next_before_id=next_before,
    )
