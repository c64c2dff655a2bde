"""Forms HTTP endpoints (thin: each calls the module that owns the rule; see docs/forms.md, code map)."""

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.forms import learning, printing, profiles, publishing, reading_basis, render, validation

# aliased: the endpoint below keeps its name, prefill (and so its OpenAPI operation id)
from services.forms import prefill as prefilling
from services.forms.schemas import (
    INT32,
    NO_NUL,
    AccessLog,
    CatalogFile,
    PrefillRequest,
    PrefillResponse,
    ProfileOut,
    ProfilePage,
    ValidateRequest,
    ValidateResponse,
    VerificationRequest,
    VersionOut,
)
from shared.auth import Principal, Role, current_principal, public, require
from shared.problems import Problem, problem_response
from shared.service_app import RuntimeDep, SessionDep

PrincipalDep = Annotated[Principal, Depends(current_principal)]
VersionPath = Annotated[int, Path(ge=1, le=INT32)]
ApplicantPath = Annotated[str, Path(min_length=1, max_length=32, pattern=NO_NUL)]
CodePath = Annotated[str, Path(min_length=1, max_length=64, pattern=NO_NUL)]
RefQuery = Annotated[str | None, Query(max_length=64, pattern=NO_NUL)]

catalog = APIRouter(prefix="/catalog", tags=["catalogue"])
forms = APIRouter(tags=["prefill and forms"])
profiles_router = APIRouter(prefix="/profiles", tags=["applicant profiles"])


def _version_out(row: Any) -> VersionOut:
    content = row.content or {}
    return VersionOut(
        version=row.version,
        status=row.status,
        created_at=row.created_at,
        published_at=row.published_at,
        matters=len(content.get("matters", [])),
        bundles=len(content.get("bundles", [])),
    )


# ---- catalogue administration --------------------------------------------------------------------


@catalog.post("/versions", status_code=201, dependencies=[require(Role.CATALOG_ADMIN)])
async def create_draft(body: CatalogFile, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    """Store a catalogue file (reference format) as a new draft version; checks every cross-reference."""
    version = await publishing.create_draft(session, content=body, by=principal.sub)
    return {"version": version.version, "status": version.status}


@catalog.get("/versions", dependencies=[require(Role.CATALOG_ADMIN, Role.AUDITOR)])
async def list_versions(session: SessionDep) -> list[VersionOut]:
    """Every catalogue version with its status (draft | published)."""
    return [_version_out(v) for v in await publishing.list_versions(session)]


@catalog.get("/versions/{version}", dependencies=[require(Role.CATALOG_ADMIN, Role.AUDITOR)])
async def get_version(version: VersionPath, session: SessionDep) -> dict[str, Any]:
    """One version with its catalogue file."""
    row = await publishing.get_version(session, version=version)
    return _version_out(row).model_dump(mode="json") | {"content": row.content}


@catalog.put("/versions/{version}", dependencies=[require(Role.CATALOG_ADMIN)])
async def replace_draft(version: VersionPath, body: CatalogFile, session: SessionDep) -> VersionOut:
    """Replace a draft's catalogue file; published versions never change (409)."""
    return _version_out(await publishing.replace_draft(session, version=version, content=body))


@catalog.post("/versions/{version}/publish", dependencies=[require(Role.CATALOG_ADMIN)])
async def publish(version: VersionPath, session: SessionDep, runtime: RuntimeDep, principal: PrincipalDep) -> dict[str, Any]:
    """Publish a draft: emits catalog.* events for every matter and bundle, then catalog.version_published."""
    published = await publishing.publish(session, version=version, outbox=runtime.outbox, by=principal.sub)
    return {"version": published.version, "status": published.status}


# ---- the published catalogue (public information) -------------------------------------------------

VersionQuery = Annotated[int | None, Query(ge=1, le=INT32, description="Default: the newest published version.")]


@catalog.get("/fields", dependencies=[public()])
async def field_dictionary(session: SessionDep, version: VersionQuery = None) -> dict[str, Any]:
    """The field dictionary (表单字段库)."""
    cat = await publishing.compiled(session, version=version)
    return {"catalog_version": cat.version, "items": cat.content["fields"]}


@catalog.get("/materials", dependencies=[public()])
async def materials(session: SessionDep, version: VersionQuery = None) -> dict[str, Any]:
    """The materials library (申请材料库) with the licence type that satisfies each material."""
    cat = await publishing.compiled(session, version=version)
    return {"catalog_version": cat.version, "items": cat.content["materials"]}


@catalog.get("/matters", dependencies=[public()])
async def matters(session: SessionDep, version: VersionQuery = None) -> dict[str, Any]:
    """The matter catalogue (事项目录)."""
    cat = await publishing.compiled(session, version=version)
    return {"catalog_version": cat.version, "items": cat.content["matters"]}


@catalog.get("/bundles", dependencies=[public()])
async def bundles(session: SessionDep, version: VersionQuery = None) -> dict[str, Any]:
    """The bundles (一件事)."""
    cat = await publishing.compiled(session, version=version)
    return {"catalog_version": cat.version, "items": cat.content.get("bundles", [])}


def _form_out(cat: Any, form: Any) -> dict[str, Any]:
    return {
        "catalog_version": cat.version,
        "code": form.code,
        "name": form.name,
        "kind": form.kind,
        "department": form.department,
        "applicant_type": form.applicant_type,
        "matters": form.matters,
        "fields": [f.definition.__dict__ | {"required": f.required} for f in form.fields],
        "materials": [m.__dict__ for m in form.materials],
    }


@catalog.get("/matters/{code}/form", dependencies=[public()])
async def matter_form(code: CodePath, session: SessionDep, version: VersionQuery = None) -> dict[str, Any]:
    """The empty form of a matter: its fields in template order and its materials."""
    cat = await publishing.compiled(session, version=version)
    return _form_out(cat, publishing.form_of(cat, matter=code, bundle=None))


@catalog.get("/bundles/{code}/form", dependencies=[public()])
async def bundle_form(code: CodePath, session: SessionDep, version: VersionQuery = None) -> dict[str, Any]:
    """The empty form of a bundle: the union of its members' forms, each field and material once."""
    cat = await publishing.compiled(session, version=version)
    return _form_out(cat, publishing.form_of(cat, matter=None, bundle=code))


# ---- prefill, validation, printing ----------------------------------------------------------------


@forms.post(
    "/prefill", dependencies=[require(Role.CLERK, Role.SERVICE, Role.APPLICANT)], response_model=PrefillResponse
)
async def prefill(body: PrefillRequest, session: SessionDep, principal: PrincipalDep, request: Request) -> Response:
    """The form of a matter or bundle filled from the applicant's profile (values unmasked: the clerk fills
    the form), each value with its source and provenance; verified values are not editable; materials
    valid electronic licences satisfy are checked off. Every call is an audited read of the profile.
    A clerk names the application it is for (``application_ref``, an application of the clerk's hall for
    this applicant, confirmed with acceptance): else 403 ``no_reading_basis``, and at most
    ``FORMS_CLERK_APPLICANTS_PER_HOUR`` applicants an hour (429 ``read_budget_used``); refusals are in the
    applicant's access log."""
    await reading_basis.authorize(session, request=request, principal=principal, applicant_id=body.applicant_id,
                                  application_ref=body.application_ref, purpose="prefill",
                                  subject=body.matter or body.bundle)
    filled = await prefilling.prefill(session, principal=principal, request=body)
    return Response(orjson.dumps(filled), media_type="application/json")  # a 20 KB body: 5x faster than json


@forms.post(
    "/validate",
    dependencies=[require(Role.CLERK, Role.SERVICE, Role.APPLICANT)],
    response_model=ValidateResponse,
    responses={422: {"model": Problem, "description": "Field-level errors (problem details)"}},
)
async def validate(body: ValidateRequest, session: SessionDep, principal: PrincipalDep, request: Request) -> Any:
    """Check submitted values field by field (type, enumeration, GB 11643 / GB 32100 / mobile / e-mail);
    with ``applicant_id``, a value that alters a verified (locked) one is refused. 422 lists every field."""
    if body.applicant_id is not None:
        await reading_basis.authorize(session, request=request, principal=principal,
                                      applicant_id=body.applicant_id, application_ref=body.application_ref,
                                      purpose="validate", subject=body.matter or body.bundle)
    result, errors = await validation.validate(session, principal=principal, request=body)
    if not errors:
        return result
    # answered, not raised: the transaction (with the audit of the profile read) still commits
    return problem_response(
        Problem(
            type="https://onewindow.example/problems/unprocessable",
            title="Unprocessable content",
            status=422,
            detail=f"{len(errors)} field(s) are not acceptable",
            instance=request.url.path,
            errors=errors,
            code="unprocessable",
        )
    )


@forms.get(
    "/forms/{code}/print",
    dependencies=[require(Role.CLERK, Role.SERVICE, Role.APPLICANT)],
    response_class=HTMLResponse,
)
async def print_form(
    code: CodePath,
    session: SessionDep,
    principal: PrincipalDep,
    request: Request,
    applicant_id: Annotated[str, Query(min_length=1, max_length=32, pattern=NO_NUL)],
    application_ref: RefQuery = None,
    catalog_version: VersionQuery = None,
) -> HTMLResponse:
    """The filled application form of a matter or bundle, print-ready HTML for signature (表单自动套打). A
    clerk names the application (``application_ref``), as for ``POST /prefill``."""
    await reading_basis.authorize(session, request=request, principal=principal, applicant_id=applicant_id,
                                  application_ref=application_ref, purpose="print", subject=code)
    cat, form, filled = await printing.printable(
        session,
        principal=principal,
        code=code,
        applicant_id=applicant_id,
        application_ref=application_ref,
        catalog_version=catalog_version,
    )
    return HTMLResponse(render.render_html(cat, form, filled, application_ref=application_ref))


# ---- profiles ----------------------------------------------------------------------------------


@profiles_router.get("", dependencies=[require(Role.AUDITOR)])
async def list_profiles(
    session: SessionDep,
    applicant_type: Annotated[Literal["natural_person", "legal_person"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ProfilePage:
    """Profiles in the store, newest first: identifiers masked, value counts only (no values)."""
    return await profiles.list_profiles(session, applicant_type=applicant_type, limit=limit, offset=offset)


@profiles_router.get("/{applicant_id}", dependencies=[require(Role.CLERK, Role.AUDITOR, Role.APPLICANT)])
async def get_profile(
    applicant_id: ApplicantPath,
    session: SessionDep,
    principal: PrincipalDep,
    request: Request,
    application_ref: RefQuery = None,
) -> ProfileOut:
    """An applicant's stored values with provenance and licences; audited; masked for staff. A clerk
    names the application (``application_ref``), as for ``POST /prefill``."""
    await reading_basis.authorize(session, request=request, principal=principal, applicant_id=applicant_id,
                                  application_ref=application_ref, purpose="profile", subject=None)
    return await profiles.profile(session, principal=principal, applicant_id=applicant_id, application_ref=application_ref)


@profiles_router.post(
    "/{applicant_id}/verifications", status_code=201, dependencies=[require(Role.APPROVER, Role.SERVICE)]
)
async def verify(
    applicant_id: ApplicantPath, body: VerificationRequest, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    """A department confirms values of an applicant (department-verified: locked at the desk from now on)."""
    count = await learning.verify_values(session, principal=principal, applicant_id=applicant_id, request=body)
    return {"recorded": count}


@profiles_router.get("/{applicant_id}/access-log", dependencies=[require(Role.APPLICANT, Role.AUDITOR)])
async def access_log(
    applicant_id: ApplicantPath,
    session: SessionDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**6)] = 0,
) -> AccessLog:
    """Who read this applicant's data, in which role, for which application, when (newest first)."""
    return await profiles.access_log(session, principal=principal, applicant_id=applicant_id, limit=limit, offset=offset)


routers = [catalog, forms, profiles_router]
