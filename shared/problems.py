"""RFC 9457 problem details for every error, field-level for validation errors."""

from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

PROBLEM_JSON = "application/problem+json"


class FieldError(BaseModel):
    """One invalid field: where it is and why it is wrong."""

    field: str
    message: str
    type: str = "value_error"


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None
    code: str | None = None


class DomainError(Exception):
    """A business-rule error that knows its HTTP status and a stable code."""

    status = 400
    code = "bad_request"
    title = "Bad request"
    # True: the request's transaction commits although this error is its answer, because what the
    # request wrote before refusing must stay (a failed identity check, a refused read on the access log)
    keeps_writes = False

    def __init__(
        self, detail: str, *, errors: list[FieldError] | None = None, retry_after: int | None = None, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.retry_after = retry_after  # seconds, sent as Retry-After: the answer may differ then
        self.extra = extra


class NotFound(DomainError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(DomainError):
    status, code, title = 409, "conflict", "Conflict"


class Unprocessable(DomainError):
    status, code, title = 422, "unprocessable", "Unprocessable content"


class Forbidden(DomainError):
    status, code, title = 403, "forbidden", "Forbidden"


class DependencyUnavailable(DomainError):
    """503: another service this answer depends on cannot answer now; retry after ``retry_after`` s."""

    status, code, title = 503, "dependency_unavailable", "Dependency unavailable"


def problem_response(problem: Problem, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body = problem.model_dump(exclude_none=True) | extra
    return JSONResponse(body, status_code=problem.status, media_type=PROBLEM_JSON, headers=headers)


def _loc_to_field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or ".".join(str(p) for p in loc)


def install_problem_handlers(app: FastAPI) -> None:
    """Turn validation errors, HTTP errors and domain errors into problem details."""

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            FieldError(field=_loc_to_field(tuple(e.get("loc", ()))), message=e.get("msg", ""), type=e.get("type", ""))
            for e in exc.errors()
        ]
        return problem_response(
            Problem(
                type="https://onewindow.example/problems/validation",
                title="Invalid request",
                status=422,
                detail="; ".join(f"{e.field}: {e.message}" for e in errors)[:1000],
                instance=request.url.path,
                errors=errors,
                code="validation_error",
            )
        )

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        return problem_response(
            Problem(title=str(exc.detail) if exc.status_code < 500 else "Server error", status=exc.status_code,
                    detail=str(exc.detail), instance=request.url.path),
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        return problem_response(
            Problem(
                type=f"https://onewindow.example/problems/{exc.code}",
                title=exc.title,
                status=exc.status,
                detail=exc.detail,
                instance=request.url.path,
                errors=exc.errors,
                code=exc.code,
            ),
            headers={"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None,
            **exc.extra,
        )

    from sqlalchemy.exc import DBAPIError

    @app.exception_handler(DBAPIError)
    async def _database_rejected_value(request: Request, exc: DBAPIError) -> JSONResponse:
        """A value PostgreSQL cannot hold (NUL character, integer or date out of range) is the client's 422."""
        if _is_connection_error(exc):
            return _database_unavailable(request)
        if not _is_data_error(exc):
            raise exc  # anything else stays a server error, logged with its traceback
        return problem_response(
            Problem(
                type="https://onewindow.example/problems/validation",
                title="Invalid request",
                status=422,
                detail="a value is out of range or contains characters that cannot be stored (e.g. NUL)",
                instance=request.url.path,
                code="validation_error",
            )
        )

    @app.exception_handler(OverflowError)
    async def _date_overflow(request: Request, exc: OverflowError) -> JSONResponse:
        """A backstop for dates at the calendar's edge (``date.max + 1 day``): the input was out of range.
        Routes type their dates with ``shared.validators.SaneDate`` so the answer is field-level first."""
        return problem_response(
            Problem(
                title="Unprocessable Content",
                status=422,
                detail="a date or number is out of range",
                instance=request.url.path,
                code="validation_error",
            )
        )

    @app.exception_handler(OSError)
    async def _database_unreachable(request: Request, exc: OSError) -> JSONResponse:
        """The driver could not reach PostgreSQL (socket gone, refused, reset): an outage, not a bug."""
        if not _is_connection_error(exc):
            raise exc
        return _database_unavailable(request)

    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(StarletteHTTPException)
    async def _starlette_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(
            Problem(title=str(exc.detail), status=exc.status_code, instance=request.url.path),
            headers=getattr(exc, "headers", None),
        )


def _database_unavailable(request: Request) -> JSONResponse:
    return problem_response(
        Problem(
            type="https://onewindow.example/problems/database_unavailable",
            title="Service temporarily unavailable",
            status=503,
            detail="the database cannot be reached; nothing was changed, try again shortly",
            instance=request.url.path,
            code="database_unavailable",
        ),
        headers={"Retry-After": "5"},
    )


def _is_connection_error(exc: BaseException) -> bool:
    """True if the failure is reaching PostgreSQL rather than the statement: refused or reset sockets, a
    unix socket that is gone (server stopped), a connection closed under the query, a server starting up."""
    import asyncpg
    from sqlalchemy.exc import DBAPIError

    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return False
        if isinstance(seen, DBAPIError) and seen.connection_invalidated:
            return True
        if isinstance(seen, ConnectionError | asyncpg.exceptions.ConnectionDoesNotExistError
                      | asyncpg.exceptions.CannotConnectNowError | asyncpg.exceptions.ConnectionFailureError):
            return True
        if isinstance(seen, OSError) and _raised_in(seen, "/asyncpg/"):  # e.g. the unix socket is gone
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


def _raised_in(exc: BaseException, package: str) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        if package in tb.tb_frame.f_code.co_filename:
            return True
        tb = tb.tb_next
    return False


def _is_data_error(exc: BaseException) -> bool:
    """True if the driver refused a parameter value (SQLSTATE class 22, or asyncpg's own range checks)."""
    import asyncpg

    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return False
        if isinstance(seen, asyncpg.exceptions.DataError):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False
